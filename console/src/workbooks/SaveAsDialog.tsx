import { useId, useState } from "preact/hooks";
import { api, errorMessage } from "../api";
import { Dialog } from "../components/Dialog";
import { t } from "../i18n";
import type { Notebook } from "./model";

/** The server's rule for workbook names (crates/server/src/hunting.rs `valid_id`). */
const validName = (name: string) => /^[A-Za-z0-9._-]{1,128}$/.test(name);

export const workbookPath = (workspace: string, name?: string) =>
  `/api/workspaces/${encodeURIComponent(workspace)}/workbooks${name === undefined ? "" : `/${encodeURIComponent(name)}`}`;

interface SaveAsDialogProps {
  workspace: string;
  title: string;
  initialName: string;
  notebook: Notebook;
  /** Names already taken, so that saving asks before replacing one. */
  existing?: readonly string[];
  onSaved: (name: string) => void;
  onClose: () => void;
}

/** Asks for a name and PUTs the workbook under it. */
export function SaveAsDialog(props: SaveAsDialogProps) {
  const { workspace, title, initialName, notebook, existing = [], onSaved, onClose } = props;
  const id = useId();
  const [name, setName] = useState(initialName);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState("");
  const valid = validName(name);

  async function save() {
    if (existing.includes(name) && !confirm(t("workbooks.confirmReplace", { name }))) return;
    setBusy(true);
    try {
      await api(workbookPath(workspace, name), { method: "PUT", body: notebook });
      onSaved(name);
    } catch (e) {
      setFailure(errorMessage(e));
      setBusy(false);
    }
  }

  return (
    <Dialog
      title={title}
      onClose={onClose}
      actions={
        <button type="button" class="btn btn-primary" disabled={!valid || busy} onClick={save}>
          {t("workbooks.save")}
        </button>
      }
    >
      <div class="field">
        <label for={id}>{t("workbooks.name")}</label>
        <input
          id={id}
          class="code"
          value={name}
          aria-invalid={name !== "" && !valid}
          aria-describedby={`${id}-hint`}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <span id={`${id}-hint`} class="field-hint">
          {t("workbooks.nameHint")}
        </span>
      </div>
      {failure && (
        <div class="field-error" role="alert">
          {failure}
        </div>
      )}
    </Dialog>
  );
}
