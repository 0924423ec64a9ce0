import { useEffect, useMemo, useState } from "preact/hooks";
import { api, errorMessage, useApi, useWorkspace, useWorkspaces } from "../api";
import { navigate, useRoute } from "../app/router";
import { ErrorBanner, Loading, PageHeader } from "../components/Feedback";
import { t, useLocale } from "../i18n";
import type { WorkbookState } from "./context";
import { WorkbookContext } from "./context";
import { ItemList } from "./ItemList";
import { JsonEditor, parseNotebook } from "./JsonEditor";
import type { Notebook, ParametersContent, TextContent } from "./model";
import { ItemType, walkItems } from "./model";
import type { ParamEntry } from "./params";
import { declaredParams, initialParams, ParamType, plainValue } from "./params";
import { SaveAsDialog, workbookPath } from "./SaveAsDialog";
import "./workbooks.css";

/** The first markdown heading of the first text item, as the server names workbooks. */
export function displayName(name: string, notebook: Notebook | undefined): string {
  const text = notebook?.items.find((item) => item.type === ItemType.text)?.content as TextContent | undefined;
  const heading = text?.json?.split("\n").find((line) => line.trim().startsWith("#"));
  return heading?.replace(/^\s*#+/, "").trim() || name;
}

/** The name of the workbook's workspace picker (an Azure resource parameter), if it has one. */
function workspaceParam(notebook: Notebook): string | undefined {
  for (const item of walkItems(notebook.items)) {
    if (item.type !== ItemType.parameters) continue;
    const found = (item.content as ParametersContent).parameters?.find((p) => p.type === ParamType.resource);
    if (found) return found.name;
  }
  return undefined;
}

/** `/workbooks/:name`: an Azure Workbooks Notebook/1.0 rendered with Vigil's data. */
export function WorkbookPage({ name }: { name: string }) {
  useLocale();
  const route = useRoute();
  const workspace = useWorkspace();
  const workspaces = useWorkspaces() ?? [];
  const loaded = useApi<Notebook>(workbookPath(workspace.id, name));
  const [saved, setSaved] = useState<Notebook | null>(null);
  // What was saved here stands in for the server's copy until that is fetched again.
  useEffect(() => setSaved(null), [loaded.data]);
  const notebook = saved ?? loaded.data;
  const [overrides, setOverrides] = useState<{ source?: Notebook; values: Record<string, ParamEntry> }>({ values: {} });
  const [generation, setGeneration] = useState(0);
  const [now, setNow] = useState(() => Date.now());
  const [draft, setDraft] = useState<string | null>(null);
  const [savingAs, setSavingAs] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState("");

  const initial = useMemo(() => (notebook ? initialParams(notebook.items, workspace) : {}), [notebook]);
  const declared = useMemo(() => (notebook ? declaredParams(notebook.items) : new Set<string>()), [notebook]);
  // Parameter choices belong to one version of the workbook; a saved edit starts from its defaults.
  const params = { ...initial, ...(overrides.source === notebook ? overrides.values : {}) };
  const setParam = (param: string, entry: ParamEntry) => {
    // A newly chosen time range is taken back from now, as the portal does.
    if (entry.value.kind === "time") setNow(Date.now());
    setOverrides((o) => ({ source: notebook, values: { ...(o.source === notebook ? o.values : {}), [param]: entry } }));
  };

  const pickerParam = notebook ? workspaceParam(notebook) : undefined;
  const picked = pickerParam ? plainValue(params[pickerParam]) : "";
  const state: WorkbookState = {
    params,
    setParam,
    workspaces,
    declared,
    now,
    workspace: workspaces.some((w) => w.id === picked) ? picked : workspace.id,
    generation,
  };

  // A new workbook opens with `?edit=1`, straight into its JSON.
  useEffect(() => {
    if (route.query.edit === "1" && loaded.data && draft === null) setDraft(JSON.stringify(loaded.data, null, 2));
  }, [loaded.data]);

  async function save(next: Notebook) {
    setBusy(true);
    try {
      await api(workbookPath(workspace.id, name), { method: "PUT", body: next });
      setSaved(next);
      setDraft(null);
      setFailure("");
      leaveEditUrl();
    } catch (e) {
      setFailure(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  function leaveEditUrl() {
    if (route.query.edit) navigate(`/workbooks/${encodeURIComponent(name)}`, { replace: true });
  }

  function stopEditing() {
    setDraft(null);
    setFailure("");
    leaveEditUrl();
  }

  // Save as takes the JSON being edited when it is a valid workbook, else the one shown.
  const draftNotebook = draft !== null ? parseNotebook(draft) : null;
  const saveAsSource = draftNotebook && "notebook" in draftNotebook ? draftNotebook.notebook : notebook;

  return (
    <div class="page wb-page">
      <PageHeader title={displayName(name, notebook ?? undefined)}>
        <a href="/workbooks" class="btn">
          {t("workbooks.backToList")}
        </a>
        <button type="button" class="btn" onClick={() => {
            setNow(Date.now());
            setGeneration((g) => g + 1);
          }} disabled={!notebook}>
          {t("workbooks.refresh")}
        </button>
        <button
          type="button"
          class="btn"
          aria-pressed={draft !== null}
          disabled={!notebook}
          onClick={() => (draft !== null ? stopEditing() : setDraft(JSON.stringify(notebook, null, 2)))}
        >
          {t("workbooks.editJson")}
        </button>
        <button type="button" class="btn" disabled={!saveAsSource} onClick={() => setSavingAs(true)}>
          {t("workbooks.saveAs")}
        </button>
      </PageHeader>
      {loaded.error !== null && loaded.error !== undefined && !saved && <ErrorBanner error={loaded.error} />}
      {!notebook && loaded.loading && <Loading />}
      {draft !== null && (
        <JsonEditor
          text={draft}
          onChange={setDraft}
          onSave={save}
          onCancel={stopEditing}
          busy={busy}
          failure={failure}
        />
      )}
      {notebook && (
        <WorkbookContext.Provider value={state}>
          <div class="wb-body">
            <ItemList items={notebook.items} />
          </div>
        </WorkbookContext.Provider>
      )}
      {savingAs && saveAsSource && (
        <SaveAsDialog
          workspace={workspace.id}
          title={t("workbooks.saveAs")}
          initialName={`${name}-copy`}
          notebook={saveAsSource}
          onSaved={(saved) => navigate(`/workbooks/${encodeURIComponent(saved)}`)}
          onClose={() => setSavingAs(false)}
        />
      )}
    </div>
  );
}
