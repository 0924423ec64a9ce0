import { useState } from "preact/hooks";
import { api } from "../api";
import { ErrorBanner } from "../components/Feedback";
import { t } from "../i18n";

export function CommentBox({ incidentId, onAdded }: { incidentId: number; onAdded: () => Promise<void> }) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    if (!text.trim()) return;
    setBusy(true);
    setError(null);
    try {
      await api(`/api/incidents/${incidentId}/comments`, { method: "POST", body: { comment: text.trim() } });
      setText("");
      await onAdded();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="comment-box" onSubmit={submit}>
      <label for="incident-comment" class="visually-hidden">
        {t("incident.comment")}
      </label>
      <textarea
        id="incident-comment"
        rows={3}
        value={text}
        placeholder={t("incident.comment.placeholder")}
        onInput={(event) => setText(event.currentTarget.value)}
        onKeyDown={(event) => {
          // Ctrl+Enter posts, as in most comment boxes; Enter alone is a new line.
          if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) submit(event);
        }}
      />
      <ErrorBanner error={error} />
      <div class="inline">
        <button type="submit" class="btn" disabled={busy || !text.trim()}>
          {t("incident.comment.submit")}
        </button>
      </div>
    </form>
  );
}
