import { useRef, useState } from "preact/hooks";
import { api, errorMessage, useApi, useWorkspace } from "../api";
import { navigate } from "../app/router";
import { Empty, ErrorBanner, Loading, PageHeader } from "../components/Feedback";
import { Time } from "../components/Time";
import { t, useLocale } from "../i18n";
import { parseNotebook } from "./JsonEditor";
import type { Notebook } from "./model";
import { SaveAsDialog, workbookPath } from "./SaveAsDialog";
import "./workbooks.css";

interface WorkbookSummary {
  name: string;
  displayName: string;
  updated: string;
}

/** What "New" starts from: a heading, which also becomes the workbook's display name. */
const blank = (): Notebook => ({
  version: "Notebook/1.0",
  items: [{ type: 1, name: "text - 0", content: { json: `## ${t("workbooks.newTitle")}` } }],
});

/** A file name made into a workbook name the server accepts. */
const nameFromFile = (file: string) =>
  file.replace(/\.json$/i, "").replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 128) || "workbook";

type Pending = { kind: "new"; notebook: Notebook } | { kind: "import"; notebook: Notebook; name: string };

/** `/workbooks`: the workspace's workbooks, with import and new. */
export function WorkbooksPage() {
  useLocale();
  const workspace = useWorkspace();
  const list = useApi<WorkbookSummary[]>(workbookPath(workspace.id));
  const file = useRef<HTMLInputElement>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const [failure, setFailure] = useState("");
  const names = (list.data ?? []).map((w) => w.name);

  async function importFile(chosen: File) {
    const parsed = parseNotebook(await chosen.text());
    if ("problem" in parsed) {
      setFailure(t("workbooks.importFailed", { file: chosen.name, problem: parsed.problem }));
      return;
    }
    setFailure("");
    setPending({ kind: "import", notebook: parsed.notebook, name: nameFromFile(chosen.name) });
  }

  async function remove(workbook: WorkbookSummary) {
    if (!confirm(t("workbooks.confirmDelete", { name: workbook.displayName }))) return;
    try {
      await api(workbookPath(workspace.id, workbook.name), { method: "DELETE" });
      list.reload();
    } catch (e) {
      setFailure(errorMessage(e));
    }
  }

  return (
    <div class="page">
      <PageHeader title={t("workbooks.title")}>
        <input
          ref={file}
          type="file"
          accept=".json,application/json"
          hidden
          onChange={(e) => {
            const chosen = e.currentTarget.files?.[0];
            e.currentTarget.value = "";
            if (chosen) importFile(chosen);
          }}
        />
        <button type="button" class="btn" onClick={() => file.current?.click()}>
          {t("workbooks.import")}
        </button>
        <button type="button" class="btn btn-primary" onClick={() => setPending({ kind: "new", notebook: blank() })}>
          {t("workbooks.new")}
        </button>
      </PageHeader>
      {failure && (
        <div class="banner banner-error" role="alert">
          {failure}
        </div>
      )}
      <ErrorBanner error={list.error} />
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.length === 0 && <Empty>{t("workbooks.empty")}</Empty>}
      {list.data && list.data.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th>{t("workbooks.column.title")}</th>
                <th>{t("workbooks.column.name")}</th>
                <th>{t("workbooks.column.updated")}</th>
                <th>
                  <span class="visually-hidden">{t("workbooks.column.actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((w) => (
                <tr key={w.name}>
                  <td>
                    <a href={`/workbooks/${encodeURIComponent(w.name)}`} data-testid="workbook-link" data-name={w.name}>
                      {w.displayName}
                    </a>
                  </td>
                  <td class="mono">{w.name}</td>
                  <td>
                    <Time value={w.updated} />
                  </td>
                  <td class="num">
                    <button
                      type="button"
                      class="btn btn-small btn-danger"
                      onClick={() => remove(w)}
                      aria-label={t("workbooks.deleteNamed", { name: w.displayName })}
                    >
                      {t("workbooks.delete")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {pending && (
        <SaveAsDialog
          workspace={workspace.id}
          title={pending.kind === "new" ? t("workbooks.new") : t("workbooks.import")}
          initialName={pending.kind === "new" ? "new-workbook" : pending.name}
          notebook={pending.notebook}
          existing={names}
          onSaved={(name) =>
            navigate(`/workbooks/${encodeURIComponent(name)}${pending.kind === "new" ? "?edit=1" : ""}`)
          }
          onClose={() => setPending(null)}
        />
      )}
    </div>
  );
}
