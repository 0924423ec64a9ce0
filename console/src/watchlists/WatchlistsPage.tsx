import { useState } from "preact/hooks";
import { api, errorMessage, useApi, useWorkspace } from "../api";
import { navigate } from "../app/router";
import { useCanWrite } from "../app/roles";
import { Empty, ErrorBanner, Loading, PageHeader } from "../components/Feedback";
import { Icon } from "../components/Icon";
import { Time } from "../components/Time";
import { formatNumber, t, useLocale } from "../i18n";
import type { Watchlist } from "./model";
import { epochIso, watchlistsPath } from "./model";
import { WatchlistDialog } from "./WatchlistDialog";
import "./watchlists.css";

/** Asks, then deletes; resolves true when the watchlist is gone. */
export async function deleteWatchlist(workspace: string, watchlist: Watchlist): Promise<boolean> {
  if (!confirm(t("watchlists.confirmDelete", { name: watchlist.displayName, alias: watchlist.alias }))) return false;
  await api(watchlistsPath(workspace, watchlist.alias), { method: "DELETE" });
  return true;
}

/** `/watchlists`: the workspace's watchlists (Sentinel's), read in KQL with `_GetWatchlist('alias')`. */
export function WatchlistsPage() {
  useLocale();
  const workspace = useWorkspace();
  const writable = useCanWrite();
  const list = useApi<{ value: Watchlist[] }>(workspace.id ? watchlistsPath(workspace.id) : null);
  const [creating, setCreating] = useState(false);
  const [failure, setFailure] = useState("");
  const watchlists = [...(list.data?.value ?? [])].sort((a, b) => a.displayName.localeCompare(b.displayName));

  async function remove(watchlist: Watchlist) {
    try {
      if (await deleteWatchlist(workspace.id, watchlist)) {
        setFailure("");
        await list.reload();
      }
    } catch (e) {
      setFailure(errorMessage(e));
    }
  }

  return (
    <div class="page">
      <PageHeader title={t("watchlists.title")}>
        {writable && (
          <button type="button" class="btn btn-primary" data-testid="watchlist-new" onClick={() => setCreating(true)}>
            <Icon name="plus" />
            {t("watchlists.new")}
          </button>
        )}
      </PageHeader>
      <p class="muted watchlists-intro">{t("watchlists.intro")}</p>
      {failure && (
        <div class="banner banner-error" role="alert">
          {failure}
        </div>
      )}
      <ErrorBanner error={list.error} />
      {list.loading && !list.data && <Loading />}
      {list.data && watchlists.length === 0 && <Empty>{t("watchlists.empty")}</Empty>}
      {watchlists.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th>{t("watchlists.column.name")}</th>
                <th>{t("watchlists.column.alias")}</th>
                <th>{t("watchlists.column.searchKey")}</th>
                <th class="num">{t("watchlists.column.items")}</th>
                <th>{t("watchlists.column.source")}</th>
                <th>{t("watchlists.column.updated")}</th>
                {writable && (
                  <th>
                    <span class="visually-hidden">{t("watchlists.column.actions")}</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {watchlists.map((w) => (
                <tr key={w.alias} data-testid="watchlist-row" data-alias={w.alias}>
                  <td>
                    <a href={`/watchlists/${encodeURIComponent(w.alias)}`} data-testid="watchlist-link">
                      {w.displayName || w.alias}
                    </a>
                    {w.description && <div class="muted watchlist-description">{w.description}</div>}
                  </td>
                  <td class="mono">{w.alias}</td>
                  <td class="mono">{w.itemsSearchKey}</td>
                  <td class="num">{formatNumber(w.itemCount)}</td>
                  <td class="mono">{w.source}</td>
                  <td>
                    <Time value={epochIso(w.updated)} />
                  </td>
                  {writable && (
                    <td class="num">
                      <button
                        type="button"
                        class="btn btn-small btn-danger"
                        data-testid="watchlist-delete"
                        aria-label={t("watchlists.deleteNamed", { name: w.displayName || w.alias })}
                        onClick={() => remove(w)}
                      >
                        {t("watchlists.delete")}
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {creating && (
        <WatchlistDialog
          workspace={workspace.id}
          existing={watchlists.map((w) => w.alias)}
          onSaved={(saved) => {
            setCreating(false);
            navigate(`/watchlists/${encodeURIComponent(saved.alias)}`);
          }}
          onClose={() => setCreating(false)}
        />
      )}
    </div>
  );
}
