import { useMemo, useState } from "preact/hooks";
import { errorMessage, useActorName, useApi, useWorkspace } from "../api";
import { navigate } from "../app/router";
import { useCanWrite } from "../app/roles";
import { ErrorBanner, Loading, PageHeader } from "../components/Feedback";
import { Time } from "../components/Time";
import { ResultsGrid } from "../grid/ResultsGrid";
import type { Column, Row } from "../grid/types";
import { formatNumber, t, useLocale } from "../i18n";
import type { Watchlist } from "./model";
import { epochIso, watchlistsPath } from "./model";
import { WatchlistDialog } from "./WatchlistDialog";
import { deleteWatchlist } from "./WatchlistsPage";
import "./watchlists.css";

type Item = Record<string, unknown>;

/** The grid's columns: the watchlist's own (CSV order), then any other field the items carry. */
function itemTable(watchlist: Watchlist | undefined, items: Item[]): { columns: Column[]; rows: Row[] } {
  const names = [...(watchlist?.columns ?? [])];
  for (const item of items) for (const key of Object.keys(item)) if (!names.includes(key)) names.push(key);
  return {
    columns: names.map((name) => ({ name, type: "string" })),
    rows: items.map((item) => names.map((name) => item[name] ?? null)),
  };
}

/** `/watchlists/:alias`: a watchlist's settings and items, with replace and delete for Contributors. */
export function WatchlistPage({ alias }: { alias: string }) {
  useLocale();
  const workspace = useWorkspace();
  const writable = useCanWrite();
  const actorName = useActorName();
  const watchlist = useApi<Watchlist>(workspace.id ? watchlistsPath(workspace.id, alias) : null);
  const items = useApi<{ value: Item[] }>(workspace.id ? watchlistsPath(workspace.id, alias, "/items") : null);
  const [replacing, setReplacing] = useState(false);
  const [failure, setFailure] = useState("");
  const current = watchlist.data;
  const table = useMemo(() => itemTable(current, items.data?.value ?? []), [current, items.data]);

  async function remove() {
    if (!current) return;
    try {
      if (await deleteWatchlist(workspace.id, current)) navigate("/watchlists");
    } catch (e) {
      setFailure(errorMessage(e));
    }
  }

  return (
    <div class="page watchlist-page">
      <PageHeader title={<span translate={false}>{current ? current.displayName || current.alias : alias}</span>}>
        <a href="/watchlists" class="btn">
          {t("watchlists.backToList")}
        </a>
        {writable && current && (
          <>
            <button type="button" class="btn" data-testid="watchlist-replace" onClick={() => setReplacing(true)}>
              {t("watchlists.replace")}
            </button>
            <button type="button" class="btn btn-danger" data-testid="watchlist-delete" onClick={remove}>
              {t("watchlists.delete")}
            </button>
          </>
        )}
      </PageHeader>
      {failure && (
        <div class="banner banner-error" role="alert">
          {failure}
        </div>
      )}
      <ErrorBanner error={watchlist.error} />
      {!current && watchlist.loading && <Loading />}
      {current && (
        <dl class="watchlist-facts" data-testid="watchlist-facts">
          <div>
            <dt>{t("watchlists.column.alias")}</dt>
            <dd class="mono">{current.alias}</dd>
          </div>
          <div>
            <dt>{t("watchlists.column.searchKey")}</dt>
            <dd class="mono" data-testid="watchlist-facts-search-key">
              {current.itemsSearchKey}
            </dd>
          </div>
          <div>
            <dt>{t("watchlists.column.items")}</dt>
            <dd data-testid="watchlist-facts-count">{formatNumber(current.itemCount)}</dd>
          </div>
          <div>
            <dt>{t("watchlists.field.provider")}</dt>
            <dd>{current.provider}</dd>
          </div>
          <div>
            <dt>{t("watchlists.column.source")}</dt>
            <dd class="mono">{current.source}</dd>
          </div>
          <div>
            <dt>{t("watchlists.column.updated")}</dt>
            <dd>
              <Time value={epochIso(current.updated)} /> {current.updatedBy && <span class="muted">· {actorName(current.updatedBy)}</span>}
            </dd>
          </div>
          <div>
            <dt>{t("watchlists.column.created")}</dt>
            <dd>
              <Time value={epochIso(current.created)} />
            </dd>
          </div>
          {current.description && (
            <div class="wide">
              <dt>{t("watchlists.field.description")}</dt>
              <dd>{current.description}</dd>
            </div>
          )}
          <div class="wide">
            <dt>{t("watchlists.kql")}</dt>
            <dd class="mono">{`_GetWatchlist('${current.alias}')`}</dd>
          </div>
        </dl>
      )}
      <ErrorBanner error={items.error} />
      {items.data && (
        <section class="watchlist-items" aria-label={t("watchlists.items")} data-testid="watchlist-items">
          <h2>{t("watchlists.items")}</h2>
          <ResultsGrid columns={table.columns} rows={table.rows} height={420} exportName={alias} />
        </section>
      )}
      {replacing && current && (
        <WatchlistDialog
          workspace={workspace.id}
          current={current}
          existing={[]}
          onSaved={() => {
            setReplacing(false);
            watchlist.reload();
            items.reload();
          }}
          onClose={() => setReplacing(false)}
        />
      )}
    </div>
  );
}
