import { store } from "./store";

export interface Route {
  /** The location's pathname. */
  path: string;
  /** The matched pattern, e.g. `/incidents/:id`; empty when none matches. */
  pattern: string;
  params: Record<string, string>;
  query: Record<string, string>;
}

/** Every client-side route; `useRoute` matches the location against these. */
const PATTERNS = [
  "/login",
  "/login/callback",
  "/incidents",
  "/incidents/:id",
  "/hunting",
  "/workbooks",
  "/workbooks/:name",
  "/rules",
  "/rules/:id",
  "/automation",
  "/watchlists",
  "/watchlists/:alias",
  "/connectors",
  "/settings",
] as const;

function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/");
  const have = path.replace(/\/+$/, "").split("/");
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(":")) {
      if (!have[i]) return null;
      params[want[i].slice(1)] = decodeURIComponent(have[i]);
    } else if (want[i] !== have[i]) {
      return null;
    }
  }
  return params;
}

function current(): Route {
  const path = location.pathname;
  const query = Object.fromEntries(new URLSearchParams(location.search));
  for (const pattern of PATTERNS) {
    const params = match(pattern, path);
    if (params) return { path, pattern, params, query };
  }
  return { path, pattern: "", params: {}, query };
}

const route = store(current());
const update = () => route.set(current());

export function navigate(to: string, options: { replace?: boolean } = {}) {
  if (to === location.pathname + location.search) return;
  if (options.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  update();
}

/** The current route as a snapshot, for code outside components. */
export const getRoute = (): Route => route.get();
export const useRoute = (): Route => route.use();

/** `path?query` with empty values left out, so URLs stay short and stable. */
export function withQuery(path: string, query: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) search.set(key, value);
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

// Paths the server answers itself; a link to one is a real navigation.
const SERVER_PATHS = /^\/(api|v1|dataCollectionRules|metrics|healthz|readyz|assets)(\/|$)/;

/** Turns same-origin link clicks into History API navigations. */
export function interceptLinks() {
  window.addEventListener("popstate", update);
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest?.("a[href]");
    if (!(anchor instanceof HTMLAnchorElement)) return;
    if (anchor.target && anchor.target !== "_self") return;
    if (anchor.hasAttribute("download") || anchor.origin !== location.origin) return;
    if (SERVER_PATHS.test(anchor.pathname)) return;
    event.preventDefault();
    navigate(anchor.pathname + anchor.search);
  });
}
