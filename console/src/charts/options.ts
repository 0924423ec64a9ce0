import type { ChartOption } from "./echarts";
import type { ChartColors } from "./palette";
import type { AxisType, ChartKind, Shaped, Slice, StackMode } from "./shape";
import { toPercent } from "./shape";

interface Titles {
  title?: string;
  xtitle?: string;
  ytitle?: string;
}

// Above this many points, symbols and animation cost more than they show.
const DENSE = 200;

function base(colors: ChartColors, titles: Titles, legend: boolean, trigger: "axis" | "item"): ChartOption {
  const top = (titles.title ? 28 : 8) + (legend ? 24 : 0);
  return {
    animation: false,
    backgroundColor: "transparent",
    color: colors.series,
    textStyle: { color: colors.text, fontFamily: colors.font, fontSize: 12 },
    title: titles.title
      ? { text: titles.title, left: 4, top: 2, textStyle: { color: colors.text, fontSize: 13, fontWeight: 600 } }
      : undefined,
    legend: legend
      ? { type: "scroll", top: titles.title ? 26 : 4, left: 4, right: 4, textStyle: { color: colors.text } }
      : undefined,
    grid: { left: 12, right: 20, top: top + 8, bottom: titles.xtitle ? 36 : 12 },
    tooltip: {
      trigger,
      confine: true,
      backgroundColor: colors.surface,
      borderColor: colors.border,
      textStyle: { color: colors.text, fontSize: 12 },
      valueFormatter: (v) => (typeof v === "number" ? v.toLocaleString() : String(v ?? "")),
    },
  };
}

// ECharts types every axis type (and x apart from y) separately; the settings below fit all.
type XAxis = Exclude<NonNullable<ChartOption["xAxis"]>, unknown[]>;
type YAxis = Exclude<NonNullable<ChartOption["yAxis"]>, unknown[]>;

function axis(type: AxisType, colors: ChartColors, name: string | undefined, span: number) {
  const line = { lineStyle: { color: colors.border } };
  return {
    type,
    name,
    nameLocation: "middle" as const,
    nameGap: type === "value" ? 40 : 28,
    nameTextStyle: { color: colors.muted },
    axisLine: line,
    axisTick: line,
    splitLine: { show: type !== "category", lineStyle: { color: colors.border, opacity: 0.6 } },
    axisLabel: {
      color: colors.muted,
      hideOverlap: true,
      formatter: type === "time" ? (value: number) => timeLabel(value, span) : undefined,
    },
  };
}

const timeFormats = new Map<string, Intl.DateTimeFormat>();

/** Local time, with the date only when the range spans days: what an analyst scans for. */
function timeLabel(value: number, span: number): string {
  const day = 86_400_000;
  const key = span > 2 * day ? (span > 60 * day ? "date" : "dateTime") : "time";
  const lang = document.documentElement.lang || "en";
  let format = timeFormats.get(`${lang}:${key}`);
  if (!format) {
    const options: Intl.DateTimeFormatOptions =
      key === "date"
        ? { month: "2-digit", day: "2-digit" }
        : key === "dateTime"
          ? { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }
          : { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    format = new Intl.DateTimeFormat(lang, options);
    timeFormats.set(`${lang}:${key}`, format);
  }
  return format.format(value);
}

/** Whether series stack: Kusto's explicit `kind`, else stacked when they split one measure. */
function stacks(kind: ChartKind, mode: StackMode, shaped: Shaped): boolean {
  if (mode === "stacked" || mode === "stacked100") return true;
  if (mode === "unstacked") return false;
  return shaped.pivoted && (kind === "areachart" || kind === "columnchart" || kind === "barchart");
}

export function axisChartOption(
  kind: Exclude<ChartKind, "piechart">,
  shaped: Shaped,
  mode: StackMode,
  colors: ChartColors,
  titles: Titles,
): ChartOption {
  const stacked = stacks(kind, mode, shaped);
  const series = mode === "stacked100" ? toPercent(shaped.series) : shaped.series;
  const numericX = shaped.axis !== "category";
  const span = numericX && shaped.x.length > 1 ? (shaped.x[shaped.x.length - 1] as number) - (shaped.x[0] as number) : 0;
  const dense = shaped.x.length > DENSE;
  const horizontal = kind === "barchart";
  const xAxis = axis(shaped.axis, colors, titles.xtitle, span);
  const yAxis = axis("value", colors, titles.ytitle, 0);
  const data = (values: (number | null)[]) =>
    numericX ? values.map((v, i) => [shaped.x[i], v]) : values;

  const option = base(colors, titles, series.length > 1, kind === "scatterchart" ? "item" : "axis");
  const categories = numericX ? {} : { data: shaped.x };
  option.xAxis = (horizontal ? yAxis : { ...xAxis, ...categories }) as XAxis;
  option.yAxis = (horizontal ? { ...xAxis, ...categories, inverse: true } : yAxis) as YAxis;
  if (numericX) {
    option.dataZoom = [{ type: "inside", [horizontal ? "yAxisIndex" : "xAxisIndex"]: 0, zoomOnMouseWheel: "ctrl" }];
  }
  option.series = series.map((s) => {
    const common = { name: s.name, data: data(s.values), stack: stacked ? "total" : undefined };
    if (kind === "columnchart" || kind === "barchart") {
      return { ...common, type: "bar" as const, large: dense, barMaxWidth: 48 };
    }
    if (kind === "scatterchart") {
      return { ...common, stack: undefined, type: "scatter" as const, symbolSize: 6, large: dense };
    }
    return {
      ...common,
      type: "line" as const,
      showSymbol: !dense,
      symbolSize: 4,
      sampling: dense ? ("lttb" as const) : undefined,
      connectNulls: false,
      lineStyle: { width: 1.5 },
      areaStyle: kind === "areachart" ? { opacity: stacked ? 0.55 : 0.25 } : undefined,
    };
  });
  return option;
}

export function pieOption(slices: Slice[], colors: ChartColors, titles: Titles): ChartOption {
  const option = base(colors, titles, false, "item");
  option.series = [
    {
      type: "pie",
      radius: ["35%", "70%"],
      center: ["50%", titles.title ? "55%" : "50%"],
      data: slices,
      label: { color: colors.text, overflow: "truncate", width: 140 },
      labelLine: { lineStyle: { color: colors.border } },
      itemStyle: { borderColor: colors.surface, borderWidth: 1 },
    },
  ];
  return option;
}
