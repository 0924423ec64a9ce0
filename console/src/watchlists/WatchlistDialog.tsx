import { useId, useState } from "preact/hooks";
import { api, errorMessage } from "../api";
import { Dialog } from "../components/Dialog";
import { formatNumber, t } from "../i18n";
import { csvHeader, csvLineCount } from "./csv";
import type { Watchlist, WatchlistField } from "./model";
import { ALIAS, MAX_CSV_BYTES, refusedField, watchlistsPath } from "./model";

interface ChosenFile {
  name: string;
  text: string;
}

interface WatchlistDialogProps {
  workspace: string;
  /** The watchlist whose CSV is replaced; absent: a new one. */
  current?: Watchlist;
  existing: readonly string[];
  onSaved: (saved: Watchlist) => void;
  onClose: () => void;
}

/**
 * Creates a watchlist from a CSV file chosen in the browser, or replaces one's CSV, with Sentinel's
 * PUT body. The search key is picked from the file's header row; the server's refusal is shown next
 * to the field it names.
 */
export function WatchlistDialog({ workspace, current, existing, onSaved, onClose }: WatchlistDialogProps) {
  const ids = { alias: useId(), name: useId(), description: useId(), provider: useId(), file: useId(), skip: useId(), key: useId() };
  const [alias, setAlias] = useState(current?.alias ?? "");
  const [displayName, setDisplayName] = useState(current?.displayName ?? "");
  const [description, setDescription] = useState(current?.description ?? "");
  const [provider, setProvider] = useState(current?.provider || "Custom");
  const [file, setFile] = useState<ChosenFile | null>(null);
  const [skip, setSkip] = useState(0);
  const [searchKey, setSearchKey] = useState(current?.itemsSearchKey ?? "");
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Partial<Record<WatchlistField | "general", string>>>({});

  const header = file ? csvHeader(file.text, skip) : [];
  const keyChoices = header.filter((column) => column !== "");
  const replacing = current !== undefined;

  async function choose(chosen: File | undefined) {
    if (!chosen) return;
    if (chosen.size > MAX_CSV_BYTES) {
      setFile(null);
      setErrors({ file: t("watchlists.error.tooLarge", { name: chosen.name, max: formatNumber(MAX_CSV_BYTES) }) });
      return;
    }
    const text = await chosen.text();
    setFile({ name: chosen.name, text });
    setErrors({});
    // The search key stays when the new file has that column; otherwise the first column is offered.
    const columns = csvHeader(text, skip);
    if (!columns.includes(searchKey)) setSearchKey(columns[0] ?? "");
    if (!replacing && !alias) setAlias(chosen.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^[-_]+/, "").slice(0, 100));
    if (!displayName) setDisplayName(chosen.name.replace(/\.[^.]*$/, ""));
  }

  function problems(): Partial<Record<WatchlistField, string>> {
    const found: Partial<Record<WatchlistField, string>> = {};
    if (!ALIAS.test(alias)) found.alias = t("watchlists.error.alias");
    else if (!replacing && existing.includes(alias)) found.alias = t("watchlists.error.aliasTaken", { alias });
    if (!file) found.file = t("watchlists.error.noFile");
    else if (keyChoices.length === 0) found.file = t("watchlists.error.noHeader");
    if (file && !keyChoices.includes(searchKey)) found.searchKey = t("watchlists.error.searchKey");
    return found;
  }

  async function save() {
    const found = problems();
    setErrors(found);
    if (Object.keys(found).length || !file) return;
    setBusy(true);
    try {
      const saved = await api<Watchlist>(watchlistsPath(workspace, alias), {
        method: "PUT",
        body: {
          properties: {
            displayName: displayName.trim() || alias,
            description,
            provider: provider.trim() || "Custom",
            source: file.name,
            itemsSearchKey: searchKey,
            rawContent: file.text,
            numberOfLinesToSkip: skip,
            contentType: "text/csv",
            labels: current?.labels ?? [],
          },
        },
      });
      onSaved(saved);
    } catch (failure) {
      const field = refusedField(failure);
      setErrors({ [field ?? "general"]: errorMessage(failure) });
      setBusy(false);
    }
  }

  const errorOf = (field: WatchlistField) =>
    errors[field] ? (
      <div class="field-error" id={`${ids[fieldId(field)]}-error`} role="alert" data-field={field}>
        {errors[field]}
      </div>
    ) : null;
  const described = (field: WatchlistField) => (errors[field] ? `${ids[fieldId(field)]}-error` : undefined);

  return (
    <Dialog
      wide
      title={replacing ? t("watchlists.replaceTitle", { name: current.displayName }) : t("watchlists.newTitle")}
      onClose={onClose}
      actions={
        <button type="button" class="btn btn-primary" data-testid="watchlist-save" disabled={busy} onClick={save}>
          {replacing ? t("watchlists.replace") : t("watchlists.create")}
        </button>
      }
    >
      <div class="form-grid watchlist-form">
        <div class="field">
          <label for={ids.alias}>{t("watchlists.field.alias")}</label>
          <input
            id={ids.alias}
            class="mono"
            data-testid="watchlist-alias"
            value={alias}
            readOnly={replacing}
            required
            aria-invalid={!!errors.alias}
            aria-describedby={described("alias")}
            onInput={(e) => setAlias(e.currentTarget.value)}
          />
          <span class="field-hint">{t("watchlists.field.aliasHint")}</span>
          {errorOf("alias")}
        </div>
        <div class="field">
          <label for={ids.name}>{t("watchlists.field.displayName")}</label>
          <input
            id={ids.name}
            data-testid="watchlist-display-name"
            value={displayName}
            aria-invalid={!!errors.displayName}
            aria-describedby={described("displayName")}
            onInput={(e) => setDisplayName(e.currentTarget.value)}
          />
          {errorOf("displayName")}
        </div>
        <div class="field wide">
          <label for={ids.description}>{t("watchlists.field.description")}</label>
          <textarea
            id={ids.description}
            rows={2}
            data-testid="watchlist-description"
            value={description}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
          {errorOf("description")}
        </div>
        <div class="field">
          <label for={ids.provider}>{t("watchlists.field.provider")}</label>
          <input id={ids.provider} value={provider} onInput={(e) => setProvider(e.currentTarget.value)} />
          {errorOf("provider")}
        </div>
        <div class="field wide">
          <label for={ids.file}>{t("watchlists.field.file")}</label>
          <input
            id={ids.file}
            type="file"
            accept=".csv,text/csv"
            data-testid="watchlist-file"
            aria-invalid={!!errors.file}
            aria-describedby={described("file")}
            onChange={(e) => choose(e.currentTarget.files?.[0])}
          />
          {file && (
            <span class="field-hint" data-testid="watchlist-file-summary">
              {t("watchlists.field.fileSummary", { name: file.name, lines: csvLineCount(file.text), columns: keyChoices.length })}
            </span>
          )}
          {errorOf("file")}
        </div>
        <div class="field">
          <label for={ids.skip}>{t("watchlists.field.skip")}</label>
          <input
            id={ids.skip}
            type="number"
            min={0}
            step={1}
            data-testid="watchlist-skip"
            value={skip}
            aria-invalid={!!errors.skip}
            aria-describedby={described("skip")}
            onInput={(e) => {
              const next = Math.max(0, Math.floor(Number(e.currentTarget.value) || 0));
              setSkip(next);
              const columns = file ? csvHeader(file.text, next) : [];
              if (file && !columns.includes(searchKey)) setSearchKey(columns[0] ?? "");
            }}
          />
          <span class="field-hint">{t("watchlists.field.skipHint")}</span>
          {errorOf("skip")}
        </div>
        <div class="field">
          <label for={ids.key}>{t("watchlists.field.searchKey")}</label>
          <select
            id={ids.key}
            data-testid="watchlist-search-key"
            value={searchKey}
            disabled={keyChoices.length === 0}
            aria-invalid={!!errors.searchKey}
            aria-describedby={described("searchKey")}
            onChange={(e) => setSearchKey(e.currentTarget.value)}
          >
            {keyChoices.length === 0 && <option value={searchKey}>{searchKey || t("watchlists.field.chooseFile")}</option>}
            {keyChoices.map((column) => (
              <option key={column} value={column}>
                {column}
              </option>
            ))}
          </select>
          <span class="field-hint">{t("watchlists.field.searchKeyHint")}</span>
          {errorOf("searchKey")}
        </div>
      </div>
      {errors.general && (
        <div class="field-error" role="alert" data-field="general">
          {errors.general}
        </div>
      )}
    </Dialog>
  );
}

const fieldId = (field: WatchlistField): "alias" | "name" | "description" | "provider" | "file" | "skip" | "key" =>
  field === "displayName" ? "name" : field === "searchKey" ? "key" : field;
