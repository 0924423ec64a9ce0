import { ApiError } from "../api";

/** A watchlist as `GET /api/workspaces/{ws}/watchlists` describes it (Sentinel's fields, flat). */
export interface Watchlist {
  alias: string;
  watchlistId: string;
  displayName: string;
  description: string;
  provider: string;
  source: string;
  itemsSearchKey: string;
  columns: string[];
  labels: string[];
  /** Epoch time (the server's unit: seconds to nanoseconds) or an ISO string. */
  created: number | string;
  updated: number | string;
  updatedBy: string;
  itemCount: number;
}

export const watchlistsPath = (workspace: string, alias?: string, rest = "") =>
  `/api/workspaces/${encodeURIComponent(workspace)}/watchlists${alias === undefined ? "" : `/${encodeURIComponent(alias)}`}${rest}`;

/** Sentinel's limit for a watchlist uploaded from a local file (the server enforces it too). */
export const MAX_CSV_BYTES = 3_800_000;

/** Sentinel's alias rule, as the server checks it: letters, digits, '_' and '-', starting with a letter or digit. */
export const ALIAS = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

/**
 * An epoch time as ISO. The unit is read from the magnitude (seconds, milliseconds, microseconds
 * or nanoseconds), so the page reads the server's answer whichever it sends; ISO strings pass.
 */
export function epochIso(value: number | string | null | undefined): string {
  if (value === null || value === undefined || value === "") return "";
  if (typeof value === "string" && !/^\d+$/.test(value)) return value;
  const n = Number(value);
  const ms = n >= 1e17 ? n / 1e6 : n >= 1e14 ? n / 1e3 : n >= 1e11 ? n : n * 1000;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

/** The form field a refused watchlist names (`innererror.field`, e.g. `properties.itemsSearchKey`). */
export type WatchlistField = "alias" | "displayName" | "description" | "provider" | "file" | "skip" | "searchKey";

const FIELDS: Record<string, WatchlistField> = {
  watchlistAlias: "alias",
  alias: "alias",
  displayName: "displayName",
  description: "description",
  provider: "provider",
  source: "file",
  rawContent: "file",
  contentType: "file",
  numberOfLinesToSkip: "skip",
  itemsSearchKey: "searchKey",
};

/** The field a 400 InvalidWatchlist points at, or null when it names none the form has. */
export function refusedField(error: unknown): WatchlistField | null {
  if (!(error instanceof ApiError)) return null;
  const inner = (error.body as { error?: { innererror?: { field?: unknown } } } | null)?.error?.innererror;
  const field = typeof inner?.field === "string" ? inner.field.replace(/^properties\./, "") : "";
  return FIELDS[field] ?? null;
}
