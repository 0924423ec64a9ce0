import { lazy } from "./lazy";

// The analytics part's pages, split into their own chunks.
export const HuntingPage = lazy(() => import("../hunting/HuntingPage").then((m) => m.HuntingPage));
export const WorkbooksPage = lazy(() => import("../workbooks/WorkbooksPage").then((m) => m.WorkbooksPage));
export const WatchlistsPage = lazy(() => import("../watchlists/WatchlistsPage").then((m) => m.WatchlistsPage));
export const WatchlistPage = lazy<{ alias: string }>(() =>
  import("../watchlists/WatchlistPage").then((m) => m.WatchlistPage),
);
export const WorkbookPage = lazy<{ name: string }>(() =>
  import("../workbooks/WorkbookPage").then((m) => m.WorkbookPage),
);
