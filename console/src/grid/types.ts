/** A result column as the query API describes it; `type` is a Kusto scalar type name. */
export interface Column {
  name: string;
  type: string;
}

/** One result row: cells in column order, as JSON values (datetimes are ISO strings). */
export type Row = unknown[];

const NUMERIC = new Set(["int", "long", "real", "decimal", "double"]);

export const isNumericType = (type: string): boolean => NUMERIC.has(type);
