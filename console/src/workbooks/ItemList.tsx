import { t } from "../i18n";
import { useWorkbook } from "./context";
import { LinksItem } from "./LinksItem";
import type { GroupContent, WorkbookItem } from "./model";
import { ItemType } from "./model";
import { ParametersItem } from "./ParametersItem";
import { isVisible, substitute } from "./params";
import { QueryItem } from "./QueryItem";
import { TextItem } from "./TextItem";
import { OtherSource, Unsupported } from "./Unsupported";

/** Items in a wrapping row; `customWidth` is a percentage of it, as in the portal. */
export function ItemList({ items }: { items: readonly WorkbookItem[] }) {
  return (
    <div class="wb-items">
      {items.map((item, index) => (
        <ItemView key={item.name ?? index} item={item} />
      ))}
    </div>
  );
}

function width(item: WorkbookItem): string {
  const percent = Number.parseFloat(item.customWidth ?? "");
  return percent > 0 && percent < 100 ? `${percent}%` : "100%";
}

function ItemView({ item }: { item: WorkbookItem }) {
  const { params } = useWorkbook();
  if (!isVisible(item, params)) return null;
  const basis = width(item);
  return (
    <div class="wb-item" style={{ flex: `0 0 ${basis}`, maxWidth: basis }} data-item={item.name}>
      <ItemBody item={item} />
    </div>
  );
}

function ItemBody({ item }: { item: WorkbookItem }) {
  switch (item.type) {
    case ItemType.text:
      return <TextItem item={item} />;
    case ItemType.parameters:
      return <ParametersItem item={item} />;
    case ItemType.links:
      return <LinksItem item={item} />;
    case ItemType.group:
      return <GroupItem content={item.content as GroupContent} />;
    case ItemType.query:
      return <QueryItem item={item} />;
    case 10:
      // Metrics items read Azure Monitor metrics, a source Vigil does not have.
      return <OtherSource itemType={item.type} />;
    default:
      return <Unsupported what={t("workbooks.unsupportedItem", { type: item.type })} />;
  }
}

function GroupItem({ content }: { content: GroupContent }) {
  const { params } = useWorkbook();
  const items = content.items ?? [];
  // The portal shows a group's title only when the group can be collapsed.
  if (!content.expandable) return <ItemList items={items} />;
  return (
    <details class="wb-group" open={content.expanded !== false}>
      <summary>{substitute(content.title ?? "", params)}</summary>
      <ItemList items={items} />
    </details>
  );
}
