import type { FeatureCollection, Position } from "geojson";
import { feature } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import { registerMap } from "echarts/core";

export const WORLD = "world";

let loading: Promise<void> | null = null;

/**
 * Registers the world map with ECharts on first use. The atlas is fetched as its own chunk, so
 * pages without a map never pay for it.
 */
export function loadWorld(): Promise<void> {
  loading ??= import("world-atlas/countries-110m.json").then((module) => {
    const topology = module.default as unknown as Topology<{ countries: GeometryCollection<{ name: string }> }>;
    const countries = feature(topology, topology.objects.countries) as FeatureCollection;
    // Antarctica takes a sixth of the canvas and never has a sign-in.
    countries.features = countries.features.filter((f) => f.properties?.name !== "Antarctica");
    for (const { geometry } of countries.features) {
      if (geometry.type === "Polygon") geometry.coordinates.forEach(unwrap);
      else if (geometry.type === "MultiPolygon") geometry.coordinates.forEach((polygon) => polygon.forEach(unwrap));
    }
    registerMap(WORLD, countries as Parameters<typeof registerMap>[1]);
  });
  return loading;
}

/**
 * The atlas is spherical: Russia's and Fiji's rings jump from 180° to -180°, which a flat map
 * draws as a band across the world. Continuing such rings past 180° instead draws them whole.
 */
function unwrap(ring: Position[]) {
  let shift = 0;
  for (let i = 1; i < ring.length; i++) {
    const jump = ring[i][0] + shift - ring[i - 1][0];
    if (jump > 180) shift -= 360;
    else if (jump < -180) shift += 360;
    // Points may be shared between rings (topojson arcs), so they are replaced, not edited.
    if (shift) ring[i] = [ring[i][0] + shift, ring[i][1]];
  }
}

// Names as IP geolocation databases and Sentinel spell them, mapped to Natural Earth's.
const ALIASES: Record<string, string> = {
  "united states": "United States of America",
  usa: "United States of America",
  us: "United States of America",
  "united kingdom of great britain and northern ireland": "United Kingdom",
  uk: "United Kingdom",
  "russian federation": "Russia",
  "korea, republic of": "South Korea",
  "republic of korea": "South Korea",
  "korea, democratic people's republic of": "North Korea",
  "czech republic": "Czechia",
  "viet nam": "Vietnam",
  "iran, islamic republic of": "Iran",
  "bosnia and herzegovina": "Bosnia and Herz.",
  "central african republic": "Central African Rep.",
  "democratic republic of the congo": "Dem. Rep. Congo",
  "congo, the democratic republic of the": "Dem. Rep. Congo",
  "dominican republic": "Dominican Rep.",
  "equatorial guinea": "Eq. Guinea",
  "south sudan": "S. Sudan",
  "solomon islands": "Solomon Is.",
  "western sahara": "W. Sahara",
  "north macedonia": "Macedonia",
  eswatini: "eSwatini",
  "falkland islands": "Falkland Is.",
  "ivory coast": "Côte d'Ivoire",
  "lao people's democratic republic": "Laos",
  "syrian arab republic": "Syria",
  "taiwan, province of china": "Taiwan",
  "tanzania, united republic of": "Tanzania",
  "moldova, republic of": "Moldova",
  "bolivia, plurinational state of": "Bolivia",
  "venezuela, bolivarian republic of": "Venezuela",
};

/** The atlas's name for a country as a query returned it. */
export const atlasName = (country: string): string => ALIASES[country.trim().toLowerCase()] ?? country.trim();
