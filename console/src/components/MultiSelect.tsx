import { useEffect, useRef } from "preact/hooks";
import { t } from "../i18n";
import { Icon } from "./Icon";

/**
 * A compact multi-choice filter ("Severity: High, Medium ▾") that opens a checkbox list.
 * An empty selection means "all", as in Sentinel's queue.
 */
export function MultiSelect<T extends string>({
  label,
  options,
  selected,
  optionLabel,
  onChange,
}: {
  label: string;
  options: readonly T[];
  selected: readonly T[];
  optionLabel: (option: T) => string;
  onChange: (selected: T[]) => void;
}) {
  const details = useRef<HTMLDetailsElement>(null);
  // Closes on a click elsewhere or Escape, as a menu should.
  useEffect(() => {
    const close = (event: Event) => {
      const element = details.current;
      if (!element?.open) return;
      if (event instanceof KeyboardEvent) {
        if (event.key !== "Escape") return;
        element.open = false;
        element.querySelector("summary")?.focus();
      } else if (!element.contains(event.target as Node)) {
        element.open = false;
      }
    };
    document.addEventListener("click", close);
    document.addEventListener("keydown", close);
    return () => {
      document.removeEventListener("click", close);
      document.removeEventListener("keydown", close);
    };
  }, []);
  const summary = selected.length === 0 ? t("filter.all") : selected.map(optionLabel).join(", ");
  const toggle = (option: T, on: boolean) =>
    onChange(options.filter((o) => (o === option ? on : selected.includes(o))));
  return (
    <details class="menu" ref={details}>
      <summary class="btn" aria-label={`${label}: ${summary}`}>
        <span class="muted">{label}:</span> {summary}
        <Icon name="down" size={12} />
      </summary>
      <fieldset class="menu-popover">
        <legend class="visually-hidden">{label}</legend>
        {options.map((option) => (
          <label key={option}>
            <input
              type="checkbox"
              checked={selected.includes(option)}
              onChange={(event) => toggle(option, event.currentTarget.checked)}
            />
            {optionLabel(option)}
          </label>
        ))}
      </fieldset>
    </details>
  );
}
