import { useState } from "preact/hooks";
import { api, errorMessage } from "../api";
import { Dialog } from "../components/Dialog";
import { Time } from "../components/Time";
import { t } from "../i18n";

export interface SavedQuery {
  id: string;
  name: string;
  query: string;
  description: string;
  updated: string;
}

export const savedQueriesPath = (workspace: string, id?: string) =>
  `/api/workspaces/${encodeURIComponent(workspace)}/savedQueries${id ? `/${encodeURIComponent(id)}` : ""}`;

interface SavedQueryListProps {
  workspace: string;
  queries: SavedQuery[] | undefined;
  loading: boolean;
  error: unknown;
  activeId: string | null;
  onLoad: (query: SavedQuery) => void;
  onDeleted: () => void;
}

/** The workspace's saved queries, to load into the editor or delete. */
export function SavedQueryList({ workspace, queries, loading, error, activeId, onLoad, onDeleted }: SavedQueryListProps) {
  const [filter, setFilter] = useState("");
  const [failure, setFailure] = useState("");
  const needle = filter.trim().toLowerCase();
  const shown = (queries ?? []).filter(
    (q) => !needle || q.name.toLowerCase().includes(needle) || q.description.toLowerCase().includes(needle),
  );

  async function remove(query: SavedQuery) {
    if (!confirm(t("hunting.saved.confirmDelete", { name: query.name }))) return;
    try {
      await api(savedQueriesPath(workspace, query.id), { method: "DELETE" });
      setFailure("");
      onDeleted();
    } catch (e) {
      setFailure(errorMessage(e));
    }
  }

  return (
    <>
        <input
          type="search"
          value={filter}
          placeholder={t("hunting.saved.filter")}
          aria-label={t("hunting.saved.filter")}
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
        {failure && <div class="field-error" role="alert">{failure}</div>}
        {error !== null && error !== undefined && <div class="field-error" role="alert">{errorMessage(error)}</div>}
        {loading && !queries && <div class="muted">{t("hunting.saved.loading")}</div>}
        {queries && shown.length === 0 && <div class="muted">{t("hunting.saved.empty")}</div>}
        <ul class="hunt-saved-list">
          {shown.map((q) => (
            <li key={q.id} class={q.id === activeId ? "active" : undefined}>
              <button type="button" class="hunt-saved-load" onClick={() => onLoad(q)} title={q.query}>
                <span class="hunt-saved-name">{q.name}</span>
                {q.description && <span class="hunt-saved-desc">{q.description}</span>}
                <span class="hunt-saved-time">
                  <Time value={q.updated} />
                </span>
              </button>
              <button
                type="button"
                class="btn btn-small btn-danger"
                onClick={() => remove(q)}
                aria-label={t("hunting.saved.deleteNamed", { name: q.name })}
                title={t("hunting.saved.delete")}
              >
                ✕
              </button>
            </li>
          ))}
        </ul>
    </>
  );
}

interface SaveDialogProps {
  workspace: string;
  query: string;
  /** The loaded saved query, which Save overwrites. */
  current: SavedQuery | null;
  onSaved: (saved: SavedQuery) => void;
  onClose: () => void;
}

export function SaveQueryDialog({ workspace, query, current, onSaved, onClose }: SaveDialogProps) {
  const [name, setName] = useState(current?.name ?? "");
  const [description, setDescription] = useState(current?.description ?? "");
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState("");

  async function save(asNew: boolean) {
    const id = !asNew && current ? current.id : crypto.randomUUID();
    setBusy(true);
    try {
      await api(savedQueriesPath(workspace, id), { method: "PUT", body: { name: name.trim(), query, description } });
      onSaved({ id, name: name.trim(), query, description, updated: new Date().toISOString() });
    } catch (e) {
      setFailure(errorMessage(e));
      setBusy(false);
    }
  }

  const canSave = name.trim() !== "" && query.trim() !== "" && !busy;
  return (
    <Dialog
      title={t("hunting.saved.saveTitle")}
      onClose={onClose}
      actions={
        <>
          {current && (
            <button type="button" class="btn" disabled={!canSave} onClick={() => save(true)}>
              {t("hunting.saved.saveAsNew")}
            </button>
          )}
          <button type="button" class="btn btn-primary" disabled={!canSave} onClick={() => save(false)}>
            {t("hunting.save")}
          </button>
        </>
      }
    >
      <div class="field">
        <label for="hunt-save-name">{t("hunting.saved.name")}</label>
        <input id="hunt-save-name" value={name} required onInput={(e) => setName(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="hunt-save-description">{t("hunting.saved.description")}</label>
        <textarea
          id="hunt-save-description"
          rows={3}
          value={description}
          onInput={(e) => setDescription(e.currentTarget.value)}
        />
      </div>
      {failure && <div class="field-error" role="alert">{failure}</div>}
    </Dialog>
  );
}
