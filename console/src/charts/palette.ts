import type { Theme } from "../app/theme";

/** Chart colours taken from the console's theme variables, so charts match the page. */
export interface ChartColors {
  text: string;
  muted: string;
  border: string;
  surface: string;
  font: string;
  series: string[];
  /** Low-to-high ramp for shaded maps. */
  ramp: [string, string];
  /** Countries without data, and under the pointer. */
  land: string;
  landHover: string;
}

// Categorical palettes chosen to stay distinguishable (and AA against the surface) per theme.
const SERIES: Record<Theme, string[]> = {
  light: ["#0b5cc2", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0c8599", "#e67700", "#5c7cfa", "#5f3dc4", "#495057"],
  dark: ["#6aa8ff", "#ff922b", "#69db7c", "#da77f2", "#f783ac", "#3bc9db", "#ffd43b", "#91a7ff", "#b197fc", "#ced4da"],
};

export function chartColors(theme: Theme): ChartColors {
  const style = getComputedStyle(document.documentElement);
  const read = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    text: read("--text", theme === "dark" ? "#e6e9ee" : "#1b1f24"),
    muted: read("--text-muted", "#566070"),
    border: read("--border", "#d9dde3"),
    surface: read("--surface", theme === "dark" ? "#181c22" : "#ffffff"),
    font: read("--font", "system-ui, sans-serif"),
    series: SERIES[theme],
    ramp: theme === "dark" ? ["#1c2a40", "#6aa8ff"] : ["#e3edfb", "#0b5cc2"],
    land: theme === "dark" ? "#2a313b" : "#dde2e8",
    landHover: theme === "dark" ? "#3a4a63" : "#bcd0ee",
  };
}
