import type { ComponentChild } from "preact";
import { useMemo } from "preact/hooks";
import { formatTime } from "../components/Time";
import { cellText } from "../grid/cells";
import { ResultsGrid } from "../grid/ResultsGrid";
import type { QueryTable } from "../hunting/query";
import type { Formatter, QueryContent } from "./model";
import type { Scale } from "./formatters";
import {
  formatterFor,
  FormatterId,
  namedColor,
  paletteColor,
  ratio,
  scaleOf,
  thresholdColor,
  visibleColumns,
} from "./formatters";

interface Plan {
  formatter?: Formatter;
  scale: Scale;
}

const HEADER = 26;
const ROW = 24;

/** A query's table with the workbook's column formatters (heatmap, bar, date, thresholds, hidden). */
interface WorkbookTableProps {
  table: QueryTable;
  content: QueryContent;
  maxHeight: number;
  /** The item's title, for exported file names. */
  title?: string;
}

export function WorkbookTable({ table, content, maxHeight, title }: WorkbookTableProps) {
  const settings = content.gridSettings;
  const { columns, rows, plans } = useMemo(() => {
    const formatters = settings?.formatters ?? [];
    const { columns, keep } = visibleColumns(table.columns, formatters, settings?.labelSettings ?? []);
    const rows = keep.length === table.columns.length ? table.rows : table.rows.map((row) => keep.map((i) => row[i]));
    const plans: Plan[] = keep.map((source, i) => {
      const formatter = formatterFor(table.columns[source].name, formatters);
      return { formatter, scale: formatter ? scaleOf(rows, i, formatter) : { min: 0, max: 1 } };
    });
    return { columns, rows, plans };
  }, [table, settings]);

  const renderCell = (value: unknown, column: number): ComponentChild | undefined => {
    const { formatter, scale } = plans[column];
    if (!formatter || value === null || value === undefined) return undefined;
    const text = cellText(value);
    switch (formatter.formatter) {
      case FormatterId.heatmap:
        return <Filled background={paletteColor(formatter.formatOptions?.palette, ratio(value, scale))} text={text} />;
      case FormatterId.bar:
      case FormatterId.barUnderneath: {
        const palette = formatter.formatOptions?.palette;
        const color = namedColor(palette, 0.45) ?? paletteColor(palette, ratio(value, scale));
        const width = `${Math.round(100 * Math.max(0, Math.min(1, ratio(value, scale))))}%`;
        return (
          <>
            <span class="wb-bar" style={{ width, background: color }} />
            <span class="wb-over">{text}</span>
          </>
        );
      }
      case FormatterId.dateTime:
        return <span title={`${text} (UTC)`}>{formatTime(text)}</span>;
      case FormatterId.thresholds: {
        const background = thresholdColor(value, formatter);
        return background ? <Filled background={background} text={text} /> : undefined;
      }
      default:
        return undefined;
    }
  };

  const height = Math.min(maxHeight, HEADER + Math.max(3, rows.length) * ROW + 2);
  return (
    <ResultsGrid columns={columns} rows={rows} height={height} renderCell={renderCell} exportName={title || undefined} />
  );
}

function Filled({ background, text }: { background: string; text: string }) {
  return (
    <>
      <span class="wb-fill" style={{ background }} />
      <span class="wb-over">{text}</span>
    </>
  );
}
