import { useLayoutEffect, useRef } from "preact/hooks";
import type { Theme } from "../app/theme";
import { init } from "./echarts";
import type { ChartOption, ECharts } from "./echarts";

/**
 * Mounts an ECharts instance on the returned element. The instance is recreated when the theme
 * changes (colours are baked into the canvas) and follows the element's size.
 */
export function useEChart(option: ChartOption | null, theme: Theme) {
  const element = useRef<HTMLDivElement>(null);
  const chart = useRef<ECharts | null>(null);

  useLayoutEffect(() => {
    const host = element.current;
    if (!host) return;
    const instance = init(host, undefined, { renderer: "canvas" });
    chart.current = instance;
    const observer = new ResizeObserver(() => instance.resize());
    observer.observe(host);
    return () => {
      observer.disconnect();
      instance.dispose();
      chart.current = null;
    };
  }, [theme]);

  useLayoutEffect(() => {
    if (option) chart.current?.setOption(option, { notMerge: true });
  }, [option, theme]);

  return element;
}
