import { store } from "../app/store";

export type Locale = "en" | "ja";
export const LOCALES: readonly Locale[] = ["en", "ja"];

type Catalog = Record<string, string>;

// Each area keeps its own catalogs next to its code; they are merged here so that an area can
// be added without touching a central list.
const files = import.meta.glob<Catalog>("/src/**/messages.*.json", { eager: true, import: "default" });
const catalogs: Record<Locale, Catalog> = { en: {}, ja: {} };
for (const [path, catalog] of Object.entries(files)) {
  const locale = /messages\.(\w+)\.json$/.exec(path)?.[1];
  if (locale === "en" || locale === "ja") Object.assign(catalogs[locale], catalog);
}

declare global {
  interface Window {
    /** Keys rendered without a translation; the browser tests assert this stays empty. */
    __vigilMissing?: string[];
  }
}

const STORAGE_KEY = "vigil.locale";

function initialLocale(): Locale {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored === "en" || stored === "ja") return stored;
  return navigator.language.toLowerCase().startsWith("ja") ? "ja" : "en";
}

const locale = store<Locale>(initialLocale());
document.documentElement.lang = locale.get();

function reportMissing(key: string) {
  const missing = (window.__vigilMissing ??= []);
  if (!missing.includes(key)) missing.push(key);
}

/** Whether `key` has a message; for values (history actions, enum members) that may be new. */
export function hasMessage(key: string): boolean {
  return key in catalogs.en;
}

/** The message for `key` in the active locale, with `{name}` placeholders filled from `params`. */
export function t(key: string, params?: Record<string, string | number>): string {
  let text = catalogs[locale.get()][key];
  if (text === undefined) {
    reportMissing(key);
    text = catalogs.en[key] ?? key;
  }
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = params[name];
    if (value === undefined) return whole;
    return typeof value === "number" ? formatNumber(value) : value;
  });
}

export function getLocale(): Locale {
  return locale.get();
}

export function setLocale(next: Locale) {
  localStorage.setItem(STORAGE_KEY, next);
  document.documentElement.lang = next;
  locale.set(next);
}

/** The active locale; the calling component re-renders when it changes. */
export const useLocale = (): Locale => locale.use();

const numberFormats = new Map<Locale, Intl.NumberFormat>();

export function formatNumber(value: number): string {
  let format = numberFormats.get(locale.get());
  if (!format) {
    format = new Intl.NumberFormat(locale.get());
    numberFormats.set(locale.get(), format);
  }
  return format.format(value);
}
