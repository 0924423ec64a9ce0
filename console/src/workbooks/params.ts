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
  | { kind: "multi"; values: string[]; labels: string[]; quote: string; delimiter: string };

export interface ParamEntry {
  value: ParamValue;
  /** Queries that use a required parameter wait until it has a value, as in the portal. */
  required: boolean;
}

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

const escapeQuotes = (text: string) => text.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/"/g, '\\"');

/** `{Name:format}` for one parameter, or null when the format does not apply to it. */
function expand(entry: ParamEntry, format: string | undefined): string | null {
  const v = entry.value;
  const f = format?.toLowerCase();
  if (v.kind === "time") {
    if (!f || f === "label") return rangeLabel(v.range);
    if (f === "value" || f === "query") return rangeQuery(v.range);
    if (f === "start") return bounds(v.range).start.toISOString();
    if (f === "end") return bounds(v.range).end.toISOString();
    if (f === "grain") return rangeGrain(v.range);
    return null;
  }
  if (v.kind === "multi") {
    if (f === "label") return v.labels.join(", ");
    const quoted = v.values.map((x) => `${v.quote}${f === "escape" ? escapeQuotes(x) : x}${v.quote}`);
    return !f || f === "value" || f === "query" || f === "escape" ? quoted.join(v.delimiter) : null;
  }
  if (f === "label") return v.label ?? v.value;
  if (f === "escape") return escapeQuotes(v.value);
  return !f || f === "value" || f === "query" ? v.value : null;
}

const REFERENCE = /\{(\w+)(?::(\w+))?\}/g;

/** Expands parameter references; unknown ones stay as written, as the portal leaves them. */
export function substitute(text: string, params: Params): string {
  return text.replace(REFERENCE, (whole, name: string, format?: string) => {
    const entry = params[name];
    return entry ? (expand(entry, format) ?? whole) : whole;
  });
}

/** Required parameters the text refers to that have no value yet. */
export function missingParams(text: string, params: Params): string[] {
  const missing = new Set<string>();
  for (const [, name] of text.matchAll(REFERENCE)) {
    const entry = params[name];
    if (entry?.required && isEmpty(entry)) missing.add(name);
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

/** The value a parameter starts with (query-fed dropdowns get theirs when the query answers). */
function initialValue(def: ParameterDef, workspace: { id: string; name: string }): ParamValue {
  switch (def.type) {
    case ParamType.timeRange: {
      const value = def.value as TimeContext | undefined;
      const valid = value && (typeof value.durationMs === "number" || isAbsolute(value));
      return { kind: "time", range: valid ? value : (def.typeSettings?.selectableValues?.[0] ?? DEFAULT_RANGE) };
    }
    case ParamType.resource:
    case ParamType.subscription:
      return textValue(workspace.id, workspace.name);
    default:
      return fromChoices(def, def.jsonData ? jsonChoices(def.jsonData) : []);
  }
}

/** A dropdown's value from its choices: the JSON's `value`, else the rows marked selected. */
export function fromChoices(def: ParameterDef, choices: Choice[]): ParamValue {
  const given = def.value;
  const options = def.typeSettings?.additionalResourceOptions ?? [];
  if (isMulti(def)) {
    let values = Array.isArray(given) ? given.map(String) : choices.filter((c) => c.selected).map((c) => c.value);
    if (values.length === 0 && options.includes("value::all")) values = choices.map((c) => c.value);
    if (values.length === 0 && options.includes("value::1") && choices[0]) values = [choices[0].value];
    return multiValue(def, values, choices);
  }
  let value = typeof given === "string" || typeof given === "number" ? String(given) : "";
  if (!value) value = choices.find((c) => c.selected)?.value ?? "";
  if (!value && options.includes("value::1") && choices[0]) value = choices[0].value;
  return textValue(value, choices.find((c) => c.value === value)?.label);
}

export function multiValue(def: ParameterDef, values: string[], choices: Choice[]): ParamValue {
  return {
    kind: "multi",
    values,
    labels: values.map((v) => choices.find((c) => c.value === v)?.label ?? v),
    quote: def.quote ?? "'",
    delimiter: def.delimiter ?? ",",
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
        if (def.name) params[def.name] = { value: initialValue(def, workspace), required: def.isRequired === true };
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
