import { api, ApiError, errorMessage } from "../api";
import type { Column, Row } from "../grid/types";

export interface QueryTable {
  name: string;
  columns: Column[];
  rows: Row[];
}

/** The `render` operator's visualization and properties (title, xtitle, ytitle, kind, ...). */
export interface RenderSpec {
  visualization: string;
  title?: string;
  xtitle?: string;
  ytitle?: string;
  kind?: string;
}

export interface QueryResponse {
  tables: QueryTable[];
  render?: RenderSpec;
}

/** Why a query failed; `line`/`pos` (1-based, `pos` in characters) locate a syntax or semantic error. */
export interface QueryFailure {
  /** As the server rendered it: for query errors, the line with a caret under the problem. */
  message: string;
  /** One line, for the editor's error marker. */
  summary: string;
  code?: string;
  line?: number;
  pos?: number;
  /** The first diagnostic's stable code (`KS001`, `KB005`...), when the query did not compile. */
  diagnostic?: string;
}

/** The diagnostic code for a table or tabular function the workspace does not have. */
export const UNKNOWN_TABLE = "KB005";

/**
 * The table or function a KB005 failure names (`unknown table or function 'Zoom'`,
 * `unknown function 'X'`), or null for any other failure.
 */
export function missingTableOrFunction(failure: QueryFailure): string | null {
  if (failure.diagnostic !== UNKNOWN_TABLE) return null;
  return /'([^']+)'/.exec(failure.summary)?.[1] ?? /'([^']+)'/.exec(failure.message)?.[1] ?? "";
}

/** Runs KQL through the Log Analytics query API; `timespan` is ISO 8601 (`P1D` or `start/end`). */
export function runQuery(
  workspace: string,
  query: string,
  timespan: string | undefined,
  signal?: AbortSignal,
): Promise<QueryResponse> {
  return api<QueryResponse>(`/v1/workspaces/${encodeURIComponent(workspace)}/query`, {
    method: "POST",
    body: timespan ? { query, timespan } : { query },
    audience: "loganalytics",
    signal,
  });
}

interface InnerError {
  code?: string;
  message?: string;
  line?: number;
  pos?: number;
  diagnostics?: { code?: string; message?: string }[];
}

const firstLine = (text: string) => text.split("\n", 1)[0];

/** The failure as the query API explained it: the inner error carries the rendered message. */
export function queryFailure(error: unknown): QueryFailure {
  if (error instanceof ApiError) {
    const inner = (error.body as { error?: { innererror?: InnerError } } | null)?.error?.innererror;
    if (inner?.message) {
      const summary = inner.diagnostics?.[0]?.message ?? firstLine(inner.message);
      const diagnostic = inner.diagnostics?.[0]?.code;
      return { message: inner.message, summary, code: inner.code, line: inner.line, pos: inner.pos, diagnostic };
    }
    return { message: error.message, summary: firstLine(error.message), code: error.code };
  }
  const message = errorMessage(error);
  return { message, summary: firstLine(message) };
}

export const isAbort = (error: unknown): boolean => error instanceof DOMException && error.name === "AbortError";
