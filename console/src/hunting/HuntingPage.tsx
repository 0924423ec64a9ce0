import { useEffect, useRef, useState } from "preact/hooks";
import { useApi, useWorkspace } from "../api";
import { useCanWrite } from "../app/roles";
import { navigate, useRoute, withQuery } from "../app/router";
import { t, useLocale } from "../i18n";
import type { KqlEditorHandle } from "./KqlEditor";
import { KqlEditor } from "./KqlEditor";
import { isAbort, queryFailure, runQuery } from "./query";
import type { RunState } from "./ResultsPane";
import { ResultsPane } from "./ResultsPane";
import type { SavedQuery } from "./SavedQueries";
import { SavedQueryList, SaveQueryDialog, savedQueriesPath } from "./SavedQueries";
import type { SavedFunction } from "./Functions";
import { FunctionDialog, FunctionList, functionsPath } from "./Functions";
import { DEFAULT_TIMESPAN } from "./timeRange";
import { TimeRangePicker } from "./TimeRangePicker";
import "./hunting.css";

// The text survives leaving the page for an incident and coming back, as a Logs tab does.
const DRAFT_KEY = "vigil.hunting.draft";

/** `/hunting?q=<kql>&t=<timespan>`: the KQL editor, its results and the saved queries. */
export function HuntingPage() {
  useLocale();
  const route = useRoute();
  const workspace = useWorkspace();
  const editor = useRef<KqlEditorHandle | null>(null);
  const [initialText] = useState(() => route.query.q ?? sessionStorage.getItem(DRAFT_KEY) ?? "");
  const [timespan, setTimespan] = useState(route.query.t || DEFAULT_TIMESPAN);
  const [run, setRun] = useState<RunState>({ status: "idle" });
  const [showSaved, setShowSaved] = useState(true);
  // The side panel's tab, as the Logs blade has Queries and Functions side by side.
  const [sideTab, setSideTab] = useState<"queries" | "functions">(route.query.fn !== undefined ? "functions" : "queries");
  // The function open in its dialog: a saved one, "new", or none.
  const [openFunction, setOpenFunction] = useState<SavedFunction | "new" | null>(null);
  const writable = useCanWrite();
  const [saving, setSaving] = useState(false);
  const [loaded, setLoaded] = useState<SavedQuery | null>(null);
  const saved = useApi<SavedQuery[]>(workspace.id ? savedQueriesPath(workspace.id) : null);
  const functions = useApi<{ value: SavedFunction[] }>(workspace.id ? functionsPath(workspace.id) : null);
  const inFlight = useRef<AbortController | null>(null);
  // The q/t this page last ran, so that its own URL updates do not run the query again.
  const ran = useRef<string | null>(null);

  /** `replace`: the URL already names this query, so history gains no duplicate entry. */
  async function execute(text: string, span: string, replace = false) {
    if (!text.trim()) return;
    inFlight.current?.abort();
    const controller = new AbortController();
    inFlight.current = controller;
    const url = withQuery("/hunting", { q: text, t: span });
    ran.current = url;
    navigate(url, { replace });
    setRun({ status: "running" });
    const started = performance.now();
    try {
      const response = await runQuery(workspace.id, text, span, controller.signal);
      if (!controller.signal.aborted) setRun({ status: "done", response, ms: performance.now() - started });
    } catch (error) {
      if (controller.signal.aborted || isAbort(error)) return;
      const failure = queryFailure(error);
      setRun({ status: "failed", failure, ms: performance.now() - started });
      if (failure.line && failure.pos) editor.current?.markError(text, failure.line, failure.pos, failure.summary);
    }
  }

  const runNow = () => execute(editor.current?.text() ?? "", timespan);

  function cancel() {
    inFlight.current?.abort();
    setRun({ status: "idle" });
  }

  // A link (from an incident, or history navigation) with a query opens and runs it.
  useEffect(() => {
    const { q, t: span = DEFAULT_TIMESPAN } = route.query;
    if (q === undefined) return;
    const url = withQuery("/hunting", { q, t: span });
    if (url === ran.current) return;
    if (editor.current && editor.current.text() !== q) editor.current.setText(q);
    setTimespan(span);
    execute(q, span, true);
  }, [route.query.q, route.query.t]);

  useEffect(() => () => inFlight.current?.abort(), []);

  function load(query: SavedQuery) {
    editor.current?.setText(query.query);
    editor.current?.focus();
    setLoaded(query);
  }

  return (
    <div class="hunt">
      <div class="hunt-main">
        <header class="hunt-toolbar">
          <h1 class="hunt-title">{t("hunting.title")}</h1>
          <button type="button" class="btn btn-primary" data-testid="run-query" onClick={runNow} title="Ctrl+Enter">
            ▶ {t("hunting.run")}
          </button>
          {run.status === "running" && (
            <button type="button" class="btn" onClick={cancel}>
              {t("hunting.cancel")}
            </button>
          )}
          <TimeRangePicker key={timespan} value={timespan} onChange={setTimespan} />
          <span class="hunt-spacer" />
          {loaded && <span class="hunt-loaded muted">{loaded.name}</span>}
          <button type="button" class="btn" onClick={() => setSaving(true)}>
            {t("hunting.save")}
          </button>
          <button
            type="button"
            class="btn"
            aria-pressed={showSaved}
            onClick={() => setShowSaved((shown) => !shown)}
          >
            {t("hunting.side.title")}
          </button>
        </header>
        <div class="hunt-editor-wrap">
          <KqlEditor
            initialText={initialText}
            workspace={workspace.id}
            onRun={runNow}
            onChange={(text) => sessionStorage.setItem(DRAFT_KEY, text)}
            handle={editor}
          />
        </div>
        <p class="hunt-hint muted">{t("hunting.hint")}</p>
        <section class="hunt-results-wrap" aria-label={t("hunting.results")}>
          <ResultsPane state={run} />
        </section>
      </div>
      {showSaved && (
        <aside class="hunt-saved panel" aria-label={t("hunting.side.title")}>
          <div class="tabs hunt-side-tabs" role="tablist">
            <button
              type="button"
              role="tab"
              id="hunt-tab-queries"
              aria-controls="hunt-side-panel"
              aria-selected={sideTab === "queries"}
              data-testid="hunting-tab-queries"
              onClick={() => setSideTab("queries")}
            >
              {t("hunting.saved.title")}
            </button>
            <button
              type="button"
              role="tab"
              id="hunt-tab-functions"
              aria-controls="hunt-side-panel"
              aria-selected={sideTab === "functions"}
              data-testid="hunting-tab-functions"
              onClick={() => setSideTab("functions")}
            >
              {t("hunting.functions.title")}
            </button>
          </div>
          <div
            class="hunt-saved-body"
            id="hunt-side-panel"
            role="tabpanel"
            aria-labelledby={sideTab === "queries" ? "hunt-tab-queries" : "hunt-tab-functions"}
          >
            {sideTab === "queries" ? (
              <SavedQueryList
                workspace={workspace.id}
                queries={saved.data}
                loading={saved.loading}
                error={saved.error}
                activeId={loaded?.id ?? null}
                onLoad={load}
                onDeleted={saved.reload}
              />
            ) : (
              <>
                {writable && (
                  <button type="button" class="btn btn-small hunt-function-new" data-testid="function-new" onClick={() => setOpenFunction("new")}>
                    {t("hunting.functions.new")}
                  </button>
                )}
                <FunctionList
                  workspace={workspace.id}
                  functions={functions.data?.value}
                  loading={functions.loading}
                  error={functions.error}
                  onOpen={setOpenFunction}
                />
              </>
            )}
          </div>
        </aside>
      )}
      {openFunction && (
        <FunctionDialog
          workspace={workspace.id}
          fn={openFunction === "new" ? undefined : openFunction}
          writable={writable}
          existing={(functions.data?.value ?? []).map((f) => f.name)}
          onInsert={(text) => {
            setOpenFunction(null);
            editor.current?.insert(text);
          }}
          onSaved={(fn) => {
            setOpenFunction(fn);
            functions.reload();
          }}
          onDeleted={() => {
            setOpenFunction(null);
            functions.reload();
          }}
          onClose={() => setOpenFunction(null)}
        />
      )}
      {saving && (
        <SaveQueryDialog
          workspace={workspace.id}
          query={editor.current?.text() ?? ""}
          current={loaded}
          onSaved={(query) => {
            setLoaded(query);
            setSaving(false);
            saved.reload();
          }}
          onClose={() => setSaving(false)}
        />
      )}
    </div>
  );
}
