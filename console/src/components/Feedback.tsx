import type { ComponentChildren } from "preact";
import { errorMessage } from "../api";
import { t } from "../i18n";

/** An API error as the server worded it, announced to screen readers. */
export function ErrorBanner({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <div class="banner banner-error" role="alert">
      {errorMessage(error)}
    </div>
  );
}

export function Loading() {
  return (
    <div class="loading" role="status">
      {t("common.loading")}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

/** A page's title row with its actions at the right. */
export function PageHeader({ title, children }: { title: ComponentChildren; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1>{title}</h1>
      {children && <div class="page-actions">{children}</div>}
    </header>
  );
}
