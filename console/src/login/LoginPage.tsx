import { useEffect, useState } from "preact/hooks";
import { navigate, useRoute } from "../app/router";
import { LocaleSelect, ThemeButton } from "../app/TopBar";
import { consoleConfig, isSignedIn, signIn, SignInError, startOidc, type ConsoleConfig } from "../auth";
import { Icon } from "../components/Icon";
import { t } from "../i18n";

/** Only same-site paths: `next` comes from the URL, and must not send the user elsewhere. */
function safeNext(next: string | undefined): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login") ? next : "/incidents";
}

function LoginError({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof SignInError ? error.message : t("login.failed");
  return (
    <div class="banner banner-error" role="alert">
      {message}
    </div>
  );
}

export function LoginPage() {
  const { query } = useRoute();
  const next = safeNext(query.next);
  const [tenant, setTenant] = useState("default");
  const [clientId, setClientId] = useState("");
  const [secret, setSecret] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [config, setConfig] = useState<ConsoleConfig | null>(null);

  useEffect(() => {
    document.title = `${t("login.title")} · Vigil`;
    consoleConfig().then(setConfig);
  }, []);

  useEffect(() => {
    if (isSignedIn()) navigate(next, { replace: true });
  }, []);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(tenant.trim(), clientId.trim(), secret);
      setSecret("");
      navigate(next, { replace: true });
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  const oidc = config?.oidc;
  const oidcSignIn = () => {
    if (!oidc) return;
    setError(null);
    startOidc(oidc, next).catch(setError);
  };

  return (
    <main class="center-screen" id="main">
      <div class="panel login-card">
        <div class="inline login-tools">
          <LocaleSelect testId="locale-switch" />
          <ThemeButton />
        </div>
        <h1>
          <span class="brand-mark">
            <Icon name="incidents" size={22} />
          </span>
          {t("login.heading")}
        </h1>
        <p class="muted login-intro">
          {t("login.intro")}
        </p>
        <form onSubmit={submit}>
          <div class="field">
            <label for="login-tenant">{t("login.tenant")}</label>
            <input
              id="login-tenant"
              data-testid="login-tenant"
              value={tenant}
              required
              autocomplete="organization"
              onInput={(event) => setTenant(event.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="login-client-id">{t("login.clientId")}</label>
            <input
              id="login-client-id"
              data-testid="login-client-id"
              value={clientId}
              required
              autocomplete="username"
              spellcheck={false}
              onInput={(event) => setClientId(event.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="login-secret">{t("login.secret")}</label>
            <input
              id="login-secret"
              data-testid="login-secret"
              type="password"
              value={secret}
              required
              autocomplete="current-password"
              onInput={(event) => setSecret(event.currentTarget.value)}
            />
            <span class="field-hint">{t("login.secretHint")}</span>
          </div>
          <LoginError error={error} />
          <button type="submit" class="btn btn-primary" data-testid="login-submit" disabled={busy}>
            {busy ? t("login.signingIn") : t("login.submit")}
          </button>
        </form>
        {oidc && (
          <>
            <div class="divider">{t("login.or")}</div>
            <button type="button" class="btn" onClick={oidcSignIn}>
              {t("login.oidc")}
            </button>
          </>
        )}
        {config?.version && <div class="muted">{t("login.version", { version: config.version })}</div>}
      </div>
    </main>
  );
}
