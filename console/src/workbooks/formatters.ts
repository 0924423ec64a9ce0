// Grid column formatters of the portal's tables, by their numeric ids in the JSON.
import type { Column, Row } from "../grid/types";
import type { Formatter } from "./model";

export const FormatterId = {
  heatmap: 3,
  bar: 4,
  hidden: 5,
  dateTime: 6,
  barUnderneath: 8,
  thresholds: 18,
} as const;

/** The formatter for a column: `columnMatch` is a name or a regular expression over names. */
export function formatterFor(column: string, formatters: readonly Formatter[]): Formatter | undefined {
  return formatters.find((f) => {
    if (!f.columnMatch) return false;
    if (f.columnMatch === column) return true;
    try {
      return new RegExp(`^(?:${f.columnMatch})$`).test(column);
    } catch {
      return false;
    }
  });
}

type Rgb = [number, number, number];

// Low and high ends of the portal's palettes; single-hue palettes fade from transparent.
const PALETTES: Record<string, [Rgb, Rgb]> = {
  greenRed: [[46, 160, 67], [218, 54, 51]],
  redGreen: [[218, 54, 51], [46, 160, 67]],
  blueGreen: [[31, 111, 235], [46, 160, 67]],
  greenBlue: [[46, 160, 67], [31, 111, 235]],
  coldHot: [[31, 111, 235], [218, 54, 51]],
  hotCold: [[218, 54, 51], [31, 111, 235]],
  yellowOrangeRed: [[230, 190, 40], [218, 54, 51]],
  redOrangeYellow: [[218, 54, 51], [230, 190, 40]],
};

const HUES: Record<string, Rgb> = {
  blue: [31, 111, 235],
  green: [46, 160, 67],
  red: [218, 54, 51],
  orange: [230, 120, 20],
  yellow: [215, 170, 20],
  purple: [137, 87, 229],
  pink: [219, 68, 143],
  turquoise: [23, 162, 184],
  gray: [128, 128, 128],
  grey: [128, 128, 128],
  magenta: [200, 40, 180],
  brown: [150, 90, 40],
};

/** A translucent colour for `ratio` (0..1) along a palette: readable under text in either theme. */
export function paletteColor(palette: string | undefined, ratio: number): string {
  const r = Math.max(0, Math.min(1, Number.isFinite(ratio) ? ratio : 0));
  const pair = PALETTES[palette ?? ""];
  if (pair) {
    const [lo, hi] = pair;
    const mix = lo.map((c, i) => Math.round(c + (hi[i] - c) * r));
    return `rgba(${mix.join(",")},0.45)`;
  }
  const hue = HUES[palette ?? ""] ?? HUES.blue;
  return `rgba(${hue.join(",")},${(0.08 + 0.5 * r).toFixed(2)})`;
}

/** A named colour (a threshold's representation, a bar's palette) at the given opacity. */
export function namedColor(name: string | undefined, alpha = 1): string | undefined {
  if (!name) return undefined;
  const rgb = HUES[name] ?? HUES[name.replace(/^(?:light|dark)/i, "").toLowerCase()] ?? PALETTES[name]?.[1];
  return rgb ? `rgba(${rgb.join(",")},${alpha})` : undefined;
}

export interface Scale {
  min: number;
  max: number;
}

/** A numeric column's range over the rows, overridden by the formatter's min/max. */
export function scaleOf(rows: readonly Row[], column: number, formatter: Formatter): Scale {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const row of rows) {
    const n = Number(row[column]);
    if (row[column] === null || Number.isNaN(n)) continue;
    min = Math.min(min, n);
    max = Math.max(max, n);
  }
  return {
    min: formatter.formatOptions?.min ?? (Number.isFinite(min) ? Math.min(0, min) : 0),
    max: formatter.formatOptions?.max ?? (Number.isFinite(max) ? max : 1),
  };
}

export const ratio = (value: unknown, scale: Scale): number =>
  scale.max === scale.min ? 1 : (Number(value) - scale.min) / (scale.max - scale.min);

/** The first threshold that matches the value, as the portal evaluates them, top to bottom. */
export function thresholdColor(value: unknown, formatter: Formatter): string | undefined {
  const text = value === null || value === undefined ? "" : String(value);
  for (const rule of formatter.formatOptions?.thresholdsGrid ?? []) {
    const target = rule.thresholdValue ?? "";
    const n = Number(text);
    const m = Number(target);
    const numeric = text !== "" && target !== "" && !Number.isNaN(n) && !Number.isNaN(m);
    const hit =
      rule.operator === "Default" ||
      (rule.operator === "==" && text === target) ||
      (rule.operator === "!=" && text !== target) ||
      (rule.operator === ">" && numeric && n > m) ||
      (rule.operator === ">=" && numeric && n >= m) ||
      (rule.operator === "<" && numeric && n < m) ||
      (rule.operator === "<=" && numeric && n <= m) ||
      (rule.operator === "contains" && text.includes(target)) ||
      (rule.operator === "startsWith" && text.startsWith(target)) ||
      (rule.operator === "endsWith" && text.endsWith(target));
    if (hit) return namedColor(rule.representation, 0.3);
  }
  return undefined;
}

/** Columns and rows without hidden columns, renamed by `labelSettings`. */
export function visibleColumns(
  columns: readonly Column[],
  formatters: readonly Formatter[],
  labels: readonly { columnId?: string; label?: string }[],
): { columns: Column[]; keep: number[] } {
  const keep = columns.flatMap((c, i) => (formatterFor(c.name, formatters)?.formatter === FormatterId.hidden ? [] : [i]));
  return {
    keep,
    columns: keep.map((i) => {
      const label = labels.find((l) => l.columnId === columns[i].name)?.label;
      return label ? { ...columns[i], name: label } : columns[i];
    }),
  };
}
