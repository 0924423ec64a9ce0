import { useMemo } from "preact/hooks";
import { GeoMap } from "../charts/GeoMap";
import type { GeoPoint, GeoRegion } from "../charts/GeoMap";
import type { QueryTable } from "../hunting/query";
import { t } from "../i18n";
import type { QueryContent } from "./model";
import { Unsupported } from "./Unsupported";

type Aggregation = (values: number[]) => number;

const AGGREGATIONS: Record<string, Aggregation> = {
  Sum: (v) => v.reduce((a, b) => a + b, 0),
  Count: (v) => v.length,
  Average: (v) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0),
  Max: (v) => Math.max(...v),
  Min: (v) => Math.min(...v),
};

/** Rows grouped by key, their size values combined as `mapSettings.sizeAggregation` says. */
function group<T>(
  table: QueryTable,
  key: (row: unknown[]) => string | null,
  size: number,
  aggregation: string | undefined,
  make: (row: unknown[], value: number) => T,
): T[] {
  const groups = new Map<string, { row: unknown[]; values: number[] }>();
  for (const row of table.rows) {
    const k = key(row);
    if (k === null) continue;
    const value = size >= 0 ? Number(row[size]) : 1;
    const found = groups.get(k) ?? { row, values: [] };
    if (!Number.isNaN(value)) found.values.push(value);
    groups.set(k, found);
  }
  const combine = AGGREGATIONS[aggregation ?? "Sum"] ?? AGGREGATIONS.Sum;
  return [...groups.values()].map(({ row, values }) => make(row, combine(values)));
}

/** `visualization: "map"` with latitude/longitude columns (bubbles) or a country column (shading). */
export function WorkbookMap({ table, content, height }: { table: QueryTable; content: QueryContent; height: number }) {
  const settings = content.mapSettings ?? {};
  const column = (name?: string) => (name ? table.columns.findIndex((c) => c.name === name) : -1);
  const size = column(settings.sizeSettings ?? settings.legendMetric);
  const metric = settings.sizeSettings ?? settings.legendMetric;

  const shape = useMemo(() => {
    if (settings.locInfo === "LatLong") {
      const lat = column(settings.latitude);
      const lon = column(settings.longitude);
      if (lat < 0 || lon < 0) return null;
      const label = column(settings.labelSettings);
      const points = group<GeoPoint>(
        table,
        (row) => (row[lat] === null || row[lon] === null || row[lat] === "" ? null : `${row[lat]},${row[lon]}`),
        size,
        settings.sizeAggregation,
        (row, value) => ({
          latitude: Number(row[lat]),
          longitude: Number(row[lon]),
          value,
          label: label >= 0 ? String(row[label] ?? "") : `${row[lat]}, ${row[lon]}`,
        }),
      ).filter((p) => Number.isFinite(p.latitude) && Number.isFinite(p.longitude));
      return { points };
    }
    if (settings.locInfo === "CountryRegion") {
      const country = column(settings.locInfoColumn);
      if (country < 0) return null;
      const regions = group<GeoRegion>(
        table,
        (row) => (row[country] ? String(row[country]) : null),
        size,
        settings.sizeAggregation,
        (row, value) => ({ name: String(row[country]), value }),
      );
      return { regions };
    }
    return null;
  }, [table, content]);

  if (!shape) return <Unsupported what={t("workbooks.unsupportedMap", { kind: settings.locInfo ?? "" })} />;
  return (
    <div class="wb-map" data-testid="workbook-map">
      <GeoMap {...shape} metric={metric} height={height} />
    </div>
  );
}
