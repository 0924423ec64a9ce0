import { useState } from "preact/hooks";
import { t } from "../i18n";

/** Tags as removable chips plus an input; Enter, a comma or leaving the field adds what was typed. */
export function TagsEditor({ id, tags, onChange }: { id: string; tags: string[]; onChange: (tags: string[]) => void }) {
  const [text, setText] = useState("");
  const commit = (input: HTMLInputElement, value: string) => {
    const tag = value.trim();
    if (tag && !tags.includes(tag)) onChange([...tags, tag]);
    input.value = "";
    setText("");
  };
  return (
    <div class="tags-editor">
      {tags.map((tag) => (
        <span key={tag} class="tag">
          {tag}
          <button
            type="button"
            aria-label={t("incident.tags.remove", { tag })}
            onClick={() => onChange(tags.filter((other) => other !== tag))}
          >
            ×
          </button>
        </span>
      ))}
      <input
        id={id}
        value={text}
        placeholder={t("incident.tags.placeholder")}
        onInput={(event) => {
          const value = event.currentTarget.value;
          if (value.endsWith(",")) commit(event.currentTarget, value.slice(0, -1));
          else setText(value);
        }}
        onKeyDown={(event) => {
          if (event.key === "Enter") {
            event.preventDefault();
            commit(event.currentTarget, text);
          } else if (event.key === "Backspace" && !text && tags.length) {
            onChange(tags.slice(0, -1));
          }
        }}
        onBlur={(event) => commit(event.currentTarget, text)}
      />
    </div>
  );
}
