import { useActorName } from "../api";
import { hasMessage, t } from "../i18n";
import { valueLabel } from "../components/labels";
import { SeverityChip } from "../components/SeverityChip";
import { Time } from "../components/Time";
import type { Incident } from "./types";

interface Item {
  at: string;
  key: string;
  actor: string;
  what: string;
  detail?: string;
  severity?: string;
  kind: "history" | "comment" | "alert";
}

// History details of these actions are "old → new" in the server's enum values.
const VALUE_KINDS: Record<string, string> = {
  StatusChanged: "status",
  SeverityChanged: "severity",
  ClassificationChanged: "classification",
  ClassificationReasonChanged: "determination",
};

/** "old → new" details with "(none)" and the server's enum values in the user's language. */
function historyDetail(action: string, detail: string): string {
  if (!detail.includes(" → ")) return detail;
  const kind = VALUE_KINDS[action];
  return detail
    .split(" → ")
    .map((value) => {
      if (value === "(none)" || value.trim() === "") return t("common.none");
      return kind ? valueLabel(kind, value) : value;
    })
    .join(" → ");
}

function actionLabel(action: string): string {
  const key = `value.history.${action}`;
  return hasMessage(key) ? t(key) : action;
}

/**
 * History, comments and alerts in one list, newest first. Comments and alerts come from their
 * own lists (with author and severity), so their history entries are left out.
 */
function items(incident: Incident): Item[] {
  const history: Item[] = (incident.history ?? [])
    .filter((entry) => entry.action !== "CommentAdded" && entry.action !== "AlertAdded")
    .map((entry, index) => ({
      at: entry.at,
      key: `h${index}`,
      actor: entry.actor,
      what: actionLabel(entry.action),
      detail: historyDetail(entry.action, entry.detail),
      kind: "history",
    }));
  const comments: Item[] = incident.comments.map((comment, index) => ({
    at: comment.createdTime,
    key: `c${index}`,
    actor: comment.createdBy,
    what: t("incident.timeline.comment"),
    detail: comment.comment,
    kind: "comment",
  }));
  const alerts: Item[] = incident.alerts.map((alert) => ({
    at: alert.creationTime,
    key: `a${alert.alertId}`,
    actor: "",
    what: t("incident.timeline.alert"),
    detail: alert.title,
    severity: alert.severity,
    kind: "alert",
  }));
  return [...history, ...comments, ...alerts].sort((a, b) => b.at.localeCompare(a.at));
}

export function Timeline({ incident }: { incident: Incident }) {
  const actorName = useActorName();
  return (
    <ol class="timeline" data-testid="incident-history" aria-label={t("incident.timeline")}>
      {items(incident).map((item) => (
        <li key={item.key} class={`timeline-item timeline-${item.kind}`}>
          <div class="timeline-meta">
            <Time value={item.at} />
            {item.actor && (
              <span class="muted timeline-actor" title={item.actor}>
                {actorName(item.actor)}
              </span>
            )}
          </div>
          <div class="timeline-what">
            <strong>{item.what}</strong>
            {item.severity && <SeverityChip value={item.severity} />}
          </div>
          {item.detail && <div class="timeline-detail">{item.detail}</div>}
        </li>
      ))}
    </ol>
  );
}
