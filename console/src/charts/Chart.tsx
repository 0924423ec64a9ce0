import { useMemo } from "preact/hooks";
import type { Theme } from "../app/theme";
import { useTheme } from "../app/theme";
import type { Column, Row } from "../grid/types";
import { t, useLocale } from "../i18n";
import type { ChartOption } from "./echarts";
import { axisChartOption, pieOption } from "./options";
import { chartColors } from "./palette";
import { shapePie, shapeSeries } from "./shape";
import type { ChartKind, StackMode } from "./shape";
import { useEChart } from "./useEChart";
import "./charts.css";

export interface ChartProps {
  kind: ChartKind;
  columns: readonly Column[];
  rows: readonly Row[];
  title?: string;
  /** Axis titles, as Kusto's `render ... with (xtitle=, ytitle=)`. */
  xtitle?: string;
  ytitle?: string;
  /** Kusto's `kind` property for area, column and bar charts. */
  mode?: StackMode;
  /** Height in pixels; without it the chart fills its parent. */
  height?: number;
}

function buildOption(props: ChartProps, theme: Theme): ChartOption | null {
  const colors = chartColors(theme);
  const titles = { title: props.title, xtitle: props.xtitle, ytitle: props.ytitle };
  if (props.kind === "piechart") {
    const slices = shapePie(props.columns, props.rows);
    return slices ? pieOption(slices, colors, titles) : null;
  }
  const shaped = shapeSeries(props.kind, props.columns, props.rows);
  return shaped ? axisChartOption(props.kind, shaped, props.mode ?? "default", colors, titles) : null;
}

/** A result drawn as Kusto's `render` would draw it. */
export function Chart(props: ChartProps) {
  useLocale();
  const theme = useTheme();
  const { kind, columns, rows, title, xtitle, ytitle, mode, height } = props;
  const option = useMemo(() => buildOption(props, theme), [kind, columns, rows, title, xtitle, ytitle, mode, theme]);
  const style = height === undefined ? undefined : { height: `${height}px` };
  if (rows.length === 0) {
    return (
      <div class="vc-chart-note" style={style}>
        {t("charts.noData")}
      </div>
    );
  }
  if (!option) {
    return (
      <div class="vc-chart-note" style={style}>
        {t("charts.notChartable")}
      </div>
    );
  }
  return <ChartCanvas option={option} theme={theme} style={style} label={title ?? t(`charts.kind.${kind}`)} />;
}

interface ChartCanvasProps {
  option: ChartOption;
  theme: Theme;
  style?: { height: string };
  label: string;
}

// Separate so that the ECharts instance only exists while there is something to draw.
function ChartCanvas({ option, theme, style, label }: ChartCanvasProps) {
  const element = useEChart(option, theme);
  return (
    <div
      ref={element}
      class={style ? "vc-chart" : "vc-chart vc-chart-fill"}
      style={style}
      role="img"
      aria-label={label}
      data-testid="results-chart"
    />
  );
}
