// How a result table becomes chart series, following Kusto's `render` semantics: one column is
// the x axis, numeric columns are series, and string columns split the series (a pivot), so
// `summarize count() by bin(TimeGenerated, 1h), Category` draws one line per category.
import type { Column, Row } from "../grid/types";
import { isNumericType } from "../grid/types";

export const CHART_KINDS = [
  "timechart",
  "linechart",
  "areachart",
  "columnchart",
  "barchart",
  "piechart",
  "scatterchart",
] as const;

export type ChartKind = (typeof CHART_KINDS)[number];

export const isChartKind = (value: string): value is ChartKind => (CHART_KINDS as readonly string[]).includes(value);

/** Kusto's `kind` render property. */
export type StackMode = "default" | "stacked" | "unstacked" | "stacked100";

export type AxisType = "time" | "value" | "category";

export interface Series {
  name: string;
  /** Aligned with `Shaped.x`; null where the series has no point. */
  values: (number | null)[];
}

export interface Shaped {
  axis: AxisType;
  xName: string;
  yNames: string[];
  /** Epoch milliseconds (time), numbers (value) or labels (category). */
  x: (number | string)[];
  series: Series[];
  /** Whether series came from splitting by string columns. */
  pivoted: boolean;
}

/** More series than this are unreadable; the largest are kept. */
const MAX_SERIES = 40;

const isSplitType = (type: string) => type === "string" || type === "guid" || type === "bool";

function xColumn(kind: ChartKind, columns: readonly Column[]): number {
  const datetime = columns.findIndex((c) => c.type === "datetime");
  if (kind === "timechart" || kind === "linechart" || kind === "areachart" || kind === "scatterchart") {
    return datetime >= 0 ? datetime : 0;
  }
  const text = columns.findIndex((c) => isSplitType(c.type));
  return text >= 0 ? text : 0;
}

function axisType(kind: ChartKind, column: Column): AxisType {
  if (kind === "barchart" || kind === "columnchart") return column.type === "datetime" ? "time" : "category";
  if (column.type === "datetime") return "time";
  return isNumericType(column.type) ? "value" : "category";
}

function xValue(value: unknown, axis: AxisType): number | string | null {
  if (value === null || value === undefined) return null;
  if (axis === "time") {
    const ms = Date.parse(String(value));
    return Number.isNaN(ms) ? null : ms;
  }
  if (axis === "value") {
    const n = Number(value);
    return Number.isNaN(n) ? null : n;
  }
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function yValue(value: unknown): number | null {
  if (value === null || value === undefined || value === "") return null;
  const n = Number(value);
  return Number.isNaN(n) ? null : n;
}

/** Series for an axis chart, or null when the result has nothing numeric to draw. */
export function shapeSeries(kind: ChartKind, columns: readonly Column[], rows: readonly Row[]): Shaped | null {
  if (columns.length === 0) return null;
  const xi = xColumn(kind, columns);
  const axis = axisType(kind, columns[xi]);
  const ys = columns.flatMap((c, i) => (i !== xi && isNumericType(c.type) ? [i] : []));
  if (ys.length === 0) return null;
  const splits = columns.flatMap((c, i) => (i !== xi && isSplitType(c.type) ? [i] : []));
  const base = { axis, xName: columns[xi].name, yNames: ys.map((i) => columns[i].name) };

  if (splits.length === 0) {
    const points = rows.flatMap((row) => {
      const x = xValue(row[xi], axis);
      return x === null ? [] : [{ x, row }];
    });
    // Kusto draws line-like charts in x order whatever order the rows came in.
    if (axis !== "category") points.sort((a, b) => (a.x as number) - (b.x as number));
    return {
      ...base,
      x: points.map((p) => p.x),
      series: ys.map((i) => ({ name: columns[i].name, values: points.map((p) => yValue(p.row[i])) })),
      pivoted: false,
    };
  }

  const xs = new Map<number | string, number>();
  const bySeries = new Map<string, Map<number | string, number>>();
  for (const row of rows) {
    const x = xValue(row[xi], axis);
    if (x === null) continue;
    if (!xs.has(x)) xs.set(x, xs.size);
    const split = splits.map((i) => (row[i] === null || row[i] === undefined ? "" : String(row[i]))).join(" / ");
    for (const i of ys) {
      const name = ys.length > 1 ? `${split}: ${columns[i].name}` : split;
      const y = yValue(row[i]);
      if (y === null) continue;
      let points = bySeries.get(name);
      if (!points) bySeries.set(name, (points = new Map()));
      points.set(x, (points.get(x) ?? 0) + y);
    }
  }
  const x = [...xs.keys()];
  if (axis !== "category") x.sort((a, b) => (a as number) - (b as number));
  const totals = [...bySeries.entries()].map(([name, points]) => {
    let total = 0;
    for (const v of points.values()) total += Math.abs(v);
    return { name, points, total };
  });
  totals.sort((a, b) => b.total - a.total);
  return {
    ...base,
    x,
    // A split's missing x is a zero count in a summarize result, not a gap.
    series: totals.slice(0, MAX_SERIES).map(({ name, points }) => ({ name, values: x.map((k) => points.get(k) ?? 0) })),
    pivoted: true,
  };
}

export interface Slice {
  name: string;
  value: number;
}

/** Pie slices: the label columns joined, and the first numeric column summed per label. */
export function shapePie(columns: readonly Column[], rows: readonly Row[]): Slice[] | null {
  const value = columns.findIndex((c) => isNumericType(c.type));
  if (value < 0) return null;
  const labels = columns.flatMap((c, i) => (i !== value && !isNumericType(c.type) ? [i] : []));
  const sums = new Map<string, number>();
  for (const row of rows) {
    const name = labels.length ? labels.map((i) => String(row[i] ?? "")).join(" / ") : String(row[value]);
    sums.set(name, (sums.get(name) ?? 0) + (yValue(row[value]) ?? 0));
  }
  return [...sums.entries()].map(([name, v]) => ({ name, value: v }));
}

/** Each x's values as percentages of that x's total, for `kind=stacked100`. */
export function toPercent(series: Series[]): Series[] {
  const length = series[0]?.values.length ?? 0;
  const totals = Array.from({ length }, (_, i) => series.reduce((sum, s) => sum + Math.abs(s.values[i] ?? 0), 0));
  return series.map((s) => ({
    name: s.name,
    values: s.values.map((v, i) => (v === null || totals[i] === 0 ? v : (100 * v) / totals[i])),
  }));
}
