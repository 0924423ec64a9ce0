import type { ComponentChildren } from "preact";
import { useEffect, useId, useRef } from "preact/hooks";
import { t } from "../i18n";

/** A modal dialog; the native element traps focus and closes on Escape. */
export function Dialog({
  title,
  onClose,
  children,
  actions,
  wide = false,
}: {
  /** For dialogs with an editor or a form of several columns. */
  wide?: boolean;
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  // Closing the element on unmount fires its `close` event later: by then the owner may already
  // show another dialog, which that stale onClose would close.
  const unmounting = useRef(false);
  useEffect(() => {
    const dialog = ref.current;
    dialog?.showModal();
    return () => {
      unmounting.current = true;
      dialog?.close();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      class={wide ? "dialog dialog-wide" : "dialog"}
      aria-labelledby={titleId}
      onClose={() => {
        if (!unmounting.current) onClose();
      }}
    >
      <h2 id={titleId}>{title}</h2>
      <div class="dialog-body">{children}</div>
      <div class="dialog-actions">
        {actions}
        <button type="button" class="btn" onClick={onClose}>
          {t("common.close")}
        </button>
      </div>
    </dialog>
  );
}
