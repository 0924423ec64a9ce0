import type { ComponentChildren } from "preact";
import { useEffect, useId, useMemo, useState } from "preact/hooks";
import type { QueryTable } from "../hunting/query";
import { toLocalInput } from "../hunting/timeRange";
import { t } from "../i18n";
import { useWorkbook } from "./context";
import type { ParameterDef, ParametersContent, TimeContext, WorkbookItem } from "./model";
import type { Choice, ParamEntry, ParamValue, Special } from "./params";
import {
  criteriaValue,
  fromChoices,
  isLogsQuery,
  isMulti,
  jsonChoices,
  multiValue,
  ParamType,
  specialEntry,
  specialKey,
  specialOptions,
  textValue,
} from "./params";
import { DEFAULT_RANGES, isAbsolute, rangeLabel } from "./timeParam";
import { MissingTable, OtherSource } from "./Unsupported";
import { useWorkbookQuery } from "./useWorkbookQuery";

/** A row of parameter controls. */
export function ParametersItem({ item }: { item: WorkbookItem }) {
  const definitions = (item.content as ParametersContent).parameters ?? [];
  // Azure's subscription and workspace pickers both become Vigil's workspace picker: one is enough.
  const hasWorkspace = definitions.some((d) => d.type === ParamType.resource);
  const shown = definitions.filter(
    (d) => d.name && !d.isHiddenWhenLocked && !(hasWorkspace && d.type === ParamType.subscription),
  );
  return (
    <div class="wb-params">
      {shown.map((def) => (
        <ParamControl key={def.id ?? def.name} def={def} />
      ))}
    </div>
  );
}

function ParamControl({ def }: { def: ParameterDef }) {
  switch (def.type) {
    case ParamType.timeRange:
      return <TimeRangeParam def={def} />;
    case ParamType.dropdown:
      return def.query ? <QueryDropdown def={def} /> : <Dropdown def={def} choices={jsonChoices(def.jsonData)} />;
    case ParamType.text:
      if (def.criteriaData) return <CriteriaParam def={def} />;
      // A text box filled by a query of another source (Resource Graph): said plainly, left editable.
      if (def.query && !isLogsQuery(def.queryType)) {
        return (
          <div class="wb-param-with-notice">
            <TextParam def={def} />
            <OtherSource queryType={def.queryType} />
          </div>
        );
      }
      return <TextParam def={def} />;
    case ParamType.options:
      return <OptionsParam def={def} />;
    case ParamType.resource:
    case ParamType.subscription:
      return <WorkspaceParam def={def} />;
    default:
      return (
        <Field def={def}>
          {() => <span class="wb-unsupported">{t("workbooks.unsupportedParam", { type: def.type })}</span>}
        </Field>
      );
  }
}

/** A labelled control; the label's `for` is handed to the control. */
function Field({ def, children }: { def: ParameterDef; children: (id: string) => ComponentChildren }) {
  const id = useId();
  return (
    <div class="wb-param" title={def.description}>
      <label for={id}>
        {def.label ?? def.name}
        {def.isRequired && <span class="wb-required" aria-hidden="true"> *</span>}
      </label>
      {children(id)}
    </div>
  );
}

/** The parameter's value and a setter that keeps its `required` flag (a set value is no longer unset). */
function useParam(def: ParameterDef): [ParamValue | undefined, (value: ParamValue) => void, ParamEntry | undefined] {
  const { params, setParam } = useWorkbook();
  const entry = params[def.name];
  return [entry?.value, (value) => setParam(def.name, { value, required: def.isRequired === true }), entry];
}

const CUSTOM = "custom";

function TimeRangeParam({ def }: { def: ParameterDef }) {
  const [value, set] = useParam(def);
  const range = value?.kind === "time" ? value.range : undefined;
  const choices = def.typeSettings?.selectableValues?.length ? def.typeSettings.selectableValues : DEFAULT_RANGES;
  const [custom, setCustom] = useState(!!range && isAbsolute(range));
  const known = range && !isAbsolute(range) && choices.some((c) => c.durationMs === range.durationMs);
  return (
    <Field def={def}>
      {(id) => (
        <div class="wb-time">
          <select
            id={id}
            value={custom ? CUSTOM : String(range?.durationMs ?? "")}
            onChange={(e) => {
              const next = e.currentTarget.value;
              setCustom(next === CUSTOM);
              if (next !== CUSTOM) set({ kind: "time", range: { durationMs: Number(next) } });
            }}
          >
            {choices.map((c) => (
              <option key={c.durationMs} value={String(c.durationMs)}>
                {rangeLabel(c)}
              </option>
            ))}
            {range && !known && !custom && <option value={String(range.durationMs)}>{rangeLabel(range)}</option>}
            {def.typeSettings?.allowCustom !== false && <option value={CUSTOM}>{t("workbooks.time.custom")}</option>}
          </select>
          {custom && <CustomRange range={range} onApply={(r) => set({ kind: "time", range: r })} />}
        </div>
      )}
    </Field>
  );
}

function CustomRange({ range, onApply }: { range?: TimeContext; onApply: (range: TimeContext) => void }) {
  const now = Date.now();
  const [from, setFrom] = useState(() => toLocalInput(new Date(range?.startTime ?? now - 86_400_000)));
  const [to, setTo] = useState(() => toLocalInput(new Date(range?.endTime ?? now)));
  const start = new Date(from);
  const end = new Date(to);
  const valid = start < end;
  return (
    <>
      <input
        type="datetime-local"
        aria-label={t("workbooks.time.from")}
        value={from}
        onInput={(e) => setFrom(e.currentTarget.value)}
      />
      <input
        type="datetime-local"
        aria-label={t("workbooks.time.to")}
        aria-invalid={!valid}
        value={to}
        onInput={(e) => setTo(e.currentTarget.value)}
      />
      <button
        type="button"
        class="btn"
        disabled={!valid}
        onClick={() =>
          onApply({
            durationMs: end.getTime() - start.getTime(),
            startTime: start.toISOString(),
            endTime: end.toISOString(),
          })
        }
      >
        {t("workbooks.time.apply")}
      </button>
    </>
  );
}

interface DropdownProps {
  def: ParameterDef;
  choices: Choice[];
  disabled?: boolean;
  /** Shown instead of "not set" while the choices are loading or cannot load. */
  note?: string;
}

/** What a special selection is called in the list: "All", "Any one", "Any 3". */
const specialLabel = (special: Special) =>
  special === "all" ? t("workbooks.param.all") : special === 1 ? t("workbooks.param.anyOne") : t("workbooks.param.anyN", { n: special });

function Dropdown({ def, choices, disabled, note }: DropdownProps) {
  const { setParam } = useWorkbook();
  const [value, set, entry] = useParam(def);
  if (isMulti(def)) return <MultiDropdown def={def} choices={choices} disabled={disabled} note={note} />;
  const specials = specialOptions(def);
  const current = entry?.special !== undefined ? specialKey(entry.special) : value?.kind === "text" ? value.value : "";
  const unset = current === "" || !!entry?.unset;
  return (
    <Field def={def}>
      {(id) => (
        <select
          id={id}
          value={unset && entry?.special === undefined ? "" : current}
          disabled={disabled}
          title={note}
          onChange={(e) => {
            const next = e.currentTarget.value;
            const special = specials.find((s) => specialKey(s) === next);
            if (special !== undefined) setParam(def.name, specialEntry(def, special, choices));
            else if (next === "") setParam(def.name, { value: textValue(""), required: def.isRequired === true, unset: true });
            else set(textValue(next, choices.find((c) => c.value === next)?.label));
          }}
        >
          {(unset || !def.isRequired) && <option value="">{note ?? t("workbooks.param.unset")}</option>}
          {specials.map((special) => (
            <option key={specialKey(special)} value={specialKey(special)}>
              {specialLabel(special)}
            </option>
          ))}
          {choices.map((c) => (
            <option key={c.value} value={c.value}>
              {c.label}
            </option>
          ))}
          {!unset && entry?.special === undefined && !choices.some((c) => c.value === current) && (
            <option value={current}>{current}</option>
          )}
        </select>
      )}
    </Field>
  );
}

function MultiDropdown({ def, choices, disabled, note }: DropdownProps) {
  const { setParam } = useWorkbook();
  const [value, , entry] = useParam(def);
  const selected = value?.kind === "multi" && !entry?.unset ? value.values : [];
  const specials = specialOptions(def);
  // A special selection reads as chosen ("All") even while its items are loading or there are none.
  const summary =
    entry?.special !== undefined
      ? specialLabel(entry.special)
      : selected.length === 0
        ? (note ?? t("workbooks.param.unset"))
        : value?.kind === "multi"
          ? value.labels.join(", ")
          : "";
  const choose = (values: string[]) =>
    setParam(def.name, { value: multiValue(def, values, choices), required: def.isRequired === true, unset: values.length === 0 });
  const toggle = (choice: string, on: boolean) =>
    choose(on ? [...selected, choice] : selected.filter((v) => v !== choice));
  return (
    <Field def={def}>
      {(id) => (
        <details class="menu wb-multi">
          <summary id={id} class="btn" aria-disabled={disabled}>
            <span class="wb-multi-summary">{summary}</span> ▾
          </summary>
          <div class="menu-popover">
            {specials.map((special) => (
              <label key={specialKey(special)}>
                <input
                  type="checkbox"
                  checked={entry?.special === special}
                  disabled={disabled}
                  onChange={(e) =>
                    e.currentTarget.checked ? setParam(def.name, specialEntry(def, special, choices)) : choose([])
                  }
                />
                {specialLabel(special)}
              </label>
            ))}
            {choices.map((c) => (
              <label key={c.value}>
                <input
                  type="checkbox"
                  checked={entry?.special === undefined && selected.includes(c.value)}
                  disabled={disabled}
                  onChange={(e) => toggle(c.value, e.currentTarget.checked)}
                />
                {c.label}
              </label>
            ))}
          </div>
        </details>
      )}
    </Field>
  );
}

/** Value/label/selected columns by name as the portal reads them, else the first two columns. */
function tableChoices(table: QueryTable): Choice[] {
  const find = (name: string) => table.columns.findIndex((c) => c.name.toLowerCase() === name);
  const valueAt = find("value") >= 0 ? find("value") : 0;
  const labelAt = find("label") >= 0 ? find("label") : table.columns.length > 1 && find("value") < 0 ? 1 : valueAt;
  const selectedAt = find("selected");
  return table.rows.map((row) => {
    const value = row[valueAt] === null || row[valueAt] === undefined ? "" : String(row[valueAt]);
    return {
      value,
      label: row[labelAt] === null || row[labelAt] === undefined ? value : String(row[labelAt]),
      selected: selectedAt >= 0 && (row[selectedAt] === true || row[selectedAt] === "true"),
    };
  });
}

function QueryDropdown({ def }: { def: ParameterDef }) {
  const { params, setParam } = useWorkbook();
  const supported = isLogsQuery(def.queryType);
  const state = useWorkbookQuery(supported ? def : {});
  const choices = useMemo(() => (state.status === "done" ? tableChoices(state.table) : []), [state]);

  // Once the items arrive: a special selection (All, first N) is taken over them again, and a
  // parameter with no value takes the JSON's value or the rows marked selected, as the portal does.
  // A choice the user made stays.
  useEffect(() => {
    if (state.status !== "done") return;
    const entry = params[def.name];
    if (entry?.special !== undefined) setParam(def.name, specialEntry(def, entry.special, choices));
    else if (!entry || entry.unset) setParam(def.name, fromChoices(def, choices));
  }, [choices]);

  const note = !supported
    ? t("workbooks.param.noItems")
    : state.status === "loading"
      ? t("workbooks.loading")
      : state.status === "failed"
        ? state.message
        : state.status === "missing"
          ? t("workbooks.param.noItems")
          : state.status === "blocked"
            ? t("workbooks.waitingFor", { names: state.missing.join(", ") })
            : undefined;
  return (
    <div class="wb-param-with-notice" data-loading={state.status === "loading" ? "true" : undefined}>
      <Dropdown def={def} choices={choices} disabled={state.status !== "done"} note={note} />
      {!supported && <OtherSource queryType={def.queryType} />}
      {state.status === "missing" && <MissingTable name={state.name} />}
    </div>
  );
}

function TextParam({ def }: { def: ParameterDef }) {
  const [value, set] = useParam(def);
  const current = value?.kind === "text" ? value.value : "";
  return (
    <Field def={def}>
      {(id) => (
        // Committed on change (Enter or leaving the field), not per keystroke, so queries do not rerun while typing.
        <input id={id} value={current} onChange={(e) => set(textValue(e.currentTarget.value))} />
      )}
    </Field>
  );
}

function CriteriaParam({ def }: { def: ParameterDef }) {
  const { params } = useWorkbook();
  const [value, set] = useParam(def);
  const computed = criteriaValue(def.criteriaData ?? [], params) ?? "";
  const current = value?.kind === "text" ? value.value : "";
  useEffect(() => {
    if (computed !== current) set(textValue(computed));
  }, [computed, current]);
  return <Field def={def}>{(id) => <input id={id} value={computed} readOnly />}</Field>;
}

function OptionsParam({ def }: { def: ParameterDef }) {
  const [value, set] = useParam(def);
  const current = value?.kind === "text" ? value.value : "";
  const choices = jsonChoices(def.jsonData);
  const name = useId();
  return (
    <div class="wb-param" role="radiogroup" aria-label={def.label ?? def.name}>
      <span class="wb-param-label">{def.label ?? def.name}</span>
      <div class="wb-options">
        {choices.map((c) => (
          <label key={c.value} class="wb-option">
            <input
              type="radio"
              name={name}
              value={c.value}
              checked={current === c.value}
              onChange={() => set(textValue(c.value, c.label))}
            />
            {c.label}
          </label>
        ))}
      </div>
    </div>
  );
}

function WorkspaceParam({ def }: { def: ParameterDef }) {
  const { workspaces } = useWorkbook();
  const [value, set] = useParam(def);
  const current = value?.kind === "text" ? value.value : "";
  return (
    <Field def={{ ...def, label: t("workbooks.param.workspace") }}>
      {(id) => (
        <select
          id={id}
          value={current}
          onChange={(e) => {
            const next = workspaces.find((w) => w.id === e.currentTarget.value);
            if (next) set(textValue(next.id, next.name));
          }}
        >
          {workspaces.map((w) => (
            <option key={w.id} value={w.id}>
              {w.name}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}
