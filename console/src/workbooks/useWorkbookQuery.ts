import { useEffect, useState } from "preact/hooks";
import type { QueryTable } from "../hunting/query";
import { isAbort, missingTableOrFunction, queryFailure, runQuery } from "../hunting/query";
import type { WorkbookState } from "./context";
import { useWorkbook } from "./context";
import { strayEscapesAsWhitespace } from "./kqlText";
import type { TimeContext } from "./model";
import { missingParams, substitute } from "./params";
import { rangeTimespan } from "./timeParam";

/** What a query item or a query-fed parameter asks for. */
export interface QuerySpec {
  query?: string;
  timeContext?: TimeContext;
  timeContextFromParameter?: string;
  crossComponentResources?: string[];
}

export type QueryState =
  | { status: "blocked"; missing: string[] }
  | { status: "loading" }
  | { status: "done"; table: QueryTable }
  | { status: "failed"; message: string }
  /** The query names a table or function this workspace lacks (KB005): its solution is not installed. */
  | { status: "missing"; name: string };

function timespanOf(spec: QuerySpec, state: WorkbookState): string | undefined {
  const fromParam = spec.timeContextFromParameter ? state.params[spec.timeContextFromParameter]?.value : undefined;
  if (fromParam?.kind === "time") return rangeTimespan(fromParam.range);
  return spec.timeContext && spec.timeContext.durationMs > 0 ? rangeTimespan(spec.timeContext) : undefined;
}

/** An item's own resource when it names one of Vigil's workspaces (by id or name), else the workbook's. */
function workspaceOf(spec: QuerySpec, state: WorkbookState): string {
  for (const resource of spec.crossComponentResources ?? []) {
    const named = substitute(resource, state.params);
    const found = state.workspaces.find((w) => w.id === named || w.name === named);
    if (found) return found.id;
  }
  return state.workspace;
}

/** Runs the spec's query with parameters expanded, again whenever the expansion changes. */
export function useWorkbookQuery(spec: QuerySpec): QueryState {
  const state = useWorkbook();
  const text = spec.query ?? "";
  const missing = missingParams(text, state.params, state.declared);
  const query = strayEscapesAsWhitespace(substitute(text, state.params, { query: true, now: state.now }));
  const timespan = timespanOf(spec, state);
  const workspace = workspaceOf(spec, state);
  const key = missing.length ? "" : JSON.stringify([workspace, timespan, query, state.generation]);
  const [result, setResult] = useState<QueryState>({ status: "loading" });

  useEffect(() => {
    if (!key) return;
    const controller = new AbortController();
    setResult({ status: "loading" });
    runQuery(workspace, query, timespan, controller.signal).then(
      (response) => {
        const table = response.tables[0] ?? { name: "PrimaryResult", columns: [], rows: [] };
        if (!controller.signal.aborted) setResult({ status: "done", table });
      },
      (error) => {
        if (controller.signal.aborted || isAbort(error)) return;
        const failure = queryFailure(error);
        const name = missingTableOrFunction(failure);
        setResult(name !== null ? { status: "missing", name } : { status: "failed", message: failure.message });
      },
    );
    return () => controller.abort();
  }, [key]);

  return missing.length ? { status: "blocked", missing } : result;
}
