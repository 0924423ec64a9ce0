import { useId, useState } from "preact/hooks";
import { t } from "../i18n";
import type { Notebook } from "./model";
import { notebookProblem } from "./model";

/** Parses workbook JSON, or says (translated) why it is not a workbook. */
export function parseNotebook(text: string): { notebook: Notebook } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { problem: t("workbooks.json.invalid", { detail: e instanceof Error ? e.message : String(e) }) };
  }
  const problem = notebookProblem(value);
  return problem ? { problem: t(`workbooks.json.${problem}`) } : { notebook: value as Notebook };
}

interface JsonEditorProps {
  text: string;
  onChange: (text: string) => void;
  onSave: (notebook: Notebook) => void;
  onCancel: () => void;
  busy: boolean;
  failure: string;
}

/** The workbook as JSON text, validated before it is saved. */
export function JsonEditor({ text, onChange, onSave, onCancel, busy, failure }: JsonEditorProps) {
  const id = useId();
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  function check(): Notebook | null {
    const parsed = parseNotebook(text);
    if ("problem" in parsed) {
      setMessage({ ok: false, text: parsed.problem });
      return null;
    }
    setMessage({ ok: true, text: t("workbooks.json.valid") });
    return parsed.notebook;
  }

  return (
    <section class="panel wb-json" aria-labelledby={id}>
      <h2 id={id} class="panel-title">
        {t("workbooks.editJson")}
      </h2>
      <div class="panel-body wb-json-body">
        <textarea
          class="code"
          spellcheck={false}
          value={text}
          aria-label={t("workbooks.editJson")}
          aria-invalid={message?.ok === false}
          onInput={(e) => {
            onChange(e.currentTarget.value);
            setMessage(null);
          }}
        />
        {message && (
          <div class={message.ok ? "banner banner-success" : "banner banner-error"} role="status">
            {message.text}
          </div>
        )}
        {failure && (
          <div class="banner banner-error" role="alert">
            {failure}
          </div>
        )}
        <div class="inline">
          <button type="button" class="btn" onClick={check}>
            {t("workbooks.json.validate")}
          </button>
          <button
            type="button"
            class="btn btn-primary"
            disabled={busy}
            onClick={() => {
              const notebook = check();
              if (notebook) onSave(notebook);
            }}
          >
            {t("workbooks.save")}
          </button>
          <button type="button" class="btn" onClick={onCancel}>
            {t("workbooks.cancel")}
          </button>
        </div>
      </div>
    </section>
  );
}
