import { hasMessage, t } from "../i18n";

/**
 * Translated names of the server's enum values (severities, statuses, classifications...).
 * A value this build does not know yet is shown as the server sent it rather than as a key.
 */
export function valueLabel(kind: string, value: string | null | undefined): string {
  if (!value) return "";
  const key = `value.${kind}.${value}`;
  return hasMessage(key) ? t(key) : value;
}

export const SEVERITIES = ["High", "Medium", "Low", "Informational"] as const;
export type Severity = (typeof SEVERITIES)[number];
