import { useEffect, useState } from "preact/hooks";
import { SEVERITIES, valueLabel } from "../components/labels";
import { MultiSelect } from "../components/MultiSelect";
import { t } from "../i18n";
import type { RuleSummary } from "../rules/model";
import { RANGES, type QueueView, type Range } from "./queue";
import { STATUSES } from "./types";

/** Text typed into a filter is applied once typing pauses, not per keystroke. */
function DebouncedInput({
  value,
  label,
  placeholder,
  onCommit,
}: {
  value: string;
  label: string;
  placeholder?: string;
  onCommit: (value: string) => void;
}) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return;
    const timer = setTimeout(() => onCommit(text), 300);
    return () => clearTimeout(timer);
  }, [text]);
  return (
    <input
      type="search"
      aria-label={label}
      placeholder={placeholder ?? label}
      value={text}
      onInput={(event) => setText(event.currentTarget.value)}
      onKeyDown={(event) => event.key === "Enter" && onCommit(text)}
    />
  );
}

export function QueueFilters({
  view,
  rules,
  onChange,
}: {
  view: QueueView;
  rules: RuleSummary[];
  onChange: (change: Partial<QueueView>) => void;
}) {
  return (
    <div class="filters" role="search" aria-label={t("incidents.filters")}>
      <DebouncedInput value={view.text} label={t("incidents.filter.text")} onCommit={(text) => onChange({ text })} />
      <MultiSelect
        label={t("common.status")}
        options={STATUSES}
        selected={view.status}
        optionLabel={(status) => valueLabel("status", status)}
        onChange={(status) => onChange({ status })}
      />
      <MultiSelect
        label={t("common.severity")}
        options={SEVERITIES}
        selected={view.severity}
        optionLabel={(severity) => valueLabel("severity", severity)}
        onChange={(severity) => onChange({ severity })}
      />
      {!view.unassigned && (
        <DebouncedInput value={view.owner} label={t("incidents.filter.owner")} onCommit={(owner) => onChange({ owner })} />
      )}
      <label class="inline">
        <input
          type="checkbox"
          checked={view.unassigned}
          onChange={(event) => onChange({ unassigned: event.currentTarget.checked })}
        />
        {t("incidents.filter.unassigned")}
      </label>
      <select
        aria-label={t("incidents.filter.rule")}
        value={view.rule}
        onChange={(event) => onChange({ rule: event.currentTarget.value })}
      >
        <option value="">{t("incidents.filter.anyRule")}</option>
        {rules.map((rule) => (
          <option key={rule.id} value={rule.id}>
            {rule.name}
          </option>
        ))}
      </select>
      <select
        aria-label={t("incidents.filter.range")}
        value={view.range}
        onChange={(event) => onChange({ range: event.currentTarget.value as Range })}
      >
        {RANGES.map((range) => (
          <option key={range} value={range}>
            {t(`incidents.range.${range}`)}
          </option>
        ))}
      </select>
    </div>
  );
}
