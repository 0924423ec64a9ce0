/** Relative ranges as the query API's ISO 8601 `timespan`, with their message keys. */
export const PRESETS = [
  { timespan: "PT30M", label: "hunting.time.last30m" },
  { timespan: "PT1H", label: "hunting.time.last1h" },
  { timespan: "PT4H", label: "hunting.time.last4h" },
  { timespan: "P1D", label: "hunting.time.last24h" },
  { timespan: "P7D", label: "hunting.time.last7d" },
  { timespan: "P30D", label: "hunting.time.last30d" },
] as const;

/** Sentinel's Logs blade opens on the last 24 hours. */
export const DEFAULT_TIMESPAN = "P1D";

export interface Interval {
  from: Date;
  to: Date;
}

/** A custom `start/end` timespan, or null for a relative one. */
export function parseInterval(timespan: string): Interval | null {
  const [start, end] = timespan.split("/");
  if (!end) return null;
  const from = new Date(start);
  const to = new Date(end);
  return Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) ? null : { from, to };
}

export const formatInterval = ({ from, to }: Interval): string => `${from.toISOString()}/${to.toISOString()}`;

/** A Date as the value of an `<input type="datetime-local">`, which is local time. */
export function toLocalInput(date: Date): string {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}
