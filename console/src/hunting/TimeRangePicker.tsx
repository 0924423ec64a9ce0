import { useId, useState } from "preact/hooks";
import { t } from "../i18n";
import { formatInterval, parseInterval, PRESETS, toLocalInput } from "./timeRange";

interface TimeRangePickerProps {
  /** ISO 8601: a duration ending now, or `start/end`. */
  value: string;
  onChange: (timespan: string) => void;
}

const CUSTOM = "custom";

export function TimeRangePicker({ value, onChange }: TimeRangePickerProps) {
  const id = useId();
  const interval = parseInterval(value);
  const [custom, setCustom] = useState(interval !== null);
  const [from, setFrom] = useState(() => toLocalInput(interval?.from ?? new Date(Date.now() - 86_400_000)));
  const [to, setTo] = useState(() => toLocalInput(interval?.to ?? new Date()));
  const known = PRESETS.some((p) => p.timespan === value);
  const fromDate = new Date(from);
  const toDate = new Date(to);
  const valid = !Number.isNaN(fromDate.getTime()) && !Number.isNaN(toDate.getTime()) && fromDate < toDate;

  return (
    <div class="hunt-time">
      <label for={id} class="visually-hidden">
        {t("hunting.timeRange")}
      </label>
      <select
        id={id}
        title={t("hunting.timeRange")}
        value={custom ? CUSTOM : value}
        onChange={(e) => {
          const next = e.currentTarget.value;
          setCustom(next === CUSTOM);
          if (next !== CUSTOM) onChange(next);
        }}
      >
        {PRESETS.map((p) => (
          <option key={p.timespan} value={p.timespan}>
            {t(p.label)}
          </option>
        ))}
        {/* A relative range from a link that is not a preset still shows what it is. */}
        {!known && !interval && <option value={value}>{value}</option>}
        <option value={CUSTOM}>{t("hunting.time.custom")}</option>
      </select>
      {custom && (
        <>
          <input
            type="datetime-local"
            aria-label={t("hunting.time.from")}
            value={from}
            onInput={(e) => setFrom(e.currentTarget.value)}
          />
          <input
            type="datetime-local"
            aria-label={t("hunting.time.to")}
            value={to}
            aria-invalid={!valid}
            onInput={(e) => setTo(e.currentTarget.value)}
          />
          <button
            type="button"
            class="btn"
            disabled={!valid}
            onClick={() => onChange(formatInterval({ from: fromDate, to: toDate }))}
          >
            {t("hunting.time.apply")}
          </button>
        </>
      )}
    </div>
  );
}
