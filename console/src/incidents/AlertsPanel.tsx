import { ResultsGrid } from "../grid/ResultsGrid";
import { t } from "../i18n";
import { valueLabel } from "../components/labels";
import { SeverityChip } from "../components/SeverityChip";
import { Time } from "../components/Time";
import { evidenceTable } from "./evidence";
import type { Alert } from "./types";

const GRID_ROW = 24;
const GRID_CHROME = 30;
const GRID_MAX = 280;

function Evidence({ alert }: { alert: Alert }) {
  const objects = (alert.evidence ?? []).filter((row): row is Record<string, unknown> => !!row && typeof row === "object");
  if (!objects.length) return <p class="muted">{t("incident.evidence.none")}</p>;
  const { columns, rows } = evidenceTable(objects);
  const height = Math.min(GRID_MAX, GRID_CHROME + rows.length * GRID_ROW);
  return <ResultsGrid columns={columns} rows={rows} height={height} exportName={`alert-${alert.alertId}-evidence`} />;
}

function AlertItem({ alert, open }: { alert: Alert; open: boolean }) {
  return (
    <details class="alert-item" open={open}>
      <summary>
        <SeverityChip value={alert.severity} />
        <span class="alert-title">{alert.title}</span>
        <span class="muted nowrap">
          <Time value={alert.creationTime} />
        </span>
      </summary>
      <div class="alert-body">
        {alert.description && <p class="alert-description">{alert.description}</p>}
        <dl class="facts">
          <dt>{t("incident.alert.tactic")}</dt>
          <dd>{alert.category && alert.category !== "None" ? valueLabel("tactic", alert.category) : "—"}</dd>
          <dt>{t("incident.alert.techniques")}</dt>
          <dd>{alert.mitreTechniques.length ? alert.mitreTechniques.join(", ") : "—"}</dd>
          <dt>{t("incident.alert.activity")}</dt>
          <dd>
            <Time value={alert.firstActivity} /> – <Time value={alert.lastActivity} />
          </dd>
          <dt>{t("common.status")}</dt>
          <dd>{valueLabel("alertStatus", alert.status)}</dd>
        </dl>
        <h4>{t("incident.evidence")}</h4>
        <Evidence alert={alert} />
      </div>
    </details>
  );
}

export function AlertsPanel({ alerts }: { alerts: Alert[] }) {
  const ordered = [...alerts].sort((a, b) => b.creationTime.localeCompare(a.creationTime));
  return (
    <section class="panel" aria-labelledby="incident-alerts">
      <h2 id="incident-alerts">
        {t("incident.alerts")} <span class="badge">{alerts.length}</span>
      </h2>
      <div class="alert-list">
        {ordered.map((alert, index) => (
          <AlertItem key={alert.alertId} alert={alert} open={index === 0} />
        ))}
      </div>
    </section>
  );
}
