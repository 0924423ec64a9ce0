import { useMemo } from "preact/hooks";
import { useApi } from "../api";
import { ErrorBanner, Loading } from "../components/Feedback";
import { SeverityChip } from "../components/SeverityChip";
import { Time } from "../components/Time";
import { t } from "../i18n";
import { useRules } from "../rules/model";
import { AlertsPanel } from "./AlertsPanel";
import { CommentBox } from "./CommentBox";
import { EntitiesPanel } from "./EntitiesPanel";
import { sourceTable } from "./entities";
import { IncidentForm } from "./IncidentForm";
import { lastQueueUrl } from "./IncidentsPage";
import { StatusBadge } from "./StatusBadge";
import { Timeline } from "./Timeline";
import type { Incident } from "./types";

function Header({ incident }: { incident: Incident }) {
  return (
    <header class="incident-header">
      <nav aria-label={t("incident.breadcrumb")} class="breadcrumb">
        <a href={lastQueueUrl}>{t("nav.incidents")}</a>
        <span aria-hidden="true">/</span>
        <span>{t("incident.number", { id: String(incident.incidentId) })}</span>
      </nav>
      <h1 data-testid="incident-title">{incident.incidentName}</h1>
      <dl class="facts facts-inline">
        <dt>{t("common.severity")}</dt>
        <dd>
          <SeverityChip value={incident.severity} />
        </dd>
        <dt>{t("common.status")}</dt>
        <dd>
          <StatusBadge status={incident.incidentStatus} />
        </dd>
        <dt>{t("incident.owner")}</dt>
        <dd>{incident.assignedTo ?? t("incidents.unassigned")}</dd>
        <dt>{t("incident.created")}</dt>
        <dd>
          <Time value={incident.createdTime} />
        </dd>
        <dt>{t("incident.updated")}</dt>
        <dd>
          <Time value={incident.lastUpdateTime} />
        </dd>
      </dl>
    </header>
  );
}

export function IncidentPage({ id }: { id: string }) {
  const { data: incident, error, reload } = useApi<Incident>(`/api/incidents/${encodeURIComponent(id)}`);
  const { rules } = useRules(incident?.workspaceId ?? null);
  const ruleIds = incident?.relatedAnalyticRuleIds;
  const tables = useMemo(() => {
    const related = (rules ?? []).filter((rule) => ruleIds?.includes(rule.id));
    return [...new Set(related.map((rule) => sourceTable(rule.query)).filter((name): name is string => !!name))];
  }, [rules, ruleIds]);

  if (!incident) {
    return <div class="page">{error ? <ErrorBanner error={error} /> : <Loading />}</div>;
  }
  return (
    <div class="page">
      <Header incident={incident} />
      <ErrorBanner error={error} />
      <div class="incident-layout">
        <div class="incident-main">
          {incident.description && (
            <section class="panel">
              <h2>{t("common.description")}</h2>
              <p class="panel-body prewrap">{incident.description}</p>
            </section>
          )}
          <AlertsPanel alerts={incident.alerts} />
          <EntitiesPanel alerts={incident.alerts} tables={tables} />
        </div>
        <aside class="incident-side">
          <IncidentForm incident={incident} onSaved={reload} />
          <section class="panel" aria-labelledby="incident-activity">
            <h2 id="incident-activity">{t("incident.activity")}</h2>
            <div class="panel-body stack">
              <CommentBox incidentId={incident.incidentId} onAdded={reload} />
              <Timeline incident={incident} />
            </div>
          </section>
        </aside>
      </div>
    </div>
  );
}
