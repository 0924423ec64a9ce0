import type { Column, Row } from "../grid/types";

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function typeOf(values: unknown[]): string {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (!present.length) return "string";
  if (present.every((v) => typeof v === "boolean")) return "bool";
  if (present.every((v) => typeof v === "number")) return present.every(Number.isInteger) ? "long" : "real";
  if (present.every((v) => typeof v === "string" && ISO_TIME.test(v))) return "datetime";
  if (present.some((v) => typeof v === "object")) return "dynamic";
  return "string";
}

/**
 * Evidence rows are kept as objects (column → value) without their schema; the grid wants
 * columns and arrays, so the columns are gathered in first-seen order and typed from the values.
 */
export function evidenceTable(objects: Record<string, unknown>[]): { columns: Column[]; rows: Row[] } {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const object of objects) {
    for (const name of Object.keys(object)) {
      if (!seen.has(name)) {
        seen.add(name);
        names.push(name);
      }
    }
  }
  const rows = objects.map((object) => names.map((name) => object[name] ?? null));
  const columns = names.map((name, index) => ({ name, type: typeOf(rows.map((row) => row[index])) }));
  return { columns, rows };
}
