import { useState } from "preact/hooks";
import { t } from "../i18n";
import { Icon } from "./Icon";

/** Copies `value`; the label says "Copied" for a moment so the user knows it worked. */
export function CopyButton({ value, label }: { value: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    await navigator.clipboard.writeText(value);
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  const text = copied ? t("common.copied") : (label ?? t("common.copy"));
  return (
    <button type="button" class="btn btn-small" onClick={copy} aria-label={`${text}: ${value}`} title={value}>
      <Icon name="copy" />
      <span aria-live="polite">{text}</span>
    </button>
  );
}
