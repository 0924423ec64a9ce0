// The parts of Azure Workbooks' Notebook/1.0 JSON the console renders. Everything is optional:
// workbooks come from the gallery, exports and hand edits, and a missing field must not crash.

export interface Notebook {
  version: "Notebook/1.0";
  items: WorkbookItem[];
  [other: string]: unknown;
}

export const ItemType = {
  text: 1,
  query: 3,
  parameters: 9,
  links: 11,
  group: 12,
} as const;

export interface Condition {
  parameterName: string;
  comparison: string;
  value?: string;
}

export interface WorkbookItem {
  type: number;
  name?: string;
  content: Record<string, unknown>;
  conditionalVisibility?: Condition;
  conditionalVisibilities?: Condition[];
  /** Percent of the row, as a string ("50"). */
  customWidth?: string;
}

export interface TextContent {
  json?: string;
  style?: string;
}

export interface TimeContext {
  durationMs: number;
  startTime?: string;
  endTime?: string;
}

export interface Criterion {
  criteriaContext?: {
    leftOperand?: string;
    operator?: string;
    rightValType?: string;
    rightVal?: string;
    resultValType?: string;
    resultVal?: string;
  };
}

export interface ParameterDef {
  id?: string;
  name: string;
  label?: string;
  description?: string;
  type: number;
  value?: unknown;
  isRequired?: boolean;
  isHiddenWhenLocked?: boolean;
  query?: string;
  queryType?: number;
  jsonData?: string | unknown[];
  multiSelect?: boolean;
  quote?: string;
  delimiter?: string;
  timeContext?: TimeContext;
  timeContextFromParameter?: string;
  crossComponentResources?: string[];
  criteriaData?: Criterion[];
  typeSettings?: {
    selectableValues?: TimeContext[];
    allowCustom?: boolean;
    additionalResourceOptions?: string[];
    selectAllValue?: string;
    multiSelect?: boolean;
  };
}

export interface ParametersContent {
  parameters?: ParameterDef[];
}

export interface LinkDef {
  id?: string;
  cellValue?: string;
  linkTarget?: string;
  linkLabel?: string;
  subTarget?: string;
  preText?: string;
  postText?: string;
}

export interface LinksContent {
  style?: string;
  links?: LinkDef[];
}

export interface GroupContent {
  title?: string;
  items?: WorkbookItem[];
  expandable?: boolean;
  expanded?: boolean;
}

export interface Formatter {
  columnMatch?: string;
  formatter?: number;
  formatOptions?: {
    palette?: string;
    min?: number;
    max?: number;
    thresholdsOptions?: string;
    thresholdsGrid?: { operator?: string; thresholdValue?: string; representation?: string }[];
  };
}

export interface TileContent {
  columnMatch?: string;
  formatter?: number;
}

export interface QueryContent {
  query?: string;
  queryType?: number;
  size?: number;
  title?: string;
  noDataMessage?: string;
  visualization?: string;
  timeContext?: TimeContext;
  timeContextFromParameter?: string;
  crossComponentResources?: string[];
  gridSettings?: {
    formatters?: Formatter[];
    labelSettings?: { columnId?: string; label?: string }[];
  };
  tileSettings?: {
    titleContent?: TileContent;
    subtitleContent?: TileContent;
    leftContent?: TileContent;
    rightContent?: TileContent;
    secondaryContent?: TileContent;
    maxTiles?: number;
  };
  mapSettings?: {
    locInfo?: string;
    locInfoColumn?: string;
    latitude?: string;
    longitude?: string;
    sizeSettings?: string;
    sizeAggregation?: string;
    labelSettings?: string;
    legendMetric?: string;
  };
}

/** The server's own check (crates/server/src/workbooks.rs): what every workbook must have. */
export function notebookProblem(value: unknown): string | null {
  if (typeof value !== "object" || value === null) return "notObject";
  const notebook = value as { version?: unknown; items?: unknown };
  if (notebook.version !== "Notebook/1.0") return "version";
  if (!Array.isArray(notebook.items)) return "items";
  const bad = notebook.items.some(
    (item) => typeof item !== "object" || item === null || typeof (item as WorkbookItem).type !== "number" ||
      typeof (item as WorkbookItem).content !== "object" || (item as WorkbookItem).content === null,
  );
  return bad ? "item" : null;
}

/** Every item, depth first, groups' items included. */
export function* walkItems(items: readonly WorkbookItem[]): Generator<WorkbookItem> {
  for (const item of items) {
    yield item;
    if (item.type === ItemType.group) yield* walkItems((item.content as GroupContent).items ?? []);
  }
}
