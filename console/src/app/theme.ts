import { store } from "./store";

export type Theme = "light" | "dark";

const STORAGE_KEY = "vigil.theme";
const media = window.matchMedia("(prefers-color-scheme: dark)");

function chosen(): Theme | null {
  const value = localStorage.getItem(STORAGE_KEY);
  return value === "light" || value === "dark" ? value : null;
}

const theme = store<Theme>(chosen() ?? (media.matches ? "dark" : "light"));

function apply(value: Theme) {
  document.documentElement.dataset.theme = value;
  document.documentElement.style.colorScheme = value;
  theme.set(value);
}

apply(theme.get());
// Until the user picks a theme, the console follows the system's.
media.addEventListener("change", (event) => {
  if (!chosen()) apply(event.matches ? "dark" : "light");
});

export function setTheme(value: Theme) {
  localStorage.setItem(STORAGE_KEY, value);
  apply(value);
}

export const useTheme = (): Theme => theme.use();
