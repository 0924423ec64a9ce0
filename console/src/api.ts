import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { SignInRequired, signOut, token, type Audience } from "./auth";
import { getRoute, navigate, withQuery } from "./app/router";
import { store } from "./app/store";

/** A failed API call: the HTTP status and the `{error: {code, message}}` the server sent. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export interface ApiOptions {
  method?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is, as text/plain (rule and automation YAML). */
  text?: string;
  audience?: Audience;
  accept?: string;
  signal?: AbortSignal;
}

/** Back to the login page, coming back here afterwards. */
export function requireSignIn() {
  signOut();
  const { path, query, pattern } = getRoute();
  if (pattern.startsWith("/login")) return;
  navigate(withQuery("/login", { next: withQuery(path, query) }), { replace: true });
}

interface ErrorBody {
  error?: { code?: string; message?: string } | string;
  error_description?: string;
}

function apiError(status: number, body: unknown, fallback: string): ApiError {
  const { error, error_description } = (body ?? {}) as ErrorBody;
  if (typeof error === "object" && error) {
    return new ApiError(status, error.code ?? String(status), error.message ?? fallback, body);
  }
  return new ApiError(status, typeof error === "string" ? error : String(status), error_description ?? fallback, body);
}

/** Calls a Vigil API with the right token; JSON answers are parsed, others returned as text. */
export async function api<T>(path: string, options: ApiOptions = {}): Promise<T> {
  const audience = options.audience ?? (path.startsWith("/v1/") ? "loganalytics" : "management");
  let bearer: string;
  try {
    bearer = token(audience);
  } catch (error) {
    if (error instanceof SignInRequired) requireSignIn();
    throw new ApiError(401, "SignInRequired", "sign-in required", null);
  }
  const headers: Record<string, string> = { Authorization: `Bearer ${bearer}` };
  let body: string | undefined;
  if (options.text !== undefined) {
    headers["Content-Type"] = "text/plain; charset=utf-8";
    body = options.text;
  } else if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  if (options.accept) headers.Accept = options.accept;
  const response = await fetch(path, { method: options.method ?? "GET", headers, body, signal: options.signal });
  if (response.status === 401) {
    requireSignIn();
  }
  const isJson = response.headers.get("content-type")?.includes("json") ?? false;
  const text = await response.text();
  let parsed: unknown = text;
  if (isJson && text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      // Left as text: the error below still carries it.
    }
  }
  if (!response.ok) throw apiError(response.status, parsed, response.statusText || `HTTP ${response.status}`);
  return (text === "" ? undefined : parsed) as T;
}

/** A message for any error an API call may throw. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Fetches again; resolves once the new data (or error) is in place. */
  reload: () => Promise<void>;
}

interface ResourceState<T> {
  data?: T;
  error: unknown;
  loading: boolean;
}

/**
 * GETs `path` (nothing while it is null), again when it changes or on `reload`. The previous
 * data stays while the next request runs, so tables do not jump; stale answers are dropped.
 */
export function useApi<T>(path: string | null, options: Omit<ApiOptions, "signal" | "method"> = {}): Resource<T> {
  const [state, setState] = useState<ResourceState<T>>({ error: null, loading: !!path });
  const latest = useRef({ path, options, request: 0 });
  latest.current.path = path;
  latest.current.options = options;

  const fetchNow = useCallback(async (signal?: AbortSignal) => {
    const current = latest.current;
    if (!current.path) return;
    const request = ++current.request;
    setState((previous) => ({ ...previous, loading: true }));
    try {
      const data = await api<T>(current.path, { ...current.options, signal });
      if (request === current.request) setState({ data, error: null, loading: false });
    } catch (error) {
      if (request === current.request && !signal?.aborted) setState((previous) => ({ ...previous, error, loading: false }));
    }
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    fetchNow(controller.signal);
    return () => controller.abort();
  }, [path]);

  const reload = useCallback(() => fetchNow(), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export interface Workspace {
  id: string;
  tenant_id: string;
  name: string;
}

const WORKSPACE_KEY = "vigil.workspace";
const workspaces = store<Workspace[] | null>(null);
const chosen = store<string>(localStorage.getItem(WORKSPACE_KEY) ?? "");

/** Loads the workspaces the user can read; the shell waits for this before showing pages. */
export async function loadWorkspaces(): Promise<Workspace[]> {
  const list = await api<Workspace[]>("/api/workspaces");
  workspaces.set(list);
  if (!list.some((w) => w.id === chosen.get())) chosen.set(list[0]?.id ?? "");
  return list;
}

export const useWorkspaces = (): Workspace[] | null => workspaces.use();

export function setWorkspace(id: string) {
  localStorage.setItem(WORKSPACE_KEY, id);
  chosen.set(id);
}

/** The workspace chosen in the top bar. */
export function useWorkspace(): { id: string; name: string } {
  const id = chosen.use();
  const list = workspaces.use();
  const found = list?.find((w) => w.id === id);
  return { id: found?.id ?? id, name: found?.name ?? "" };
}

/** `/api/workspaces/{ws}` + `rest`, for the chosen workspace. */
export function workspacePath(workspace: { id: string }, rest: string): string {
  return `/api/workspaces/${encodeURIComponent(workspace.id)}${rest}`;
}

export interface Me {
  tenant: { id: string; name: string };
  principal: { id: string; name: string };
  roles: { role: string; scope: string }[];
}

const me = store<Me | null>(null);

/** Who is signed in (`GET /api/me`); the shell loads it once per sign-in. */
export async function loadMe(): Promise<void> {
  me.set(await api<Me>("/api/me"));
}

export const useMe = (): Me | null => me.use();

/** A history or comment author as people know it: the signed-in principal's name, else the id. */
export function useActorName(): (actor: string) => string {
  const current = useMe();
  return (actor) => (current && actor === current.principal.id ? current.principal.name : actor);
}
