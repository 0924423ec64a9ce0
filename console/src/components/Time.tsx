import { getLocale } from "../i18n";

const formats = new Map<string, Intl.DateTimeFormat>();

function format(): Intl.DateTimeFormat {
  const locale = getLocale();
  let found = formats.get(locale);
  if (!found) {
    found = new Intl.DateTimeFormat(locale, {
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    });
    formats.set(locale, found);
  }
  return found;
}

/** `iso` in the browser's time zone and the active locale; "" for a missing or invalid time. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : format().format(date);
}

/**
 * A local time; the UTC ISO time is in its tooltip, as analysts compare times across tools.
 * A locale switch re-renders from the root, so cells need no subscription of their own.
 */
export function Time({ value }: { value: string | null | undefined }) {
  if (!value) return <span class="muted">—</span>;
  const date = new Date(value);
  const utc = Number.isNaN(date.getTime()) ? value : date.toISOString();
  return (
    <time dateTime={utc} title={utc}>
      {formatTime(value)}
    </time>
  );
}
