import type { ComponentChild } from "preact";
import { useEffect, useId, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { formatTime } from "../components/Time";
import { t } from "../i18n";
import { cellText, copyText, download, isStructured, sortedIndices, toCsv, toJson } from "./cells";
import { JsonPanel } from "./JsonPanel";
import type { Column, Row } from "./types";
import { isNumericType } from "./types";
import "./grid.css";

const ROW_HEIGHT = 24;
const HEADER_HEIGHT = 26;
const OVERSCAN = 12;
const MIN_WIDTH = 48;

export interface ResultsGridProps {
  columns: readonly Column[];
  rows: readonly Row[];
  /** Height of the scrolling area in pixels; without it the grid fills its parent. */
  height?: number;
  /** Content for a cell (workbook formatters); `undefined` keeps the default rendering. */
  renderCell?: (value: unknown, column: number) => ComponentChild | undefined;
  /** Stem of exported file names. */
  exportName?: string;
}

/**
 * A virtualised results table: only the visible rows (plus an overscan) are in the DOM, so
 * 100,000 rows scroll as smoothly as 100. Column layout state belongs to one schema, so a
 * result with different columns starts afresh.
 */
export function ResultsGrid(props: ResultsGridProps) {
  const schema = props.columns.map((c) => `${c.name}:${c.type}`).join("|");
  return <GridView key={schema} {...props} />;
}

interface Sort {
  column: number;
  descending: boolean;
}

/** The focused cell in view coordinates; row -1 is the header. */
interface Focus {
  row: number;
  col: number;
}

function GridView({ columns, rows, height, renderCell, exportName = "query-results" }: ResultsGridProps) {
  const gridId = useId();
  const scroller = useRef<HTMLDivElement>(null);
  const [widths, setWidths] = useState(() => initialWidths(columns, rows));
  const [sort, setSort] = useState<Sort | null>(null);
  const [filter, setFilter] = useState("");
  const appliedFilter = useDebounced(filter.trim().toLowerCase(), 150);
  const [focus, setFocus] = useState<Focus>({ row: 0, col: 0 });
  const [expanded, setExpanded] = useState<{ title: string; value: unknown } | null>(null);
  const [first, setFirst] = useState(0);
  const [viewport, setViewport] = useState({ width: 800, height: 400 });
  const [notice, setNotice] = useState("");

  const order = useMemo(
    () => (sort ? sortedIndices(rows, sort.column, columns[sort.column].type, sort.descending) : rows.map((_, i) => i)),
    [rows, sort],
  );
  // Lower-cased row texts are built once per result when filtering starts, not per keystroke.
  const searchText = useMemo(
    () => (appliedFilter ? rows.map((row) => row.map(cellText).join("\u0001").toLowerCase()) : null),
    [rows, appliedFilter !== ""],
  );
  const view = useMemo(
    () => (searchText ? order.filter((i) => searchText[i].includes(appliedFilter)) : order),
    [order, searchText, appliedFilter],
  );

  useEffect(() => setExpanded(null), [rows]);

  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setViewport({ width: element.clientWidth, height: element.clientHeight }));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const row = Math.min(focus.row, view.length - 1);
  const col = Math.min(focus.col, columns.length - 1);
  const lefts = useMemo(() => {
    const edges = [0];
    for (const w of widths) edges.push(edges[edges.length - 1] + w);
    return edges;
  }, [widths]);
  // Header and row stripes span the grid even when the columns are narrower than it.
  const totalWidth = Math.max(lefts[lefts.length - 1], viewport.width);

  function flash(message: string) {
    setNotice(message);
    setTimeout(() => setNotice(""), 1500);
  }

  async function copy(text: string) {
    try {
      await copyText(text);
      flash(t("grid.copied"));
    } catch {
      flash(t("grid.copyFailed"));
    }
  }

  const focusedRow = row >= 0 ? rows[view[row]] : undefined;
  const copyCell = () => focusedRow && copy(cellText(focusedRow[col]));
  const copyRow = () => focusedRow && copy(focusedRow.map(cellText).join("\t"));

  function toggleSort(column: number) {
    setSort((s) =>
      s?.column !== column ? { column, descending: false } : s.descending ? null : { column, descending: true },
    );
  }

  function expand(viewRow: number, column: number) {
    const value = rows[view[viewRow]]?.[column];
    if (isStructured(value)) setExpanded({ title: `${columns[column].name} · ${viewRow + 1}`, value });
  }

  // Keeps the focused cell visible after keyboard moves.
  function reveal(next: Focus) {
    const element = scroller.current;
    if (!element) return;
    const body = element.clientHeight - HEADER_HEIGHT;
    const top = next.row * ROW_HEIGHT;
    if (next.row >= 0 && top < element.scrollTop) element.scrollTop = top;
    else if (top + ROW_HEIGHT > element.scrollTop + body) element.scrollTop = top + ROW_HEIGHT - body;
    const left = lefts[next.col];
    const right = lefts[next.col + 1];
    if (left < element.scrollLeft) element.scrollLeft = left;
    else if (right > element.scrollLeft + element.clientWidth) element.scrollLeft = right - element.clientWidth;
  }

  function move(next: Focus) {
    const clamped = {
      row: Math.max(-1, Math.min(view.length - 1, next.row)),
      col: Math.max(0, Math.min(columns.length - 1, next.col)),
    };
    setFocus(clamped);
    reveal(clamped);
  }

  function resize(column: number, width: number) {
    setWidths((ws) => ws.map((w, i) => (i === column ? Math.max(MIN_WIDTH, Math.round(width)) : w)));
  }

  function onKeyDown(event: KeyboardEvent) {
    const page = Math.max(1, Math.floor((viewport.height - HEADER_HEIGHT) / ROW_HEIGHT) - 1);
    const mod = event.ctrlKey || event.metaKey;
    if (mod && event.key.toLowerCase() === "c") {
      if (event.shiftKey) copyRow();
      else if (row >= 0) copyCell();
      else copy(columns[col].name);
    } else if (row < 0 && event.altKey && (event.key === "ArrowLeft" || event.key === "ArrowRight")) {
      resize(col, widths[col] + (event.key === "ArrowLeft" ? -16 : 16));
    } else if (event.key === "ArrowDown") move({ row: row + 1, col });
    else if (event.key === "ArrowUp") move({ row: row - 1, col });
    else if (event.key === "ArrowRight") move({ row, col: col + 1 });
    else if (event.key === "ArrowLeft") move({ row, col: col - 1 });
    else if (event.key === "PageDown") move({ row: row + page, col });
    else if (event.key === "PageUp") move({ row: Math.max(0, row - page), col });
    else if (event.key === "Home") move(mod ? { row: 0, col: 0 } : { row, col: 0 });
    else if (event.key === "End") move(mod ? { row: view.length - 1, col } : { row, col: columns.length - 1 });
    else if (event.key === "Enter" || event.key === " ") {
      if (row < 0) toggleSort(col);
      else expand(row, col);
    } else if (event.key === "Escape" && expanded) setExpanded(null);
    else return;
    event.preventDefault();
  }

  // One listener for all cells: rows are recycled as the user scrolls.
  function onCellClick(event: MouseEvent) {
    const cell = (event.target as Element).closest<HTMLElement>("[data-c]");
    if (!cell) return;
    const next = { row: Number(cell.dataset.r), col: Number(cell.dataset.c) };
    setFocus(next);
    scroller.current?.focus({ preventScroll: true });
    expand(next.row, next.col);
  }

  const visible = Math.ceil(viewport.height / ROW_HEIGHT);
  const start = Math.max(0, first - OVERSCAN);
  const end = Math.min(view.length, first + visible + OVERSCAN);
  // Rows are keyed by slot, not index: a jump reuses the same DOM nodes instead of rebuilding them.
  const slots = visible + 2 * OVERSCAN + 1;
  const cellId = (r: number, c: number) => `${gridId}-${r}-${c}`;
  const countText =
    view.length === rows.length
      ? t("grid.rows", { count: rows.length })
      : t("grid.filteredRows", { shown: view.length, count: rows.length });

  return (
    <div class={height === undefined ? "vg-grid vg-grid-fill" : "vg-grid"} data-testid="results-grid">
      <div class="vg-grid-toolbar">
        <span class="vg-grid-count">{countText}</span>
        <input
          class="vg-grid-filter"
          type="search"
          value={filter}
          placeholder={t("grid.filter")}
          aria-label={t("grid.filter")}
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
        <span class="vg-grid-notice" role="status">
          {notice}
        </span>
        <button type="button" class="btn btn-small" onClick={copyCell} disabled={!focusedRow} title="Ctrl+C">
          {t("grid.copyCell")}
        </button>
        <button type="button" class="btn btn-small" onClick={copyRow} disabled={!focusedRow} title="Ctrl+Shift+C">
          {t("grid.copyRow")}
        </button>
        <button
          type="button"
          class="btn btn-small"
          onClick={() => download(`${exportName}.csv`, "text/csv", toCsv(columns, view.map((i) => rows[i])))}
        >
          {t("grid.exportCsv")}
        </button>
        <button
          type="button"
          class="btn btn-small"
          onClick={() =>
            download(`${exportName}.json`, "application/json", toJson(columns, view.map((i) => rows[i])))
          }
        >
          {t("grid.exportJson")}
        </button>
      </div>
      <div
        ref={scroller}
        class="vg-grid-scroller"
        style={height === undefined ? undefined : { height: `${height}px` }}
        role="grid"
        aria-label={t("grid.label")}
        aria-rowcount={view.length + 1}
        aria-colcount={columns.length}
        aria-activedescendant={columns.length ? cellId(row, col) : undefined}
        tabIndex={0}
        onKeyDown={onKeyDown}
        onScroll={(e) => setFirst(Math.floor(e.currentTarget.scrollTop / ROW_HEIGHT))}
      >
        <div class="vg-grid-header" role="row" aria-rowindex={1} style={{ width: `${totalWidth}px` }}>
          {columns.map((column, c) => (
            <HeaderCell
              id={cellId(-1, c)}
              key={c}
              index={c}
              column={column}
              width={widths[c]}
              sort={sort?.column === c ? (sort.descending ? "descending" : "ascending") : undefined}
              focused={row === -1 && col === c}
              onSort={() => {
                setFocus({ row: -1, col: c });
                toggleSort(c);
              }}
              onResize={(w) => resize(c, w)}
            />
          ))}
        </div>
        <div
          class="vg-grid-canvas"
          role="rowgroup"
          style={{ height: `${view.length * ROW_HEIGHT}px`, width: `${totalWidth}px` }}
          onClick={onCellClick}
        >
          {view.slice(start, end).map((rowIndex, offset) => {
            const r = start + offset;
            return (
              <div
                key={r % slots}
                role="row"
                aria-rowindex={r + 2}
                class={r === row ? "vg-row vg-row-focused" : r % 2 ? "vg-row vg-row-odd" : "vg-row"}
                style={{ transform: `translateY(${r * ROW_HEIGHT}px)` }}
              >
                {columns.map((column, c) => (
                  <div
                    key={c}
                    id={cellId(r, c)}
                    role="gridcell"
                    aria-colindex={c + 1}
                    data-r={r}
                    data-c={c}
                    class={cellClass(column, r === row && c === col)}
                    style={{ width: `${widths[c]}px` }}
                  >
                    <Cell value={rows[rowIndex][c]} column={column} index={c} renderCell={renderCell} />
                  </div>
                ))}
              </div>
            );
          })}
        </div>
        {view.length === 0 && <div class="vg-grid-empty">{t("grid.noRows")}</div>}
      </div>
      {expanded && (
        <JsonPanel title={expanded.title} value={expanded.value} onCopy={copy} onClose={() => setExpanded(null)} />
      )}
    </div>
  );
}

function cellClass(column: Column, focused: boolean): string {
  let name = "vg-cell";
  if (isNumericType(column.type)) name += " vg-cell-num";
  if (focused) name += " vg-cell-focused";
  return name;
}

interface CellProps {
  value: unknown;
  column: Column;
  index: number;
  renderCell?: ResultsGridProps["renderCell"];
}

function Cell({ value, column, index, renderCell }: CellProps) {
  const custom = renderCell?.(value, index);
  if (custom !== undefined) return <>{custom}</>;
  if (value === null || value === undefined) return null;
  if (column.type === "datetime" && typeof value === "string") {
    return <span title={`${value} (UTC)`}>{formatTime(value)}</span>;
  }
  if (isStructured(value)) {
    const text = JSON.stringify(value);
    return (
      <span class="vg-cell-json" title={t("grid.expand")}>
        {text.length > 300 ? `${text.slice(0, 300)}…` : text}
      </span>
    );
  }
  const text = String(value);
  return <span title={text.length > 40 ? text.slice(0, 2000) : undefined}>{text}</span>;
}

interface HeaderCellProps {
  id: string;
  index: number;
  column: Column;
  width: number;
  sort?: "ascending" | "descending";
  focused: boolean;
  onSort: () => void;
  onResize: (width: number) => void;
}

function HeaderCell({ id, index, column, width, sort, focused, onSort, onResize }: HeaderCellProps) {
  function startResize(event: PointerEvent) {
    event.preventDefault();
    event.stopPropagation();
    const handle = event.currentTarget as HTMLElement;
    const startX = event.clientX;
    handle.setPointerCapture(event.pointerId);
    const moveTo = (e: PointerEvent) => onResize(width + e.clientX - startX);
    const stop = () => {
      handle.removeEventListener("pointermove", moveTo);
      handle.removeEventListener("pointerup", stop);
      handle.removeEventListener("pointercancel", stop);
    };
    handle.addEventListener("pointermove", moveTo);
    handle.addEventListener("pointerup", stop);
    handle.addEventListener("pointercancel", stop);
  }

  return (
    <div
      id={id}
      role="columnheader"
      aria-colindex={index + 1}
      aria-sort={sort ?? "none"}
      class={focused ? "vg-head vg-cell-focused" : "vg-head"}
      style={{ width: `${width}px` }}
      title={`${column.name} (${column.type})`}
      onClick={onSort}
    >
      <span class="vg-head-name">{column.name}</span>
      {sort && <span class="vg-head-sort" aria-hidden="true">{sort === "ascending" ? "▲" : "▼"}</span>}
      <span
        class="vg-head-resize"
        aria-hidden="true"
        onPointerDown={startResize}
        onClick={(e) => e.stopPropagation()}
      />
    </div>
  );
}

/** Column widths that fit the header and a sample of rows (first, last and spread), within bounds. */
function initialWidths(columns: readonly Column[], rows: readonly Row[]): number[] {
  const step = Math.max(1, Math.floor(rows.length / 100));
  const sample = [...rows.slice(0, 100), ...rows.slice(-100), ...rows.filter((_, i) => i % step === 0)];
  return columns.map((column, c) => {
    if (column.type === "datetime") return 180;
    let longest = column.name.length + 2;
    for (const row of sample) longest = Math.max(longest, Math.min(60, cellText(row[c]).length));
    return Math.max(64, Math.min(360, longest * 7.5 + 20));
  });
}

function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}
