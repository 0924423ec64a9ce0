import { t } from "../i18n";

interface JsonPanelProps {
  title: string;
  value: unknown;
  onCopy: (text: string) => void;
  onClose: () => void;
}

/** The pretty-printed view of one dynamic cell, under the grid. */
export function JsonPanel({ title, value, onCopy, onClose }: JsonPanelProps) {
  const text = JSON.stringify(value, null, 2);
  return (
    <section class="vg-json" aria-label={title}>
      <header class="vg-json-head">
        <span class="vg-json-title">{title}</span>
        <button type="button" class="btn btn-small" onClick={() => onCopy(text)}>
          {t("grid.copy")}
        </button>
        <button type="button" class="btn btn-small" onClick={onClose} aria-label={t("grid.close")}>
          ✕
        </button>
      </header>
      <pre class="vg-json-body">{text}</pre>
    </section>
  );
}
