import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { useApi, useWorkspace } from "../api";
import { navigate, useRoute } from "../app/router";
import { ErrorBanner, PageHeader } from "../components/Feedback";
import { Icon } from "../components/Icon";
import { SeverityChip } from "../components/SeverityChip";
import { Time } from "../components/Time";
import { t } from "../i18n";
import { useRules } from "../rules/model";
import { QueueFilters } from "./QueueFilters";
import { incidentsRequest, PAGE_SIZE, queueUrl, viewFromQuery, type QueueView, type SortKey } from "./queue";
import { StatusBadge } from "./StatusBadge";
import type { Incident, IncidentList } from "./types";

/** The last queue URL, so "Incidents" in an incident's breadcrumb returns to the same page. */
export let lastQueueUrl = "/incidents";

interface ColumnSpec {
  key: string;
  sort?: SortKey;
  num?: boolean;
}

const COLUMNS: readonly ColumnSpec[] = [
  { key: "number", sort: "incidentId", num: true },
  { key: "severity", sort: "severity" },
  { key: "title", sort: "incidentName" },
  { key: "status", sort: "status" },
  { key: "owner", sort: "assignedTo" },
  { key: "alerts", num: true },
  { key: "rule" },
  { key: "created", sort: "createdTime" },
  { key: "updated", sort: "lastUpdateTime" },
];

function HeaderCell({ column, view, onSort }: { column: ColumnSpec; view: QueueView; onSort: (key: SortKey) => void }) {
  const label = t(`incidents.column.${column.key}`);
  const sort = column.sort;
  if (!sort) return <th scope="col" class={column.num ? "num" : undefined}>{label}</th>;
  const active = view.sort === sort;
  const direction = active ? (view.descending ? "descending" : "ascending") : undefined;
  return (
    <th scope="col" class={column.num ? "num" : undefined} aria-sort={direction ?? "none"}>
      <button type="button" class="sort-button" onClick={() => onSort(sort)}>
        {label}
        {active && <Icon name={view.descending ? "down" : "up"} size={12} />}
      </button>
    </th>
  );
}

function Pager({ view, total, count, onPage }: { view: QueueView; total: number | undefined; count: number; onPage: (page: number) => void }) {
  const from = count ? (view.page - 1) * PAGE_SIZE + 1 : 0;
  const to = (view.page - 1) * PAGE_SIZE + count;
  const last = total === undefined ? view.page : Math.max(1, Math.ceil(total / PAGE_SIZE));
  return (
    <div class="pager">
      <span aria-live="polite">
        {total === undefined ? "" : t("incidents.pageRange", { from, to, total })}
      </span>
      <button
        type="button"
        class="btn btn-icon"
        aria-label={t("incidents.previousPage")}
        title={t("incidents.previousPage")}
        disabled={view.page <= 1}
        onClick={() => onPage(view.page - 1)}
      >
        <Icon name="left" />
      </button>
      <button
        type="button"
        class="btn btn-icon"
        aria-label={t("incidents.nextPage")}
        title={t("incidents.nextPage")}
        disabled={view.page >= last}
        onClick={() => onPage(view.page + 1)}
      >
        <Icon name="right" />
      </button>
    </div>
  );
}

function IncidentRow({
  incident,
  focusable,
  ruleNames,
  onFocus,
}: {
  incident: Incident;
  focusable: boolean;
  ruleNames: Map<string, string>;
  onFocus: () => void;
}) {
  const href = `/incidents/${incident.incidentId}`;
  const rules = incident.relatedAnalyticRuleIds.map((id) => ruleNames.get(id) ?? id).join(", ");
  return (
    <tr
      class="clickable"
      tabIndex={focusable ? 0 : -1}
      data-testid="incident-row"
      data-incident-id={incident.incidentId}
      data-href={href}
      onFocus={onFocus}
      onClick={(event) => {
        if (!(event.target as Element).closest("a")) navigate(href);
      }}
    >
      <td class="num">{incident.incidentId}</td>
      <td>
        <SeverityChip value={incident.severity} />
      </td>
      <td class="truncate">
        <a href={href} tabIndex={-1}>
          {incident.incidentName}
        </a>
      </td>
      <td>
        <StatusBadge status={incident.incidentStatus} />
      </td>
      <td>{incident.assignedTo ?? <span class="muted">{t("incidents.unassigned")}</span>}</td>
      <td class="num">{incident.alerts.length}</td>
      <td class="truncate rule-cell" title={rules}>
        {rules}
      </td>
      <td>
        <Time value={incident.createdTime} />
      </td>
      <td>
        <Time value={incident.lastUpdateTime} />
      </td>
    </tr>
  );
}

const NEXT_KEYS = new Set(["ArrowDown", "j"]);
const PREVIOUS_KEYS = new Set(["ArrowUp", "k"]);

export function IncidentsPage() {
  const route = useRoute();
  const workspace = useWorkspace();
  const view = useMemo(() => viewFromQuery(route.query), [route.query]);
  // Relative time ranges are anchored when the view changes, so re-renders do not refetch.
  const [now, setNow] = useState(Date.now);
  const request = useMemo(() => incidentsRequest(view, workspace.id, now), [view, workspace.id, now]);
  const { data, error, loading } = useApi<IncidentList>(request);
  const { rules } = useRules(workspace.id);
  const ruleNames = useMemo(() => new Map((rules ?? []).map((r) => [r.id, r.name])), [rules]);
  const [active, setActive] = useState(0);
  const body = useRef<HTMLTableSectionElement>(null);
  lastQueueUrl = queueUrl(view);

  const incidents = data?.value ?? [];
  const total = data?.["@odata.count"];

  const show = (next: Partial<QueueView>) => {
    setNow(Date.now());
    setActive(0);
    navigate(queueUrl({ ...view, page: 1, ...next }), { replace: !("page" in next) });
  };

  const sortBy = (key: SortKey) =>
    show({ sort: key, descending: view.sort === key ? !view.descending : key !== "incidentName" });

  const focusRow = (index: number) => {
    const rows = body.current?.querySelectorAll<HTMLTableRowElement>("tr[data-testid=incident-row]");
    if (!rows?.length) return;
    const bounded = Math.max(0, Math.min(rows.length - 1, index));
    setActive(bounded);
    rows[bounded].focus();
  };

  const onKeyDown = (event: KeyboardEvent) => {
    const row = (event.target as Element).closest?.("tr[data-href]");
    if (!(row instanceof HTMLTableRowElement) || event.target !== row) return;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (NEXT_KEYS.has(event.key)) focusRow(active + 1);
    else if (PREVIOUS_KEYS.has(event.key)) focusRow(active - 1);
    else if (event.key === "Home") focusRow(0);
    else if (event.key === "End") focusRow(incidents.length - 1);
    else if (event.key === "Enter") navigate(row.dataset.href!);
    else return;
    event.preventDefault();
  };

  // j/k (or arrows) from anywhere outside a form field jump into the list.
  useEffect(() => {
    const onDocumentKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement;
      if (target.closest("input, textarea, select, [contenteditable], tr[data-href], summary")) return;
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      if (event.key === "j" || event.key === "k") {
        event.preventDefault();
        focusRow(active);
      }
    };
    document.addEventListener("keydown", onDocumentKey);
    return () => document.removeEventListener("keydown", onDocumentKey);
  });

  return (
    <div class="page">
      <PageHeader title={t("incidents.title")}>
        <button
          type="button"
          class="btn"
          onClick={() => setNow(Date.now())}
          aria-label={t("common.refresh")}
          title={t("common.refresh")}
        >
          <Icon name="refresh" />
        </button>
      </PageHeader>
      <div class="toolbar">
        <QueueFilters view={view} rules={rules ?? []} onChange={show} />
        <Pager view={view} total={total} count={incidents.length} onPage={(page) => show({ page })} />
      </div>
      <ErrorBanner error={error} />
      <div class="progress" data-active={loading ? "true" : "false"} />
      <div class="table-wrap">
        <table class="table incidents-table" data-busy={loading && incidents.length > 0 ? "true" : "false"} aria-busy={loading}>
          <caption class="visually-hidden">{t("incidents.caption")}</caption>
          <thead>
            <tr>
              {COLUMNS.map((column) => (
                <HeaderCell key={column.key} column={column} view={view} onSort={sortBy} />
              ))}
            </tr>
          </thead>
          <tbody ref={body} onKeyDown={onKeyDown}>
            {incidents.map((incident, index) => (
              <IncidentRow
                key={incident.incidentId}
                incident={incident}
                focusable={index === Math.min(active, incidents.length - 1)}
                ruleNames={ruleNames}
                onFocus={() => setActive(index)}
              />
            ))}
            {!incidents.length && (
              <tr>
                <td colSpan={COLUMNS.length} class="empty-cell">
                  {loading ? t("common.loading") : data ? t("incidents.empty") : ""}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <p class="muted hint">{t("incidents.keyboardHint")}</p>
    </div>
  );
}
