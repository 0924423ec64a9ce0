import { setWorkspace, useMe, useWorkspace, useWorkspaces } from "../api";
import { signOut, signedInAs } from "../auth";
import { Icon } from "../components/Icon";
import { LOCALES, setLocale, t, useLocale, type Locale } from "../i18n";
import { navigate } from "./router";
import { setTheme, useTheme } from "./theme";

// Language names are written in their own language, as language pickers do.
const LOCALE_NAMES: Record<Locale, string> = { en: "English", ja: "日本語" };

export function LocaleSelect({ id, testId }: { id?: string; testId?: string }) {
  const locale = useLocale();
  return (
    <select
      id={id}
      data-testid={testId}
      aria-label={id ? undefined : t("shell.language")}
      value={locale}
      onChange={(event) => setLocale(event.currentTarget.value as Locale)}
    >
      {LOCALES.map((code) => (
        <option key={code} value={code} lang={code}>
          {LOCALE_NAMES[code]}
        </option>
      ))}
    </select>
  );
}

export function ThemeButton() {
  const theme = useTheme();
  const next = theme === "dark" ? "light" : "dark";
  const label = t(next === "dark" ? "shell.theme.toDark" : "shell.theme.toLight");
  return (
    <button
      type="button"
      class="btn btn-icon"
      data-testid="theme-switch"
      aria-label={label}
      title={label}
      onClick={() => setTheme(next)}
    >
      <Icon name={theme === "dark" ? "sun" : "moon"} />
    </button>
  );
}

function WorkspaceSwitcher() {
  const workspaces = useWorkspaces() ?? [];
  const workspace = useWorkspace();
  return (
    <label class="topbar-field">
      {t("shell.workspace")}
      <select value={workspace.id} onChange={(event) => setWorkspace(event.currentTarget.value)}>
        {workspaces.map((w) => (
          <option key={w.id} value={w.id}>
            {w.name}
          </option>
        ))}
      </select>
    </label>
  );
}

export function TopBar() {
  const me = useMe();
  const session = signedInAs();
  const exit = () => {
    signOut();
    navigate("/login");
  };
  return (
    <header class="topbar">
      <a class="brand" href="/incidents">
        <span class="brand-mark">
          <Icon name="incidents" size={20} />
        </span>
        Vigil
      </a>
      <WorkspaceSwitcher />
      <span class="topbar-spacer" />
      <LocaleSelect testId="locale-switch" />
      <ThemeButton />
      <div class="who" title={me ? `${me.principal.id} · ${me.tenant.id}` : undefined}>
        <span>{me?.principal.name ?? session?.clientId}</span>
        <span class="muted">{me?.tenant.name ?? session?.tenant}</span>
      </div>
      <button type="button" class="btn btn-icon" aria-label={t("shell.signOut")} title={t("shell.signOut")} onClick={exit}>
        <Icon name="signout" />
      </button>
    </header>
  );
}
