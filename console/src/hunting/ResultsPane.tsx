import { useState } from "preact/hooks";
import { Chart } from "../charts/Chart";
import { CHART_KINDS, isChartKind } from "../charts/shape";
import type { ChartKind, StackMode } from "../charts/shape";
import { ResultsGrid } from "../grid/ResultsGrid";
import type { Column } from "../grid/types";
import { t } from "../i18n";
import type { QueryFailure, QueryResponse } from "./query";

export type RunState =
  | { status: "idle" }
  | { status: "running" }
  | { status: "done"; response: QueryResponse; ms: number }
  | { status: "failed"; failure: QueryFailure; ms: number };

const STACK_MODES = new Set<string>(["default", "stacked", "unstacked", "stacked100"]);

function formatDuration(ms: number): string {
  return ms < 1000 ? t("hunting.ms", { ms: Math.round(ms) }) : t("hunting.seconds", { s: (ms / 1000).toFixed(2) });
}

/** Results | Chart for the last run. Remounted per run, so a `render` picks the chart tab. */
export function ResultsPane({ state }: { state: RunState }) {
  if (state.status === "idle") return <div class="hunt-placeholder muted">{t("hunting.idle")}</div>;
  if (state.status === "running") {
    return (
      <div class="hunt-placeholder muted" role="status">
        {t("hunting.running")}
      </div>
    );
  }
  if (state.status === "failed") {
    return (
      <div class="hunt-error" role="alert">
        <div class="hunt-error-head">
          <strong>{t("hunting.failed")}</strong>
          {state.failure.code && <span class="muted">{state.failure.code}</span>}
          <span class="muted">{formatDuration(state.ms)}</span>
        </div>
        <pre class="hunt-error-text">{state.failure.message}</pre>
      </div>
    );
  }
  return <Results response={state.response} ms={state.ms} />;
}

/** Without a `render`, a result over time reads best as a time chart, anything else as columns. */
const defaultKind = (columns: readonly Column[]): ChartKind =>
  columns.some((c) => c.type === "datetime") ? "timechart" : "columnchart";

function Results({ response, ms }: { response: QueryResponse; ms: number }) {
  const table = response.tables[0] ?? { name: "PrimaryResult", columns: [], rows: [] };
  const render = response.render;
  const rendered = render && isChartKind(render.visualization) ? render.visualization : null;
  const [tab, setTab] = useState<"results" | "chart">(rendered ? "chart" : "results");
  const [kind, setKind] = useState<ChartKind>(rendered ?? defaultKind(table.columns));
  const mode = render?.kind && STACK_MODES.has(render.kind) ? (render.kind as StackMode) : undefined;

  return (
    <div class="hunt-results">
      <div class="hunt-results-bar">
        <div class="tabs" role="tablist" aria-label={t("hunting.resultsView")}>
          <button type="button" role="tab" aria-selected={tab === "results"} onClick={() => setTab("results")}>
            {t("hunting.tab.results")}
          </button>
          <button type="button" role="tab" aria-selected={tab === "chart"} onClick={() => setTab("chart")}>
            {t("hunting.tab.chart")}
          </button>
        </div>
        <label class="hunt-kind">
          <span>{t("hunting.chartType")}</span>
          <select
            value={kind}
            onChange={(e) => {
              setKind(e.currentTarget.value as ChartKind);
              setTab("chart");
            }}
          >
            {CHART_KINDS.map((k) => (
              <option key={k} value={k}>
                {t(`charts.kind.${k}`)}
              </option>
            ))}
          </select>
        </label>
        <span class="hunt-stats" role="status">
          {t("hunting.stats", { rows: table.rows.length, duration: formatDuration(ms) })}
        </span>
      </div>
      <div class="hunt-results-body" role="tabpanel">
        {tab === "results" ? (
          <ResultsGrid columns={table.columns} rows={table.rows} />
        ) : (
          <Chart
            kind={kind}
            columns={table.columns}
            rows={table.rows}
            title={kind === rendered ? render?.title : undefined}
            xtitle={kind === rendered ? render?.xtitle : undefined}
            ytitle={kind === rendered ? render?.ytitle : undefined}
            mode={mode}
          />
        )}
      </div>
    </div>
  );
}
