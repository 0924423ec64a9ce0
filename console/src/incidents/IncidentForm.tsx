import { useState } from "preact/hooks";
import { api } from "../api";
import { ErrorBanner } from "../components/Feedback";
import { SEVERITIES, valueLabel } from "../components/labels";
import { t } from "../i18n";
import { TagsEditor } from "./TagsEditor";
import {
  CLASSIFICATIONS,
  DETERMINATIONS,
  PATCH_CLASSIFICATION,
  PATCH_STATUS,
  STATUSES,
  type Classification,
  type Incident,
  type Status,
} from "./types";

interface Draft {
  status: Status;
  severity: string;
  owner: string;
  tags: string[];
  classification: Classification;
  determination: string;
  closingComment: string;
}

function draftOf(incident: Incident): Draft {
  return {
    status: (STATUSES as readonly string[]).includes(incident.incidentStatus) ? (incident.incidentStatus as Status) : "New",
    severity: incident.severity,
    owner: incident.assignedTo ?? "",
    tags: incident.tags,
    // Closing asks why, as Sentinel does; Undetermined until the analyst says otherwise.
    classification: (incident.sentinelClassification as Classification | null) ?? "Undetermined",
    determination: incident.determination || "NotAvailable",
    closingComment: "",
  };
}

/** Only what changed, in the Defender vocabulary `PATCH /api/incidents/{id}` takes. */
function patchOf(incident: Incident, draft: Draft): Record<string, unknown> {
  const original = draftOf(incident);
  const patch: Record<string, unknown> = {};
  if (draft.status !== original.status) patch.status = PATCH_STATUS[draft.status];
  if (draft.severity !== original.severity) patch.severity = draft.severity;
  if (draft.owner.trim() !== original.owner) patch.assignedTo = draft.owner.trim() || null;
  if (draft.tags.join("\n") !== original.tags.join("\n")) patch.tags = draft.tags;
  if (draft.status === "Closed") {
    const closingNow = original.status !== "Closed";
    if (closingNow || draft.classification !== original.classification) {
      patch.classification = PATCH_CLASSIFICATION[draft.classification];
    }
    if (closingNow || draft.determination !== original.determination) patch.determination = draft.determination;
    if (draft.closingComment.trim()) patch.comment = draft.closingComment.trim();
  }
  return patch;
}

export function IncidentForm({ incident, onSaved }: { incident: Incident; onSaved: () => Promise<void> }) {
  const [draft, setDraft] = useState(() => draftOf(incident));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const set = (change: Partial<Draft>) => {
    setSaved(false);
    setDraft((current) => ({ ...current, ...change }));
  };
  const patch = patchOf(incident, draft);
  const closing = draft.status === "Closed";

  const save = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api(`/api/incidents/${incident.incidentId}`, { method: "PATCH", body: patch });
      await onSaved();
      setDraft((current) => ({ ...current, closingComment: "" }));
      setSaved(true);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="panel" onSubmit={save} aria-labelledby="incident-manage">
      <h2 id="incident-manage">{t("incident.manage")}</h2>
      <div class="panel-body stack">
        <div class="form-grid two">
          <div class="field">
            <label for="incident-status">{t("common.status")}</label>
            <select
              id="incident-status"
              data-testid="incident-status"
              value={draft.status}
              onChange={(event) => set({ status: event.currentTarget.value as Status })}
            >
              {STATUSES.map((status) => (
                <option key={status} value={status}>
                  {valueLabel("status", status)}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="incident-severity">{t("common.severity")}</label>
            <select
              id="incident-severity"
              value={draft.severity}
              onChange={(event) => set({ severity: event.currentTarget.value })}
            >
              {SEVERITIES.map((severity) => (
                <option key={severity} value={severity}>
                  {valueLabel("severity", severity)}
                </option>
              ))}
            </select>
          </div>
        </div>
        <div class="field">
          <label for="incident-owner">{t("incident.owner")}</label>
          <input
            id="incident-owner"
            data-testid="incident-owner"
            value={draft.owner}
            placeholder={t("incidents.unassigned")}
            autocomplete="email"
            onInput={(event) => set({ owner: event.currentTarget.value })}
          />
        </div>
        {closing && (
          <fieldset class="closing">
            <legend>{t("incident.closing")}</legend>
            <div class="field">
              <label for="incident-classification">{t("incident.classification")}</label>
              <select
                id="incident-classification"
                value={draft.classification}
                onChange={(event) => set({ classification: event.currentTarget.value as Classification })}
              >
                {CLASSIFICATIONS.map((classification) => (
                  <option key={classification} value={classification}>
                    {valueLabel("classification", classification)}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="incident-determination">{t("incident.determination")}</label>
              <select
                id="incident-determination"
                value={draft.determination}
                onChange={(event) => set({ determination: event.currentTarget.value })}
              >
                {DETERMINATIONS.map((determination) => (
                  <option key={determination} value={determination}>
                    {valueLabel("determination", determination)}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="incident-closing-comment">{t("incident.closingComment")}</label>
              <textarea
                id="incident-closing-comment"
                rows={2}
                value={draft.closingComment}
                onInput={(event) => set({ closingComment: event.currentTarget.value })}
              />
            </div>
          </fieldset>
        )}
        <div class="field">
          <label for="incident-tags">{t("incident.tags")}</label>
          <TagsEditor id="incident-tags" tags={draft.tags} onChange={(tags) => set({ tags })} />
        </div>
        <ErrorBanner error={error} />
        <div class="inline">
          <button
            type="submit"
            class="btn btn-primary"
            data-testid="incident-save"
            disabled={busy || Object.keys(patch).length === 0}
          >
            {busy ? t("incident.saving") : t("common.save")}
          </button>
          <span class="muted" role="status">
            {saved ? t("incident.saved") : ""}
          </span>
        </div>
      </div>
    </form>
  );
}
