import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { loadMe, loadWorkspaces, useWorkspaces } from "../api";
import { ErrorBanner, Loading } from "../components/Feedback";
import { Icon } from "../components/Icon";
import { t } from "../i18n";
import { NAV, navItemOf } from "./nav";
import { useRoute } from "./router";
import { TopBar } from "./TopBar";

function SideNav({ path }: { path: string }) {
  const current = navItemOf(path);
  return (
    <nav class="sidenav" aria-label={t("shell.navigation")}>
      <ul>
        {NAV.map((item) => (
          <li key={item.id}>
            <a
              href={item.href}
              data-testid={`nav-${item.id}`}
              aria-current={current === item ? "page" : undefined}
            >
              <Icon name={item.icon} />
              {t(`nav.${item.id}`)}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** The signed-in frame: top bar, navigation and the page; pages render once workspaces are known. */
export function Shell({ children }: { children: ComponentChildren }) {
  const route = useRoute();
  const workspaces = useWorkspaces();
  const [error, setError] = useState<unknown>(null);
  const main = useRef<HTMLElement>(null);

  useEffect(() => {
    loadWorkspaces().catch(setError);
    // The name is a nicety (top bar, "you" in timelines): without it ids are shown.
    loadMe().catch(() => undefined);
  }, []);

  const section = navItemOf(route.path);
  useEffect(() => {
    document.title = section ? `${t(`nav.${section.id}`)} · Vigil` : "Vigil";
  });

  // A new page moves focus to its content, so screen readers start there and Tab continues there.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus({ preventScroll: true });
    main.current?.scrollTo(0, 0);
  }, [route.path]);

  let content: ComponentChildren;
  if (error) content = <div class="page"><ErrorBanner error={error} /></div>;
  else if (!workspaces) content = <Loading />;
  else if (workspaces.length === 0) content = <div class="page"><div class="empty">{t("shell.noWorkspaces")}</div></div>;
  else content = children;

  return (
    <div class="shell">
      <a class="skip-link" href="#main" onClick={(event) => {
        event.preventDefault();
        main.current?.focus();
      }}>
        {t("shell.skip")}
      </a>
      <TopBar />
      <SideNav path={route.path} />
      <main id="main" ref={main} tabIndex={-1}>
        {content}
      </main>
    </div>
  );
}
