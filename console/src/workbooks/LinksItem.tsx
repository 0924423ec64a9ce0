import { t } from "../i18n";
import { useWorkbook } from "./context";
import type { LinkDef, LinksContent, WorkbookItem } from "./model";
import { plainValue, substitute, textValue } from "./params";

const SAFE_URL = /^(?:https?:|\/(?!\/))/i;

/** Link items: a tab strip (`style: "tabs"`) or a list of links that set parameters or open URLs. */
export function LinksItem({ item }: { item: WorkbookItem }) {
  const { params, setParam } = useWorkbook();
  const content = item.content as LinksContent;
  const links = content.links ?? [];
  const label = (link: LinkDef) => substitute(link.linkLabel ?? link.subTarget ?? "", params);
  const select = (link: LinkDef) => {
    if (link.cellValue) setParam(link.cellValue, { value: textValue(link.subTarget ?? ""), required: false });
  };

  if (content.style === "tabs") {
    const move = (event: KeyboardEvent, index: number) => {
      const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      event.preventDefault();
      const next = links[(index + step + links.length) % links.length];
      select(next);
      const tabs = (event.currentTarget as HTMLElement).parentElement?.querySelectorAll<HTMLElement>("[role=tab]");
      tabs?.[(index + step + links.length) % links.length]?.focus();
    };
    return (
      <div class="tabs wb-tabs" role="tablist">
        {links.map((link, index) => {
          const selected = !!link.cellValue && plainValue(params[link.cellValue]) === (link.subTarget ?? "");
          return (
            <button
              key={link.id ?? index}
              type="button"
              role="tab"
              aria-selected={selected}
              tabIndex={selected ? 0 : -1}
              data-testid="workbook-tab"
              onClick={() => select(link)}
              onKeyDown={(e) => move(e, index)}
            >
              {label(link)}
            </button>
          );
        })}
      </div>
    );
  }

  return (
    <ul class={content.style === "list" ? "wb-links wb-links-list" : "wb-links"}>
      {links.map((link, index) => (
        <li key={link.id ?? index}>
          {link.preText && <span>{substitute(link.preText, params)} </span>}
          <LinkControl link={link} label={label(link)} onSelect={() => select(link)} />
          {link.postText && <span> {substitute(link.postText, params)}</span>}
        </li>
      ))}
    </ul>
  );
}

function LinkControl({ link, label, onSelect }: { link: LinkDef; label: string; onSelect: () => void }) {
  const { params } = useWorkbook();
  const target = link.linkTarget?.toLowerCase();
  if (target === "parameter") {
    return (
      <button type="button" class="btn-link" onClick={onSelect}>
        {label}
      </button>
    );
  }
  // URL links keep their address in cellValue.
  const url = substitute(link.cellValue ?? "", params).trim();
  if (target === "url" && SAFE_URL.test(url)) {
    return (
      <a href={url} target="_blank" rel="noopener noreferrer">
        {label}
      </a>
    );
  }
  return (
    <span class="muted" title={t("workbooks.unsupportedLink")}>
      {label}
    </span>
  );
}
