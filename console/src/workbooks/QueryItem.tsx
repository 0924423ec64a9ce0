import { Chart } from "../charts/Chart";
import { isChartKind } from "../charts/shape";
import type { QueryTable } from "../hunting/query";
import { t } from "../i18n";
import { useWorkbook } from "./context";
import type { QueryContent, WorkbookItem } from "./model";
import { isLogsQuery, substitute } from "./params";
import { Tiles } from "./Tiles";
import { MissingTable, Notice, OtherSource, Unsupported } from "./Unsupported";
import { useWorkbookQuery } from "./useWorkbookQuery";
import { WorkbookMap } from "./WorkbookMap";
import { WorkbookTable } from "./WorkbookTable";

// The portal's size setting: 0 medium, 1 small, 2 large, 3 full, 4 tiny.
const HEIGHTS: Record<number, number> = { 0: 320, 1: 240, 2: 440, 3: 640, 4: 180 };
const heightOf = (size: number | undefined) => HEIGHTS[size ?? 0] ?? HEIGHTS[0];

/** A KqlItem/1.0: the query with parameters expanded, run, and drawn as its visualization. */
export function QueryItem({ item }: { item: WorkbookItem }) {
  const { params } = useWorkbook();
  const content = item.content as QueryContent;
  const title = substitute(content.title ?? "", params);
  return (
    <section class="wb-query" aria-label={title || undefined}>
      {title && <h3 class="wb-query-title">{title}</h3>}
      {isLogsQuery(content.queryType) ? (
        <QueryResult content={content} title={title} />
      ) : (
        <OtherSource queryType={content.queryType} />
      )}
    </section>
  );
}

function QueryResult({ content, title }: { content: QueryContent; title: string }) {
  const { params } = useWorkbook();
  const state = useWorkbookQuery(content);
  switch (state.status) {
    case "blocked":
      return <Notice kind="waiting">{t("workbooks.waitingFor", { names: state.missing.join(", ") })}</Notice>;
    case "missing":
      return <MissingTable name={state.name} />;
    case "loading":
      return (
        <div class="wb-note wb-loading" role="status" style={{ minHeight: `${Math.min(120, heightOf(content.size))}px` }}>
          <span class="wb-spinner" aria-hidden="true" />
          {t("workbooks.loading")}
        </div>
      );
    case "failed":
      return (
        <div class="wb-error" role="alert">
          <pre>{state.message}</pre>
        </div>
      );
    case "done": {
      const noData = substitute(content.noDataMessage ?? "", params) || t("workbooks.noData");
      return <Visualization content={content} table={state.table} title={title} noData={noData} />;
    }
  }
}

interface VisualizationProps {
  content: QueryContent;
  table: QueryTable;
  title: string;
  noData: string;
}

/** The portal's visualizations that are another's under a different name. */
const SAME_AS: Record<string, string> = { categoricalbar: "barchart" };

function Visualization({ content, table, title, noData }: VisualizationProps) {
  const given = content.visualization ?? "table";
  const kind = SAME_AS[given] ?? given;
  const height = heightOf(content.size);
  const empty = table.rows.length === 0;
  if (isChartKind(kind)) {
    return (
      <div class="wb-chart" data-testid="workbook-chart" data-empty={empty ? "true" : undefined}>
        {empty ? (
          <div class="wb-note">{noData}</div>
        ) : (
          <Chart kind={kind} columns={table.columns} rows={table.rows} height={height} />
        )}
      </div>
    );
  }
  if (empty) return <div class="wb-note">{noData}</div>;
  switch (kind) {
    case "table":
      return <WorkbookTable table={table} content={content} maxHeight={height + 120} title={title} />;
    case "tiles":
      return <Tiles table={table} content={content} />;
    case "card":
      // A card is one big number: the first row as a single tile.
      return <Tiles table={table} content={{ ...content, tileSettings: { ...content.tileSettings, maxTiles: 1 } }} />;
    case "map":
      return <WorkbookMap table={table} content={content} height={height} />;
    default:
      return <Unsupported what={t("workbooks.unsupportedVisualization", { kind })} />;
  }
}
