import type { ComponentChildren } from "preact";
import { t } from "../i18n";

/** A part of a workbook the console does not render, said plainly instead of failing. */
export function Unsupported({ what }: { what: string }) {
  return <div class="wb-unsupported">{what}</div>;
}

/**
 * Why an item shows no data although nothing is broken: it waits for a parameter, reads a data
 * source Vigil does not have, or needs a solution this workspace has not installed. Neutral on
 * purpose: the red panel (`.wb-error`, role=alert) is kept for real failures.
 */
export function Notice({ kind, children }: { kind: "waiting" | "source" | "missing"; children: ComponentChildren }) {
  return (
    <div class="wb-notice" data-notice={kind} role="note">
      {children}
    </div>
  );
}

/** Item types by number, for the ones that read data Vigil has no source for. */
const ITEM_SOURCES: Record<number, string> = { 10: "workbooks.source.metrics" };

/** Query types by number (`queryType`), for the data sources Vigil does not have. */
const QUERY_SOURCES: Record<number, string> = { 1: "workbooks.source.resourceGraph" };

/** The notice for a query item or parameter whose data comes from somewhere other than Log Analytics. */
export function OtherSource({ queryType, itemType }: { queryType?: number; itemType?: number }) {
  const key = itemType !== undefined ? ITEM_SOURCES[itemType] : queryType !== undefined ? QUERY_SOURCES[queryType] : undefined;
  const source = key ? t(key) : t("workbooks.source.other", { type: itemType !== undefined ? `item ${itemType}` : `${queryType}` });
  return <Notice kind="source">{t("workbooks.source.notice", { source })}</Notice>;
}

/** The notice for a query that names a table or function this workspace lacks (KB005). */
export function MissingTable({ name }: { name: string }) {
  return (
    <Notice kind="missing">
      <span data-missing={name}>{t("workbooks.missingTable", { name })}</span>
    </Notice>
  );
}
