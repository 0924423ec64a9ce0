import { useEffect, useMemo, useState } from "preact/hooks";
import type { Theme } from "../app/theme";
import { useTheme } from "../app/theme";
import { t, useLocale } from "../i18n";
import type { ChartOption } from "./echarts";
import type { ChartColors } from "./palette";
import { chartColors } from "./palette";
import { useEChart } from "./useEChart";
import { atlasName, loadWorld, WORLD } from "./world";
import "./charts.css";

export interface GeoPoint {
  latitude: number;
  longitude: number;
  value: number;
  label: string;
}

export interface GeoRegion {
  /** A country name; common spellings ("United States", "Russian Federation") are understood. */
  name: string;
  value: number;
}

export interface GeoMapProps {
  /** Bubbles, sized by `value`. */
  points?: readonly GeoPoint[];
  /** Countries shaded by `value`. */
  regions?: readonly GeoRegion[];
  /** What `value` measures, for the tooltip. */
  metric?: string;
  title?: string;
  /** Height in pixels; without it the map fills its parent. */
  height?: number;
}

interface Hover {
  name?: string;
  value?: unknown;
  seriesType?: string;
}

function mapOption(props: GeoMapProps, colors: ChartColors): ChartOption {
  const points = props.points ?? [];
  const regions = props.regions ?? [];
  const maxPoint = Math.max(1, ...points.map((p) => p.value));
  const regionValues = regions.map((r) => r.value);
  const metric = props.metric ?? t("charts.value");
  const series: ChartOption["series"] = [];
  if (regions.length) {
    series.push({
      type: "map",
      geoIndex: 0,
      name: metric,
      data: regions.map((r) => ({ name: atlasName(r.name), value: r.value })),
    });
  }
  if (points.length) {
    series.push({
      type: "scatter",
      coordinateSystem: "geo",
      name: metric,
      // Area, not radius, grows with the value, so large counts do not swamp the map.
      symbolSize: (value: number[]) => 6 + 24 * Math.sqrt(Math.max(0, value[2]) / maxPoint),
      itemStyle: { color: colors.series[1], opacity: 0.8, borderColor: colors.surface, borderWidth: 1 },
      emphasis: { label: { show: true, formatter: "{b}", position: "top", color: colors.text } },
      data: points.map((p) => ({ name: p.label, value: [p.longitude, p.latitude, p.value] })),
    });
  }
  return {
    animation: false,
    backgroundColor: "transparent",
    textStyle: { color: colors.text, fontFamily: colors.font, fontSize: 12 },
    title: props.title
      ? { text: props.title, left: 4, top: 2, textStyle: { color: colors.text, fontSize: 13, fontWeight: 600 } }
      : undefined,
    tooltip: {
      trigger: "item",
      confine: true,
      backgroundColor: colors.surface,
      borderColor: colors.border,
      textStyle: { color: colors.text, fontSize: 12 },
      formatter: (params: unknown) => {
        const { name, value, seriesType } = params as Hover;
        const measure = seriesType === "scatter" && Array.isArray(value) ? value[2] : value;
        return typeof measure === "number" ? `${name}<br/>${metric}: ${measure.toLocaleString()}` : String(name ?? "");
      },
    },
    visualMap: regions.length
      ? {
          type: "continuous",
          seriesIndex: 0,
          min: Math.min(0, ...regionValues),
          max: Math.max(1, ...regionValues),
          left: 8,
          bottom: 8,
          itemHeight: 80,
          calculable: false,
          inRange: { color: colors.ramp },
          textStyle: { color: colors.muted },
        }
      : undefined,
    geo: {
      map: WORLD,
      // Wheel zoom would trap the page's scrolling whenever the pointer crossed a map.
      roam: false,
      top: props.title ? 30 : 8,
      bottom: 8,
      itemStyle: { areaColor: colors.land, borderColor: colors.surface, borderWidth: 0.5 },
      emphasis: {
        label: { show: true, color: colors.text },
        itemStyle: { areaColor: colors.landHover },
      },
      select: { disabled: true },
    },
    series,
  };
}

/** A world map with bubbles at coordinates and/or countries shaded by a metric. */
export function GeoMap(props: GeoMapProps) {
  useLocale();
  const theme = useTheme();
  const [ready, setReady] = useState(false);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    loadWorld().then(
      () => setReady(true),
      () => setFailed(true),
    );
  }, []);
  const style = props.height === undefined ? undefined : { height: `${props.height}px` };
  if (failed) return <div class="vc-chart-note" style={style}>{t("charts.mapFailed")}</div>;
  if (!ready) return <div class="vc-chart-note" style={style}>{t("charts.loadingMap")}</div>;
  return <MapCanvas {...props} theme={theme} style={style} />;
}

function MapCanvas(props: GeoMapProps & { theme: Theme; style?: { height: string } }) {
  const { points, regions, metric, title, theme } = props;
  const option = useMemo(
    () => mapOption({ points, regions, metric, title }, chartColors(theme)),
    [points, regions, metric, title, theme],
  );
  const element = useEChart(option, theme);
  // DB-IP's licence asks for this link wherever its locations are shown.
  return (
    <div class="vc-map">
      <div
        ref={element}
        class={props.style ? "vc-chart" : "vc-chart vc-chart-fill"}
        style={props.style}
        role="img"
        aria-label={title ?? t("charts.map")}
      />
      <a class="vc-map-credit" href="https://db-ip.com" target="_blank" rel="noreferrer">
        {t("charts.geoCredit")}
      </a>
    </div>
  );
}
