import { useEffect, useState } from "preact/hooks";
import { navigate, useRoute } from "../app/router";
import { completeOidc, SignInError } from "../auth";
import { t } from "../i18n";

/** Where the OIDC provider sends the browser back with an authorization code. */
export function LoginCallback() {
  const { query } = useRoute();
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    completeOidc(query).then((next) => navigate(next, { replace: true }), setError);
  }, []);
  return (
    <main class="center-screen" id="main">
      <div class="panel login-card">
        {error ? (
          <>
            <div class="banner banner-error" role="alert">
              {error instanceof SignInError ? error.message : t("login.failed")}
            </div>
            <a href="/login">{t("login.retry")}</a>
          </>
        ) : (
          <div role="status">{t("login.completing")}</div>
        )}
      </div>
    </main>
  );
}
