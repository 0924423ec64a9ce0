import { useMemo } from "preact/hooks";
import { useWorkbook } from "./context";
import { renderMarkdown } from "./markdown";
import type { TextContent, WorkbookItem } from "./model";
import { substitute } from "./params";

// The portal's text styles, shown with the console's banners.
const STYLES: Record<string, string> = {
  info: "banner",
  upsell: "banner",
  warning: "banner banner-warning",
  error: "banner banner-error",
  success: "banner banner-success",
};

export function TextItem({ item }: { item: WorkbookItem }) {
  const { params } = useWorkbook();
  const content = item.content as TextContent;
  const text = substitute(content.json ?? "", params);
  const html = useMemo(() => renderMarkdown(text), [text]);
  const style = STYLES[content.style ?? ""] ?? "";
  // renderMarkdown escapes raw HTML and filters URLs, so its output may be inserted.
  return <div class={`wb-text ${style}`} dangerouslySetInnerHTML={{ __html: html }} />;
}
