import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Workspace } from "../api";
import type { ParamEntry, Params } from "./params";

export interface WorkbookState {
  params: Params;
  setParam: (name: string, entry: ParamEntry) => void;
  /** The workspaces the user can read, for workspace pickers and cross-workspace items. */
  workspaces: readonly Workspace[];
  /** The workspace queries run in unless an item or parameter names another. */
  workspace: string;
  /** Every parameter name the workbook declares (see `declaredParams`). */
  declared: ReadonlySet<string>;
  /** The instant relative time ranges end at; moves on load, Refresh and a time range change. */
  now: number;
  /** Bumped by Refresh: every query runs again. */
  generation: number;
}

export const WorkbookContext = createContext<WorkbookState | null>(null);

export function useWorkbook(): WorkbookState {
  const state = useContext(WorkbookContext);
  if (!state) throw new Error("workbook items render inside a WorkbookContext");
  return state;
}
