import { getLocale } from "../i18n";
import type { QueryTable } from "../hunting/query";
import { isNumericType } from "../grid/types";
import { cellText } from "../grid/cells";
import type { QueryContent, TileContent } from "./model";

/** Large counts read better as 12.3K; smaller ones keep every digit. */
function bigNumber(value: unknown): string {
  const n = typeof value === "number" ? value : Number(value);
  if (value === null || value === "" || Number.isNaN(n)) return cellText(value);
  const compact = Math.abs(n) >= 100_000;
  return new Intl.NumberFormat(getLocale(), compact ? { notation: "compact", maximumFractionDigits: 1 } : {}).format(n);
}

/** One tile per row: title, big number (leftContent), subtitle and right/secondary values. */
export function Tiles({ table, content }: { table: QueryTable; content: QueryContent }) {
  const settings = content.tileSettings ?? {};
  const at = (part?: TileContent) =>
    part?.columnMatch ? table.columns.findIndex((c) => c.name === part.columnMatch) : -1;
  const title = at(settings.titleContent);
  const subtitle = at(settings.subtitleContent);
  const right = at(settings.rightContent);
  const secondary = at(settings.secondaryContent);
  // Without a mapped column the portal shows the first number, which is what a count query returns.
  const leftMapped = at(settings.leftContent);
  const left = leftMapped >= 0 ? leftMapped : table.columns.findIndex((c) => isNumericType(c.type));
  const text = (row: unknown[], column: number) => (column >= 0 ? cellText(row[column]) : "");

  return (
    <div class="wb-tiles">
      {table.rows.slice(0, settings.maxTiles ?? 100).map((row, index) => (
        <div key={index} class="wb-tile" data-testid="workbook-tile">
          {title >= 0 && <div class="wb-tile-title">{text(row, title)}</div>}
          {left >= 0 && <div class="wb-tile-value">{bigNumber(row[left])}</div>}
          {subtitle >= 0 && <div class="wb-tile-subtitle">{text(row, subtitle)}</div>}
          {(right >= 0 || secondary >= 0) && (
            <div class="wb-tile-extra">
              {right >= 0 && <span>{text(row, right)}</span>}
              {secondary >= 0 && <span>{text(row, secondary)}</span>}
            </div>
          )}
        </div>
      ))}
    </div>
  );
}
