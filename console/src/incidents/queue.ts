import { withQuery } from "../app/router";
import { SEVERITIES, type Severity } from "../components/labels";
import { STATUSES, type Status } from "./types";

export const PAGE_SIZE = 50;

export const RANGES = ["P1D", "P7D", "P30D", "all"] as const;
export type Range = (typeof RANGES)[number];
const RANGE_MS: Record<Exclude<Range, "all">, number> = { P1D: 86_400_000, P7D: 7 * 86_400_000, P30D: 30 * 86_400_000 };

/** Columns the server can sort by (`$orderby`), keyed as the API names them. */
const SORTABLE = ["incidentId", "severity", "incidentName", "status", "assignedTo", "createdTime", "lastUpdateTime"] as const;
export type SortKey = (typeof SORTABLE)[number];

/** The queue's view, kept in the URL so Back, reload and shared links show the same page. */
export interface QueueView {
  status: Status[];
  severity: Severity[];
  owner: string;
  unassigned: boolean;
  text: string;
  rule: string;
  range: Range;
  sort: SortKey;
  descending: boolean;
  page: number;
}

function list<T extends string>(text: string | undefined, allowed: readonly T[]): T[] {
  return (text ?? "").split(",").filter((v): v is T => (allowed as readonly string[]).includes(v));
}

export function viewFromQuery(query: Record<string, string>): QueueView {
  const sort = (SORTABLE as readonly string[]).includes(query.sort) ? (query.sort as SortKey) : "lastUpdateTime";
  return {
    status: list(query.status, STATUSES),
    severity: list(query.severity, SEVERITIES),
    owner: query.owner ?? "",
    unassigned: query.unassigned === "1",
    text: query.q ?? "",
    rule: query.rule ?? "",
    range: (RANGES as readonly string[]).includes(query.range) ? (query.range as Range) : "all",
    sort,
    descending: query.dir !== "asc",
    page: Math.max(1, Number.parseInt(query.page ?? "1", 10) || 1),
  };
}

export function queueUrl(view: QueueView): string {
  return withQuery("/incidents", {
    status: view.status.join(","),
    severity: view.severity.join(","),
    owner: view.owner,
    unassigned: view.unassigned ? "1" : "",
    q: view.text,
    rule: view.rule,
    range: view.range === "all" ? "" : view.range,
    sort: view.sort === "lastUpdateTime" ? "" : view.sort,
    dir: view.descending ? "" : "asc",
    page: view.page > 1 ? String(view.page) : "",
  });
}

const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;

/**
 * The view as OData for `GET /api/incidents`. `now` is passed in (not read here) so that the
 * request URL is stable between renders and only changes when the user acts.
 */
export function incidentsRequest(view: QueueView, workspaceId: string, now: number): string {
  const clauses = [`workspaceId eq ${quote(workspaceId)}`];
  if (view.status.length) clauses.push(`incidentStatus in (${view.status.map(quote).join(",")})`);
  if (view.severity.length) clauses.push(`severity in (${view.severity.map(quote).join(",")})`);
  if (view.unassigned) clauses.push("assignedTo eq null");
  else if (view.owner.trim()) clauses.push(`contains(assignedTo, ${quote(view.owner.trim())})`);
  const text = view.text.trim();
  if (/^\d+$/.test(text)) clauses.push(`(incidentId eq ${text} or contains(incidentName, ${quote(text)}))`);
  else if (text) clauses.push(`contains(incidentName, ${quote(text)})`);
  // The rule ids are kept as a JSON array; its text contains the quoted id.
  if (view.rule) clauses.push(`contains(relatedAnalyticRuleIds, ${quote(`"${view.rule}"`)})`);
  if (view.range !== "all") clauses.push(`createdTime ge ${new Date(now - RANGE_MS[view.range]).toISOString()}`);
  const direction = view.descending ? "desc" : "asc";
  // The id breaks ties, so that rows do not move between pages when times are equal.
  const order = view.sort === "incidentId" ? `incidentId ${direction}` : `${view.sort} ${direction},incidentId ${direction}`;
  const query = new URLSearchParams({
    $filter: clauses.join(" and "),
    $orderby: order,
    $top: String(PAGE_SIZE),
    $skip: String((view.page - 1) * PAGE_SIZE),
    $count: "true",
  });
  return `/api/incidents?${query}`;
}
