// Workbook time range parameters: their labels and what `{TimeRange:...}` becomes in a query.
import { t } from "../i18n";
import type { TimeContext } from "./model";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const isAbsolute = (range: TimeContext): range is TimeContext & { startTime: string; endTime: string } =>
  !!range.startTime && !!range.endTime;

/**
 * The bounds a range covers at `now`. A workbook passes one `now` for all its queries (set on load,
 * Refresh and time changes): a query text that moved with the clock would run again on every render.
 */
export function bounds(range: TimeContext, now = Date.now()): { start: Date; end: Date } {
  if (isAbsolute(range)) return { start: new Date(range.startTime), end: new Date(range.endTime) };
  const end = range.endTime ? new Date(range.endTime) : new Date(now);
  return { start: new Date(end.getTime() - range.durationMs), end };
}

/** "Last 24 hours", as the Azure portal words its picker. */
export function rangeLabel(range: TimeContext): string {
  if (isAbsolute(range)) {
    const { start, end } = bounds(range);
    return `${start.toLocaleString()} – ${end.toLocaleString()}`;
  }
  const ms = range.durationMs;
  if (ms === HOUR) return t("workbooks.time.lastHour");
  if (ms < HOUR) return t("workbooks.time.lastMinutes", { n: Math.round(ms / MINUTE) });
  if (ms < 3 * DAY && ms % HOUR === 0) return t("workbooks.time.lastHours", { n: ms / HOUR });
  if (ms % DAY === 0) return t("workbooks.time.lastDays", { n: ms / DAY });
  return t("workbooks.time.lastHours", { n: Math.round(ms / HOUR) });
}

/** A duration as a KQL timespan literal in its largest exact unit (30d, 4h, 90s). */
function kqlTimespan(ms: number): string {
  for (const [unit, size] of [["d", DAY], ["h", HOUR], ["m", MINUTE], ["s", 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** `{TimeRange:query}`: the predicate that follows `where TimeGenerated`. */
export function rangeQuery(range: TimeContext, now?: number): string {
  if (isAbsolute(range)) {
    const { start, end } = bounds(range, now);
    return `between (datetime(${start.toISOString()}) .. datetime(${end.toISOString()}))`;
  }
  return `> ago(${kqlTimespan(range.durationMs)})`;
}

const GRAINS = [MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 7 * DAY];

/** `{TimeRange:grain}`: a bin size giving about a hundred points over the range. */
export function rangeGrain(range: TimeContext, now?: number): string {
  const { start, end } = bounds(range, now);
  const target = (end.getTime() - start.getTime()) / 100;
  return kqlTimespan(GRAINS.find((g) => g >= target) ?? GRAINS[GRAINS.length - 1]);
}

/** The query API's ISO 8601 `timespan` for a range. */
export function rangeTimespan(range: TimeContext): string {
  if (isAbsolute(range)) {
    const { start, end } = bounds(range);
    return `${start.toISOString()}/${end.toISOString()}`;
  }
  const ms = range.durationMs;
  if (ms % DAY === 0) return `P${ms / DAY}D`;
  if (ms % HOUR === 0) return `PT${ms / HOUR}H`;
  if (ms % MINUTE === 0) return `PT${ms / MINUTE}M`;
  return `PT${ms / 1000}S`;
}

/** The portal's usual choices, for pickers that list none. */
export const DEFAULT_RANGES: TimeContext[] = [
  30 * MINUTE,
  HOUR,
  4 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  3 * DAY,
  7 * DAY,
  14 * DAY,
  30 * DAY,
  90 * DAY,
].map((durationMs) => ({ durationMs }));

export const DEFAULT_RANGE: TimeContext = { durationMs: DAY };
