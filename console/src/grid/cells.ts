import type { Column, Row } from "./types";
import { isNumericType } from "./types";

/** A cell as plain text, for copying, exporting and filtering (datetimes stay ISO/UTC). */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Whether a dynamic cell holds something worth expanding (an object or array). */
export const isStructured = (value: unknown): value is object => typeof value === "object" && value !== null;

// Kusto's timespan text: [-][d.]hh:mm:ss[.fffffff]
const TIMESPAN = /^(-)?(?:(\d+)\.)?(\d+):(\d+):(\d+)(?:\.(\d+))?$/;

function timespanMs(text: string): number {
  const m = TIMESPAN.exec(text);
  if (!m) return Number.NaN;
  const [, sign, days, h, min, s, fraction] = m;
  const ms =
    ((Number(days ?? 0) * 24 + Number(h)) * 60 + Number(min)) * 60_000 +
    Number(s) * 1000 +
    (fraction ? Number(`0.${fraction}`) * 1000 : 0);
  return sign ? -ms : ms;
}

type SortKey = number | string | null;

function sortKey(value: unknown, type: string): SortKey {
  if (value === null || value === undefined || value === "") return null;
  if (isNumericType(type)) return Number(value);
  switch (type) {
    case "datetime":
      return Date.parse(String(value));
    case "timespan":
      return timespanMs(String(value));
    case "bool":
      return value === true || value === "true" ? 1 : 0;
    default:
      return cellText(value);
  }
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/**
 * Row indices ordered by one column. Keys are computed once per row rather than per
 * comparison, which is what keeps 100,000-row sorts interactive; empty cells always sort last.
 */
export function sortedIndices(rows: readonly Row[], column: number, type: string, descending: boolean): number[] {
  const keys = rows.map((row) => sortKey(row[column], type));
  const sign = descending ? -1 : 1;
  const indices = rows.map((_, i) => i);
  indices.sort((a, b) => {
    const ka = keys[a];
    const kb = keys[b];
    if (ka === null || (typeof ka === "number" && Number.isNaN(ka))) return kb === null ? a - b : 1;
    if (kb === null || (typeof kb === "number" && Number.isNaN(kb))) return -1;
    const order = typeof ka === "number" && typeof kb === "number" ? ka - kb : collator.compare(String(ka), String(kb));
    return order === 0 ? a - b : sign * order;
  });
  return indices;
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(columns: readonly Column[], rows: readonly Row[]): string {
  const lines = [columns.map((c) => csvField(c.name)).join(",")];
  for (const row of rows) lines.push(row.map((cell) => csvField(cellText(cell))).join(","));
  return lines.join("\r\n") + "\r\n";
}

/** Rows as objects keyed by column name, the shape people paste into other tools. */
export function toJson(columns: readonly Column[], rows: readonly Row[]): string {
  const objects = rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row[i] ?? null])));
  return JSON.stringify(objects, null, 2);
}

export function download(filename: string, mime: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: mime }));
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = filename;
  anchor.click();
  // The click starts the download synchronously; revoking later keeps Safari happy.
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Copies text; falls back to execCommand where the Clipboard API is unavailable (plain http). */
export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // execCommand copies the selection, which needs a focused element; focus goes back after.
  const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const area = document.createElement("textarea");
  area.value = text;
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
  previous?.focus();
}
