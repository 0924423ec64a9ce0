import { lazy } from "./lazy";

// The analytics part's pages, split into their own chunks.
export const HuntingPage = lazy(() => import("../hunting/HuntingPage").then((m) => m.HuntingPage));
export const WorkbooksPage = lazy(() => import("../workbooks/WorkbooksPage").then((m) => m.WorkbooksPage));
export const WorkbookPage = lazy<{ name: string }>(() =>
  import("../workbooks/WorkbookPage").then((m) => m.WorkbookPage),
);
