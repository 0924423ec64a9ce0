import { useRef, useState } from "preact/hooks";
import { api, ApiError, errorMessage } from "../api";
import { Dialog } from "../components/Dialog";
import { t } from "../i18n";
import type { KqlEditorHandle } from "./KqlEditor";
import { KqlEditor } from "./KqlEditor";

/** A saved function (Log Analytics' saved search with a function alias), as the server lists it. */
export interface SavedFunction {
  name: string;
  aliases: string[];
  /** `a:string, b:int=1`, as Log Analytics writes `functionParameters`. */
  parameters: string;
  body: string;
  category: string;
  displayName: string;
  /** Where it came from: a parser file, a solution import, or REST. */
  source: string;
}

export const functionsPath = (workspace: string, name?: string) =>
  `/api/workspaces/${encodeURIComponent(workspace)}/functions${name === undefined ? "" : `/${encodeURIComponent(name)}`}`;

/** How a function is called: `Name` or `Name(a, b)`, the parameter names without types or defaults. */
export function callText(fn: Pick<SavedFunction, "name" | "parameters">): string {
  const names = splitParameters(fn.parameters).map((p) => p.split(":")[0].trim()).filter(Boolean);
  return names.length ? `${fn.name}(${names.join(", ")})` : fn.name;
}

/** Splits `a:string, b:dynamic=dynamic([1,2])` at the commas that are not inside brackets or quotes. */
function splitParameters(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote = "";
  let current = "";
  for (const c of text) {
    if (quote) {
      if (c === quote) quote = "";
    } else if (c === "'" || c === '"') quote = c;
    else if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
    else if (c === "," && depth === 0) {
      parts.push(current);
      current = "";
      continue;
    }
    current += c;
  }
  if (current.trim()) parts.push(current);
  return parts;
}

interface FunctionListProps {
  workspace: string;
  functions: SavedFunction[] | undefined;
  loading: boolean;
  error: unknown;
  onOpen: (fn: SavedFunction) => void;
}

/** The workspace's functions, as the Logs blade's Functions tab lists them. */
export function FunctionList({ functions, loading, error, onOpen }: FunctionListProps) {
  const [filter, setFilter] = useState("");
  const needle = filter.trim().toLowerCase();
  const shown = [...(functions ?? [])]
    .filter(
      (f) =>
        !needle ||
        f.name.toLowerCase().includes(needle) ||
        f.category.toLowerCase().includes(needle) ||
        f.aliases.some((a) => a.toLowerCase().includes(needle)),
    )
    .sort((a, b) => a.name.localeCompare(b.name));
  return (
    <>
      <input
        type="search"
        value={filter}
        placeholder={t("hunting.functions.filter")}
        aria-label={t("hunting.functions.filter")}
        onInput={(e) => setFilter(e.currentTarget.value)}
      />
      {error !== null && error !== undefined && <div class="field-error" role="alert">{errorMessage(error)}</div>}
      {loading && !functions && <div class="muted">{t("hunting.functions.loading")}</div>}
      {functions && shown.length === 0 && <div class="muted">{t("hunting.functions.empty")}</div>}
      <ul class="hunt-saved-list hunt-functions">
        {shown.map((f) => (
          <li key={f.name} data-testid="function-row" data-name={f.name}>
            <button type="button" class="hunt-saved-load" onClick={() => onOpen(f)} title={f.body}>
              <span class="hunt-saved-name saved-query-name">{f.name}</span>
              {f.parameters && <span class="hunt-function-params mono">({f.parameters})</span>}
              {/* The workspace's own words (category, source file): data, not interface text. */}
              <span class="hunt-saved-desc" translate={false}>
                {[f.category, f.source].filter(Boolean).join(" · ")}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </>
  );
}

interface FunctionDialogProps {
  workspace: string;
  /** The function shown; absent: a new one, straight into the form. */
  fn?: SavedFunction;
  writable: boolean;
  existing: readonly string[];
  onInsert: (text: string) => void;
  onSaved: (fn: SavedFunction) => void;
  onDeleted: () => void;
  onClose: () => void;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;

/**
 * A function's name, parameters, category and source with its body in the read-only KQL editor;
 * Contributors edit (name, parameters, body, category) or delete it.
 */
export function FunctionDialog({ workspace, fn, writable, existing, onInsert, onSaved, onDeleted, onClose }: FunctionDialogProps) {
  const [editing, setEditing] = useState(!fn);
  const [name, setName] = useState(fn?.name ?? "");
  const [parameters, setParameters] = useState(fn?.parameters ?? "");
  const [category, setCategory] = useState(fn?.category ?? "");
  const body = useRef<KqlEditorHandle | null>(null);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState("");
  const [nameProblem, setNameProblem] = useState("");

  async function save() {
    const text = body.current?.text() ?? "";
    if (!NAME.test(name)) return setNameProblem(t("hunting.functions.error.name"));
    if (!fn && existing.includes(name)) return setNameProblem(t("hunting.functions.error.taken", { name }));
    setNameProblem("");
    setBusy(true);
    try {
      const saved = await api<SavedFunction>(functionsPath(workspace, name), {
        method: "PUT",
        body: {
          body: text,
          parameters: parameters.trim(),
          category: category.trim(),
          displayName: fn?.displayName ?? "",
          aliases: fn?.aliases ?? [],
        },
      });
      setFailure("");
      setEditing(false);
      onSaved(saved);
    } catch (error) {
      // InvalidFunction: the body does not parse or bind; the server's message says where.
      setFailure(error instanceof ApiError ? `${error.code}: ${error.message}` : errorMessage(error));
    } finally {
      setBusy(false);
    }
  }

  async function remove() {
    if (!fn || !confirm(t("hunting.functions.confirmDelete", { name: fn.name }))) return;
    setBusy(true);
    try {
      await api(functionsPath(workspace, fn.name), { method: "DELETE" });
      onDeleted();
    } catch (error) {
      setFailure(errorMessage(error));
      setBusy(false);
    }
  }

  const actions = editing ? (
    <button type="button" class="btn btn-primary" data-testid="function-save" disabled={busy} onClick={save}>
      {t("hunting.functions.save")}
    </button>
  ) : (
    <>
      {fn && (
        <button type="button" class="btn" data-testid="function-insert" onClick={() => onInsert(callText(fn))}>
          {t("hunting.functions.insert")}
        </button>
      )}
      {writable && fn && (
        <>
          <button type="button" class="btn" data-testid="function-edit" onClick={() => setEditing(true)}>
            {t("hunting.functions.edit")}
          </button>
          <button type="button" class="btn btn-danger" data-testid="function-delete" disabled={busy} onClick={remove}>
            {t("hunting.functions.delete")}
          </button>
        </>
      )}
    </>
  );

  return (
    <Dialog wide title={fn ? fn.name : t("hunting.functions.newTitle")} onClose={onClose} actions={actions}>
      <div class="function-dialog" data-testid="function-dialog">
        {editing ? (
          <div class="form-grid">
            <div class="field">
              <label for="function-name">{t("hunting.functions.name")}</label>
              <input
                id="function-name"
                class="mono"
                data-testid="function-name"
                value={name}
                readOnly={!!fn}
                aria-invalid={!!nameProblem}
                aria-describedby={nameProblem ? "function-name-error" : undefined}
                onInput={(e) => setName(e.currentTarget.value)}
              />
              {nameProblem && (
                <div class="field-error" id="function-name-error" role="alert">
                  {nameProblem}
                </div>
              )}
            </div>
            <div class="field">
              <label for="function-category">{t("hunting.functions.category")}</label>
              <input id="function-category" data-testid="function-category" value={category} onInput={(e) => setCategory(e.currentTarget.value)} />
            </div>
            <div class="field wide">
              <label for="function-parameters">{t("hunting.functions.parameters")}</label>
              <input
                id="function-parameters"
                class="mono"
                data-testid="function-parameters"
                value={parameters}
                placeholder="starttime:datetime=datetime(null), user:string=''"
                onInput={(e) => setParameters(e.currentTarget.value)}
              />
              <span class="field-hint">{t("hunting.functions.parametersHint")}</span>
            </div>
          </div>
        ) : (
          fn && (
            <dl class="function-facts">
              <div>
                <dt>{t("hunting.functions.parameters")}</dt>
                <dd class="mono">{fn.parameters || "—"}</dd>
              </div>
              <div>
                <dt>{t("hunting.functions.category")}</dt>
                <dd>{fn.category || "—"}</dd>
              </div>
              <div>
                <dt>{t("hunting.functions.source")}</dt>
                <dd class="mono">{fn.source || "—"}</dd>
              </div>
              {fn.aliases.length > 0 && (
                <div>
                  <dt>{t("hunting.functions.aliases")}</dt>
                  <dd class="mono">{fn.aliases.join(", ")}</dd>
                </div>
              )}
            </dl>
          )
        )}
        <div class="field">
          <span class="label" id="function-body-label">
            {t("hunting.functions.body")}
          </span>
          <div class="hunt-editor-wrap function-body">
            {/* A new editor per mode: read-only to show, editable to change. */}
            <KqlEditor
              key={editing ? "edit" : "view"}
              initialText={fn?.body ?? ""}
              workspace={workspace}
              readOnly={!editing}
              lint={false}
              label={t("hunting.functions.body")}
              testId={editing ? "function-body" : "function-body-view"}
              handle={body}
            />
          </div>
        </div>
        {failure && (
          <div class="field-error" role="alert" data-testid="function-error">
            {failure}
          </div>
        )}
      </div>
    </Dialog>
  );
}
