import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { api, useApi, useWorkspace, workspacePath, type Resource } from "../api";
import { CopyButton } from "../components/CopyButton";
import { Empty, ErrorBanner, PageHeader } from "../components/Feedback";
import { Time } from "../components/Time";
import { formatNumber, t } from "../i18n";

interface Table {
  name: string;
  rows: number;
  bytes: number;
  lastEventTime: string | null;
  lastReceived: string | null;
}

/** A DCR stream and where to send it: one row per stream. */
interface Endpoint {
  dcr: string;
  immutableId: string;
  stream: string;
  tables: string[];
  url: string;
}

interface RawDcr {
  name: string;
  immutable_id?: string;
  immutableId?: string;
  ingestionUrl?: string;
  streams?: ({ stream: string; tables?: string[]; url?: string } | string)[];
}

interface Pack {
  name: string;
  title?: string;
  description?: string;
  tables?: string[];
  rules?: string[];
  workbooks?: string[];
  installed?: boolean;
}

interface Installed {
  dcrs?: { name: string; immutableId: string; stream: string; ingestionUrl: string }[];
  tables?: string[];
  rules?: { id: string; name: string }[];
  workbooks?: string[];
}

/** DCRs as `GET .../dcrs` lists them (snake_case summary, or the contract's camelCase). */
function endpoints(dcrs: RawDcr[]): Endpoint[] {
  return dcrs.flatMap((dcr) => {
    const immutableId = dcr.immutableId ?? dcr.immutable_id ?? "";
    const streams = dcr.streams ?? [];
    if (!streams.length) return [{ dcr: dcr.name, immutableId, stream: "", tables: [], url: dcr.ingestionUrl ?? "" }];
    return streams.map((stream) =>
      typeof stream === "string"
        ? { dcr: dcr.name, immutableId, stream, tables: [], url: dcr.ingestionUrl ?? "" }
        : { dcr: dcr.name, immutableId, stream: stream.stream, tables: stream.tables ?? [], url: stream.url ?? dcr.ingestionUrl ?? "" },
    );
  });
}

const UNITS = ["B", "KB", "MB", "GB", "TB"];

function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${formatNumber(unit ? Math.round(value * 10) / 10 : value)} ${UNITS[unit]}`;
}

function Tables({ resource: { data, error } }: { resource: Resource<Table[]> }) {
  const tables = [...(data ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <section class="stack" aria-labelledby="connectors-tables">
      <h2 id="connectors-tables">{t("connectors.tables")}</h2>
      <ErrorBanner error={error} />
      {data && !data.length ? (
        <Empty>{t("connectors.tables.empty")}</Empty>
      ) : (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th scope="col">{t("common.name")}</th>
                <th scope="col" class="num">{t("connectors.column.rows")}</th>
                <th scope="col" class="num">{t("connectors.column.size")}</th>
                <th scope="col">{t("connectors.column.lastEvent")}</th>
                <th scope="col">{t("connectors.column.lastReceived")}</th>
              </tr>
            </thead>
            <tbody>
              {tables.map((table) => (
                <tr key={table.name}>
                  <td class="mono">{table.name}</td>
                  <td class="num">{formatNumber(table.rows)}</td>
                  <td class="num">{formatBytes(table.bytes)}</td>
                  <td>
                    <Time value={table.lastEventTime} />
                  </td>
                  <td>
                    <Time value={table.lastReceived} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function EndpointTable({ rows }: { rows: Endpoint[] }) {
  return (
    <div class="table-wrap">
      <table class="table">
        <thead>
          <tr>
            <th scope="col">{t("connectors.column.dcr")}</th>
            <th scope="col">{t("connectors.column.immutableId")}</th>
            <th scope="col">{t("connectors.column.stream")}</th>
            <th scope="col">{t("connectors.column.ingestionUrl")}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={`${row.immutableId}/${row.stream}`}>
              <td>{row.dcr}</td>
              <td class="mono">{row.immutableId}</td>
              <td class="mono">
                {row.stream}
                {row.tables.length > 0 && <div class="muted">→ {row.tables.join(", ")}</div>}
              </td>
              <td>
                <div class="inline url-cell">
                  <CopyButton value={row.url} />
                  <code class="truncate-inline" title={row.url}>
                    {row.url}
                  </code>
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Dcrs({ resource: { data, error } }: { resource: Resource<RawDcr[]> }) {
  return (
    <section class="stack" aria-labelledby="connectors-dcrs">
      <h2 id="connectors-dcrs">{t("connectors.dcrs")}</h2>
      <p class="muted hint">{t("connectors.dcrs.hint")}</p>
      <ErrorBanner error={error} />
      {data && !data.length ? <Empty>{t("connectors.dcrs.empty")}</Empty> : <EndpointTable rows={endpoints(data ?? [])} />}
    </section>
  );
}

function PackCard({ pack, present, onInstalled }: { pack: Pack; present: boolean; onInstalled: () => void }) {
  const workspace = useWorkspace();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [installed, setInstalled] = useState<Installed | null>(null);
  const install = async () => {
    setBusy(true);
    setError(null);
    try {
      setInstalled(await api<Installed>(workspacePath(workspace, `/content/${encodeURIComponent(pack.name)}`), { method: "POST" }));
      onInstalled();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const contents = [
    [t("connectors.pack.tables"), pack.tables],
    [t("connectors.pack.rules"), pack.rules],
    [t("connectors.pack.workbooks"), pack.workbooks],
  ] as const;
  return (
    <article class="panel pack">
      <h3 class="panel-title">
        {pack.title ?? pack.name}
        <span class="topbar-spacer" />
        {present && !installed && <span class="badge badge-ok">{t("connectors.pack.installed")}</span>}
        <button type="button" class={present ? "btn btn-small" : "btn btn-primary btn-small"} onClick={install} disabled={busy}>
          {busy ? t("connectors.pack.installing") : present ? t("connectors.pack.reinstall") : t("connectors.pack.install")}
        </button>
      </h3>
      <div class="panel-body stack">
        {pack.description && <p class="prewrap">{pack.description}</p>}
        <dl class="facts">
          {contents.map(([label, items]) => (
            <Fragment key={label}>
              <dt>{label}</dt>
              <dd>{items?.length ? items.join(", ") : "—"}</dd>
            </Fragment>
          ))}
        </dl>
        <ErrorBanner error={error} />
        {installed && (
          <div class="stack" role="status">
            <div class="banner banner-success">{t("connectors.pack.done")}</div>
            {installed.dcrs?.map((dcr) => (
              <dl key={`${dcr.immutableId}/${dcr.stream}`} class="facts">
                <dt>{t("connectors.column.immutableId")}</dt>
                <dd class="mono">{dcr.immutableId}</dd>
                <dt>{t("connectors.column.stream")}</dt>
                <dd class="mono">{dcr.stream}</dd>
                <dt>{t("connectors.column.ingestionUrl")}</dt>
                <dd class="secret">
                  <code>{dcr.ingestionUrl}</code>
                  <CopyButton value={dcr.ingestionUrl} />
                </dd>
              </dl>
            ))}
          </div>
        )}
      </div>
    </article>
  );
}

function ContentPacks({ tables, onInstalled }: { tables: Table[] | undefined; onInstalled: () => void }) {
  const { data, error } = useApi<Pack[]>("/api/content");
  const names = new Set((tables ?? []).map((table) => table.name));
  // The server may say whether a pack is installed; otherwise its tables being there tells.
  const present = (pack: Pack) => pack.installed ?? (!!pack.tables?.length && pack.tables.every((name) => names.has(name)));
  return (
    <section class="stack" aria-labelledby="connectors-content">
      <h2 id="connectors-content">{t("connectors.content")}</h2>
      <ErrorBanner error={error} />
      {data && !data.length && <Empty>{t("connectors.content.empty")}</Empty>}
      <div class="pack-grid">
        {(data ?? []).map((pack) => (
          <PackCard key={pack.name} pack={pack} present={present(pack)} onInstalled={onInstalled} />
        ))}
      </div>
    </section>
  );
}

export function ConnectorsPage() {
  const workspace = useWorkspace();
  const tables = useApi<Table[]>(workspacePath(workspace, "/tables"));
  const dcrs = useApi<RawDcr[]>(workspacePath(workspace, "/dcrs"));
  // Installing a pack adds tables and DCRs.
  const refresh = () => {
    tables.reload();
    dcrs.reload();
  };
  return (
    <div class="page">
      <PageHeader title={t("connectors.title")} />
      <ContentPacks tables={tables.data} onInstalled={refresh} />
      <Dcrs resource={dcrs} />
      <Tables resource={tables} />
    </div>
  );
}
