import { useApi, workspacePath } from "../api";
import { t } from "../i18n";

/** A rule as `GET .../rules` lists it, whether the server nests the definition under `rule` or not. */
export interface RuleSummary {
  id: string;
  name: string;
  description: string;
  kind: string;
  severity: string;
  query: string;
  enabled: boolean;
  /** ISO 8601 durations; empty for NRT rules. */
  queryFrequency: string;
  queryPeriod: string;
  tactics: string[];
  lastRun: string | null;
  lastRunSeconds: number | null;
  lastResultCount: number | null;
  lastAlertCount: number | null;
  lastError: string | null;
  runs: number;
  failures: number;
}

type Raw = Record<string, unknown>;

const NANOS_PER_SECOND = 1e9;

/** Nanoseconds as an ISO 8601 duration, as the server writes them (P1DT2H, PT5M). */
function isoDuration(nanos: number): string {
  const total = Math.round(nanos / NANOS_PER_SECOND);
  if (total <= 0) return "";
  const days = Math.floor(total / 86400);
  const rest = total % 86400;
  const parts = [
    [Math.floor(rest / 3600), "H"],
    [Math.floor((rest % 3600) / 60), "M"],
    [rest % 60, "S"],
  ].filter(([value]) => value) as [number, string][];
  return `P${days ? `${days}D` : ""}${parts.length ? `T${parts.map(([v, u]) => `${v}${u}`).join("")}` : ""}`;
}

function duration(value: unknown): string {
  if (typeof value === "number") return isoDuration(value);
  return typeof value === "string" ? value : "";
}

const text = (value: unknown): string => (typeof value === "string" ? value : "");
const count = (value: unknown): number | null => (typeof value === "number" ? value : null);

export function normalizeRule(raw: Raw): RuleSummary {
  const rule = (raw.rule && typeof raw.rule === "object" ? raw.rule : raw) as Raw;
  const pick = (camel: string, snake: string) => rule[camel] ?? rule[snake] ?? raw[camel];
  return {
    id: text(rule.id ?? raw.id),
    name: text(rule.name ?? raw.name),
    description: text(rule.description),
    kind: text(raw.kind ?? rule.kind) || "Scheduled",
    severity: text(rule.severity ?? raw.severity),
    query: text(rule.query),
    enabled: raw.enabled !== false,
    queryFrequency: duration(pick("queryFrequency", "query_frequency")),
    queryPeriod: duration(pick("queryPeriod", "query_period")),
    tactics: Array.isArray(rule.tactics) ? (rule.tactics as string[]) : [],
    lastRun: text(raw.lastRun) || null,
    lastRunSeconds: count(raw.lastRunSeconds),
    lastResultCount: count(raw.lastResultCount),
    lastAlertCount: count(raw.lastAlertCount),
    lastError: text(raw.lastError) || null,
    runs: count(raw.runs) ?? 0,
    failures: count(raw.failures) ?? 0,
  };
}

/** The workspace's rules, normalized; `null` workspace id fetches nothing. */
export function useRules(workspaceId: string | null) {
  const resource = useApi<Raw[]>(workspaceId ? workspacePath({ id: workspaceId }, "/rules") : null);
  return { ...resource, rules: resource.data?.map(normalizeRule) };
}

/** "PT1H30M" as "1h 30m" (or 「1時間 30分」). */
export function formatDuration(iso: string): string {
  const match = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(iso);
  if (!match) return iso;
  const [, weeks, days, hours, minutes, seconds] = match;
  const parts: string[] = [];
  const totalDays = Number(weeks ?? 0) * 7 + Number(days ?? 0);
  if (totalDays) parts.push(t("duration.days", { n: totalDays }));
  if (hours) parts.push(t("duration.hours", { n: Number(hours) }));
  if (minutes) parts.push(t("duration.minutes", { n: Number(minutes) }));
  if (seconds) parts.push(t("duration.seconds", { n: Number(seconds) }));
  return parts.join(" ") || iso;
}
