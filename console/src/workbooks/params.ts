// Workbook parameter values and how `{Name}`, `{Name:label}`, `{TimeRange:query}`... expand.
import type {
  Condition,
  Criterion,
  LinksContent,
  ParameterDef,
  ParametersContent,
  TimeContext,
  WorkbookItem,
} from "./model";
import { ItemType, walkItems } from "./model";
import { DEFAULT_RANGE, isAbsolute, rangeGrain, rangeLabel, rangeQuery, bounds } from "./timeParam";

export type ParamValue =
  | { kind: "time"; range: TimeContext }
  | { kind: "text"; value: string; label?: string }
  | {
      kind: "multi";
      values: string[];
      labels: string[];
      quote: string;
      delimiter: string;
      /**
       * The drop-down's "All" special item is chosen: `{Param}` becomes the select-all value when the
       * workbook gives one (`typeSettings.selectAllValue`), else every item; `{Param:label}` is "All".
       */
      all?: { selectAllValue?: string };
    };

export interface ParamEntry {
  value: ParamValue;
  /** Queries that use a required parameter wait until it has a value, as in the portal. */
  required: boolean;
  /**
   * The parameter has no value yet: a drop-down whose items are still loading (or failed to load),
   * or one with nothing selected. Items that use it wait, as the portal's "waiting for" notice does,
   * rather than run with a hole where the value goes (`where x in ()` is not KQL).
   */
  unset?: boolean;
  /** A drop-down's special selection (`value::all`, `value::N`), resolved again when its items change. */
  special?: Special;
}

/** "All" items, or the first N. */
export type Special = "all" | number;

export type Params = Readonly<Record<string, ParamEntry>>;

export const ParamType = {
  text: 1,
  dropdown: 2,
  timeRange: 4,
  resource: 5,
  subscription: 6,
  options: 10,
} as const;

export const textValue = (value: string, label?: string): ParamValue => ({ kind: "text", value, label });

/** A parameter's plain value: what conditions compare and emptiness checks look at. */
export function plainValue(entry: ParamEntry | undefined): string {
  if (!entry) return "";
  const v = entry.value;
  if (v.kind === "time") return rangeLabel(v.range);
  if (v.kind === "multi") return v.values.join(",");
  return v.value;
}

export const isEmpty = (entry: ParamEntry | undefined): boolean => plainValue(entry) === "";

/** The label the portal gives the "All" special item; queries compare `{Param:label}` with it. */
export const ALL_LABEL = "All";

const escapeQuotes = (text: string) => text.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/"/g, '\\"');

/** Where a reference is expanded: KQL sent to the query API, or text shown to people. */
export interface Expansion {
  /** In KQL, `{TimeRange}` is the predicate (`> ago(1d)`) and start/end are datetime literals. */
  query?: boolean;
  /** The instant relative time ranges end at (see `bounds`). */
  now?: number;
}

/** `{Name:format}` for one parameter, or null when the format does not apply to it. */
function expand(entry: ParamEntry, format: string | undefined, how: Expansion, inDatetime: boolean): string | null {
  const v = entry.value;
  const f = format?.toLowerCase();
  if (v.kind === "time") {
    if (!f) return how.query ? rangeQuery(v.range, how.now) : rangeLabel(v.range);
    if (f === "label") return rangeLabel(v.range);
    if (f === "value" || f === "query") return rangeQuery(v.range, how.now);
    if (f === "start" || f === "end") {
      const { start, end } = bounds(v.range, how.now);
      const iso = (f === "start" ? start : end).toISOString();
      // KQL has no bare datetime literal: `from {TimeRange:start}` needs datetime(...), unless
      // the workbook wrote the datetime( ) around the reference itself.
      return how.query && !inDatetime ? `datetime(${iso})` : iso;
    }
    if (f === "grain") return rangeGrain(v.range, how.now);
    return null;
  }
  if (v.kind === "multi") {
    if (f === "label") return v.all ? ALL_LABEL : v.labels.join(", ");
    // The select-all value stands in for the whole list and is quoted like one item, so that
    // `'*' in ({Param})` works as the portal's documentation shows.
    const values = v.all?.selectAllValue !== undefined ? [v.all.selectAllValue] : v.values;
    const quoted = values.map((x) => `${v.quote}${f === "escape" ? escapeQuotes(x) : x}${v.quote}`);
    return !f || f === "value" || f === "query" || f === "escape" ? quoted.join(v.delimiter) : null;
  }
  if (f === "label") return v.label ?? v.value;
  if (f === "escape") return escapeQuotes(v.value);
  // Resource pickers: Vigil's workspace stands for the Azure resource (`{Workspace:id}`, `:name`).
  if (f === "id" || f === "resource") return v.value;
  if (f === "name") return v.label ?? v.value;
  return !f || f === "value" || f === "query" ? v.value : null;
}

const REFERENCE = /\{(\w+)(?::(\w+))?\}/g;

/** Expands parameter references; unknown ones stay as written, as the portal leaves them. */
export function substitute(text: string, params: Params, how: Expansion = {}): string {
  return text.replace(REFERENCE, (whole, name: string, format: string | undefined, offset: number) => {
    const entry = params[name];
    if (!entry) return whole;
    const inDatetime = /datetime\s*\(\s*$/i.test(text.slice(Math.max(0, offset - 20), offset));
    return expand(entry, format, how, inDatetime) ?? whole;
  });
}

/**
 * Parameters the text refers to that it must wait for: ones the workbook declares but that have no
 * value yet (an exported click parameter nobody clicked, a drop-down still loading or with nothing
 * chosen), and required ones that are empty. Optional parameters with an empty value (a text box
 * left blank) expand to nothing, as in the portal. References to names the workbook never declares
 * are left as written, which is also what `substitute` does.
 */
export function missingParams(text: string, params: Params, declared: ReadonlySet<string>): string[] {
  const missing = new Set<string>();
  for (const [, name] of text.matchAll(REFERENCE)) {
    const entry = params[name];
    if (!entry ? declared.has(name) : entry.unset || (entry.required && isEmpty(entry))) missing.add(name);
  }
  return [...missing];
}

function holds(condition: Condition, params: Params): boolean {
  const value = plainValue(params[condition.parameterName]);
  switch (condition.comparison) {
    case "isEqualTo":
      return value === (condition.value ?? "");
    case "isNotEqualTo":
      return value !== (condition.value ?? "");
    case "isNotEmpty":
      return value !== "";
    case "isEmpty":
      return value === "";
    default:
      // An unknown comparison shows the item rather than hiding content silently.
      return true;
  }
}

export function isVisible(item: WorkbookItem, params: Params): boolean {
  const conditions = [
    ...(item.conditionalVisibility ? [item.conditionalVisibility] : []),
    ...(item.conditionalVisibilities ?? []),
  ];
  return conditions.every((c) => holds(c, params));
}

/** Options from a parameter's `jsonData`: strings, or objects with value/label/selected. */
export interface Choice {
  value: string;
  label: string;
  selected: boolean;
}

export function jsonChoices(data: ParameterDef["jsonData"]): Choice[] {
  let list: unknown = data;
  if (typeof data === "string") {
    try {
      list = JSON.parse(data);
    } catch {
      return [];
    }
  }
  if (!Array.isArray(list)) return [];
  return list.map((entry): Choice => {
    if (typeof entry === "object" && entry !== null) {
      const o = entry as { value?: unknown; label?: unknown; selected?: unknown };
      const value = String(o.value ?? "");
      return { value, label: o.label === undefined ? value : String(o.label), selected: o.selected === true };
    }
    return { value: String(entry), label: String(entry), selected: false };
  });
}

export const isMulti = (def: ParameterDef) => def.multiSelect === true || def.typeSettings?.multiSelect === true;

/** The value a parameter starts with (query-fed drop-downs get theirs when the query answers). */
function initialEntry(def: ParameterDef, workspace: { id: string; name: string }): ParamEntry {
  const required = def.isRequired === true;
  switch (def.type) {
    case ParamType.timeRange: {
      const value = def.value as TimeContext | undefined;
      const valid = value && (typeof value.durationMs === "number" || isAbsolute(value));
      const range = valid ? value : (def.typeSettings?.selectableValues?.[0] ?? DEFAULT_RANGE);
      return { value: { kind: "time", range }, required };
    }
    case ParamType.resource:
    case ParamType.subscription:
      // Azure resource pickers (often fed by Resource Graph) become Vigil's workspace.
      return { value: textValue(workspace.id, workspace.name), required };
    case ParamType.dropdown:
      // Items from a query are not known until it answers: unless the JSON names the values
      // outright, the parameter has none until then (QueryDropdown sets it).
      return fromChoices(def, def.query ? [] : jsonChoices(def.jsonData));
    case ParamType.options:
      return fromChoices(def, jsonChoices(def.jsonData));
    default: {
      const given = def.value;
      const text = typeof given === "string" || typeof given === "number" ? String(given) : "";
      return { value: textValue(text), required };
    }
  }
}

/** Log Analytics (KQL) is query type 0, which is also what an item without one means. */
export const isLogsQuery = (queryType: number | undefined) => queryType === undefined || queryType === 0;

/** `value::all`, or `value::N` (the first N items), as the portal writes its special selections. */
export function specialSelection(value: unknown): Special | null {
  const text = Array.isArray(value) && value.length === 1 ? value[0] : value;
  if (typeof text !== "string") return null;
  if (text === "value::all") return "all";
  const first = /^value::(\d+)$/.exec(text);
  return first ? Number(first[1]) : null;
}

/** The select-all value, when the workbook gives one (an empty string counts: it is a value). */
const selectAllValueOf = (def: ParameterDef): string | undefined =>
  typeof def.typeSettings?.selectAllValue === "string" ? def.typeSettings.selectAllValue : undefined;

/**
 * A drop-down's entry from its items: the JSON's `value` (plain values, or a special selection such
 * as `value::all` or `value::1`), else the items marked selected. Nothing selected means no value.
 */
export function fromChoices(def: ParameterDef, choices: Choice[]): ParamEntry {
  const special = specialSelection(def.value);
  return special !== null ? specialEntry(def, special, choices) : plainEntry(def, choices);
}

/** A drop-down's entry for a special selection over its current items (none yet: no value). */
export function specialEntry(def: ParameterDef, special: Special, choices: Choice[]): ParamEntry {
  const required = def.isRequired === true;
  // With a select-all value, "All" has a value before (and whatever) the items are.
  if (special === "all" && selectAllValueOf(def) !== undefined) {
    const value = isMulti(def) ? specialValue(def, special, choices) : singleAll(def, choices);
    return { value, required, special };
  }
  if (choices.length === 0) {
    return { value: isMulti(def) ? multiValue(def, [], []) : textValue(""), required, unset: true, special };
  }
  if (isMulti(def)) return { value: specialValue(def, special, choices), required, special };
  if (special === "all") return { value: singleAll(def, choices), required, special };
  return { value: textValue(choices[0].value, choices[0].label), required, special };
}

/** A drop-down's entry from its JSON `value`, else the items marked selected. */
function plainEntry(def: ParameterDef, choices: Choice[]): ParamEntry {
  const required = def.isRequired === true;
  if (isMulti(def)) {
    const given = Array.isArray(def.value) ? def.value.map(String) : typeof def.value === "string" && def.value ? [def.value] : null;
    const values = given ?? choices.filter((c) => c.selected).map((c) => c.value);
    return { value: multiValue(def, values, choices), required, unset: values.length === 0 };
  }
  let value = typeof def.value === "string" || typeof def.value === "number" ? String(def.value) : "";
  if (!value) value = choices.find((c) => c.selected)?.value ?? "";
  return { value: textValue(value, choices.find((c) => c.value === value)?.label), required, unset: value === "" };
}

/** A multi-select drop-down's "All" (`value::all`) or "first N" (`value::N`) selection over its items. */
function specialValue(def: ParameterDef, special: Special, choices: Choice[]): ParamValue {
  if (special === "all") return multiValue(def, choices.map((c) => c.value), choices, { selectAllValue: selectAllValueOf(def) });
  return multiValue(def, choices.slice(0, special).map((c) => c.value), choices);
}

/** A single-select drop-down's "All": the select-all value, else every item as a list. */
function singleAll(def: ParameterDef, choices: Choice[]): ParamValue {
  const selectAll = selectAllValueOf(def);
  const value = selectAll ?? choices.map((c) => c.value).join(def.delimiter ?? ",");
  return textValue(value, ALL_LABEL);
}

export function multiValue(
  def: ParameterDef,
  values: string[],
  choices: Choice[],
  all?: { selectAllValue?: string },
): ParamValue {
  return {
    kind: "multi",
    values,
    labels: values.map((v) => choices.find((c) => c.value === v)?.label ?? v),
    quote: def.quote ?? "'",
    delimiter: def.delimiter ?? ",",
    ...(all ? { all } : {}),
  };
}

/**
 * A text parameter whose value follows `criteriaData`: the first criterion whose left operand
 * (another parameter) matches gives the value; "Default" applies when none does.
 */
export function criteriaValue(criteria: Criterion[], params: Params): string | null {
  for (const { criteriaContext: c } of criteria) {
    if (!c) continue;
    const result = c.resultValType === "param" ? plainValue(params[c.resultVal ?? ""]) : (c.resultVal ?? "");
    if (c.operator === "Default") return result;
    const left = plainValue(params[c.leftOperand ?? ""]);
    const right = c.rightValType === "param" ? plainValue(params[c.rightVal ?? ""]) : (c.rightVal ?? "");
    if ((c.operator === "==" && left === right) || (c.operator === "!=" && left !== right)) return result;
  }
  return null;
}

/**
 * Every parameter's starting value: parameter items anywhere in the workbook, and each tab
 * strip's first tab, which the portal selects when nothing else has.
 */
export function initialParams(
  items: readonly WorkbookItem[],
  workspace: { id: string; name: string },
): Record<string, ParamEntry> {
  const params: Record<string, ParamEntry> = {};
  for (const item of walkItems(items)) {
    if (item.type === ItemType.parameters) {
      for (const def of (item.content as ParametersContent).parameters ?? []) {
        // The first definition of a name wins: workbooks repeat pickers (a Workspace in a tab group).
        if (def.name && !params[def.name]) params[def.name] = initialEntry(def, workspace);
      }
    } else if (item.type === ItemType.links) {
      const content = item.content as LinksContent;
      const first = content.links?.find((l) => l.linkTarget?.toLowerCase() === "parameter" && l.cellValue);
      if (content.style === "tabs" && first?.cellValue && !params[first.cellValue]) {
        params[first.cellValue] = { value: textValue(first.subTarget ?? ""), required: false };
      }
    }
  }
  return params;
}

/**
 * Every parameter name the workbook gives a value somewhere: parameter items, links that set a
 * parameter (tabs), and parameters that grids and charts export when clicked. A query that refers
 * to one of these before it has a value waits for it.
 */
export function declaredParams(items: readonly WorkbookItem[]): Set<string> {
  const names = new Set<string>();
  for (const item of walkItems(items)) {
    if (item.type === ItemType.parameters) {
      for (const def of (item.content as ParametersContent).parameters ?? []) if (def.name) names.add(def.name);
    } else if (item.type === ItemType.links) {
      for (const link of (item.content as LinksContent).links ?? []) {
        if (link.linkTarget?.toLowerCase() === "parameter" && link.cellValue) names.add(link.cellValue);
      }
    }
    collectExports(item.content, names);
  }
  return names;
}

/** `exportParameterName` and `exportedParameters[].parameterName`, wherever a query item keeps them. */
function collectExports(value: unknown, names: Set<string>, depth = 0) {
  if (depth > 6 || typeof value !== "object" || value === null) return;
  if (Array.isArray(value)) {
    for (const entry of value) collectExports(entry, names, depth + 1);
    return;
  }
  for (const [key, inner] of Object.entries(value)) {
    if (key === "items") continue; // a group's items are walked on their own
    if (key === "exportParameterName" && typeof inner === "string" && inner) names.add(inner);
    else if (key === "exportedParameters" && Array.isArray(inner)) {
      for (const exported of inner) {
        const name = (exported as { parameterName?: unknown })?.parameterName;
        if (typeof name === "string" && name) names.add(name);
      }
    } else collectExports(inner, names, depth + 1);
  }
}

/** The special selections a drop-down offers (`typeSettings.additionalResourceOptions`). */
export function specialOptions(def: ParameterDef): Special[] {
  const offered: Special[] = [];
  for (const option of def.typeSettings?.additionalResourceOptions ?? []) {
    const special = specialSelection(option);
    if (special !== null && !offered.includes(special)) offered.push(special);
  }
  return offered;
}

/** How a special selection is written in the drop-down's value attribute and in workbook JSON. */
export const specialKey = (special: Special) => `value::${special}`;
