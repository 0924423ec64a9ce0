import { useEffect, useState } from "preact/hooks";
import { api, ApiError, useApi, useWorkspace, useWorkspaces, workspacePath } from "../api";
import { setTheme, useTheme, type Theme } from "../app/theme";
import { LocaleSelect } from "../app/TopBar";
import { consoleConfig } from "../auth";
import { CopyButton } from "../components/CopyButton";
import { Dialog } from "../components/Dialog";
import { Empty, ErrorBanner, PageHeader } from "../components/Feedback";
import { Icon } from "../components/Icon";
import { valueLabel } from "../components/labels";
import { Time } from "../components/Time";
import { t } from "../i18n";

interface App {
  client_id: string;
  name: string;
  enabled: boolean;
  secretExpires: string | null;
  roles: { id: string; role: string; scope: string }[];
}

interface Issuer {
  issuer: string;
  jwks_uri: string;
}

interface Credential {
  tenant_id?: string;
  client_id: string;
  client_secret: string;
}

const ROLES = ["Reader", "Responder", "Contributor", "Owner", "Publisher"] as const;

/** A new secret, shown this once: the server keeps only its hash. */
function SecretDialog({ credential, onClose }: { credential: Credential; onClose: () => void }) {
  return (
    <Dialog title={t("settings.secret.title")} onClose={onClose}>
      <div class="banner banner-warning" role="alert">
        {t("settings.secret.warning")}
      </div>
      <dl class="facts">
        {credential.tenant_id && (
          <>
            <dt>{t("login.tenant")}</dt>
            <dd class="mono">{credential.tenant_id}</dd>
          </>
        )}
        <dt>{t("login.clientId")}</dt>
        <dd class="secret">
          <code>{credential.client_id}</code>
          <CopyButton value={credential.client_id} />
        </dd>
        <dt>{t("login.secret")}</dt>
        <dd class="secret">
          <code data-testid="app-secret">{credential.client_secret}</code>
          <CopyButton value={credential.client_secret} />
        </dd>
      </dl>
    </Dialog>
  );
}

/** `tenant:<id>`, `workspace:<id>`, `dcr:<id>` as the role listing writes scopes, in words. */
function scopeText(scope: string, workspaces: { id: string; name: string }[]): string {
  const [kind, id = ""] = scope.split(":", 2);
  if (kind === "tenant") return t("settings.scope.tenant");
  if (kind === "workspace") return t("settings.scope.workspace", { name: workspaces.find((w) => w.id === id)?.name ?? id });
  if (kind === "dcr") return t("settings.scope.dcr", { name: id });
  return scope;
}

function scopeOptions(workspaces: { name: string }[], dcrs: { name: string; id: string }[]) {
  return [
    { value: "tenant", label: t("settings.scope.tenant") },
    ...workspaces.map((w) => ({ value: `workspace/${w.name}`, label: t("settings.scope.workspace", { name: w.name }) })),
    ...dcrs.map((d) => ({ value: `dcr/${d.id}`, label: t("settings.scope.dcr", { name: d.name }) })),
  ];
}

function CreateApp({ onCreated }: { onCreated: (credential: Credential) => void }) {
  const workspace = useWorkspace();
  const workspaces = useWorkspaces() ?? [];
  const dcrs = useApi<{ name: string; immutable_id?: string; immutableId?: string }[]>(workspacePath(workspace, "/dcrs")).data ?? [];
  const [name, setName] = useState("");
  const [role, setRole] = useState<string>("Reader");
  const [scope, setScope] = useState(`workspace/${workspace.name}`);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const options = scopeOptions(
    workspaces,
    dcrs.map((d) => ({ name: d.name, id: d.immutableId ?? d.immutable_id ?? "" })),
  );
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const credential = await api<Credential>("/api/apps", { method: "POST", body: { name: name.trim(), roles: [{ role, scope }] } });
      setName("");
      onCreated(credential);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel" onSubmit={submit}>
      <h3 class="panel-title">{t("settings.apps.create")}</h3>
      <div class="panel-body stack">
        <div class="form-grid">
          <div class="field">
            <label for="app-name">{t("common.name")}</label>
            <input id="app-name" required value={name} onInput={(event) => setName(event.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="app-role">{t("settings.apps.role")}</label>
            <select id="app-role" value={role} onChange={(event) => setRole(event.currentTarget.value)}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {valueLabel("role", r)}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="app-scope">{t("settings.apps.scope")}</label>
            <select id="app-scope" value={scope} onChange={(event) => setScope(event.currentTarget.value)}>
              {options.map((option) => (
                <option key={option.value} value={option.value}>
                  {option.label}
                </option>
              ))}
            </select>
          </div>
        </div>
        <p class="field-hint">{t(`settings.roleHint.${role}`)}</p>
        <ErrorBanner error={error} />
        <div>
          <button type="submit" class="btn btn-primary" disabled={busy || !name.trim()}>
            <Icon name="plus" />
            {t("settings.apps.createSubmit")}
          </button>
        </div>
      </div>
    </form>
  );
}

function Apps() {
  const { data, error, reload } = useApi<App[]>("/api/apps");
  const workspaces = useWorkspaces() ?? [];
  const [credential, setCredential] = useState<Credential | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  /** Runs a change the user confirmed, then shows the list as the server now has it. */
  const act = async (question: string, change: () => Promise<void>) => {
    if (!confirm(question)) return;
    setActionError(null);
    try {
      await change();
    } catch (failure) {
      setActionError(failure);
    }
    await reload();
  };
  const appPath = (app: App) => `/api/apps/${encodeURIComponent(app.client_id)}`;
  const rotate = (app: App) =>
    act(t("settings.apps.confirmRotate", { name: app.name }), async () => {
      const rotated = await api<Credential>(`${appPath(app)}/secret`, { method: "POST" });
      setCredential({ ...rotated, client_id: rotated.client_id ?? app.client_id });
    });
  const toggle = (app: App) =>
    act(t(app.enabled ? "settings.apps.confirmDisable" : "settings.apps.confirmEnable", { name: app.name }), async () => {
      await api(appPath(app), { method: "PATCH", body: { enabled: !app.enabled } });
    });
  const remove = (app: App) =>
    act(t("settings.apps.confirmDelete", { name: app.name }), async () => {
      await api(appPath(app), { method: "DELETE" });
    });
  const unassign = (app: App, role: App["roles"][number]) =>
    act(t("settings.apps.confirmUnassign", { name: app.name, role: valueLabel("role", role.role) }), async () => {
      await api(`/api/roleAssignments/${encodeURIComponent(role.id)}`, { method: "DELETE" });
    });
  return (
    <section class="stack" aria-labelledby="settings-apps">
      <h2 id="settings-apps">{t("settings.apps")}</h2>
      <ErrorBanner error={error ?? actionError} />
      {data && !data.length && <Empty>{t("settings.apps.empty")}</Empty>}
      {data && data.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th scope="col">{t("common.name")}</th>
                <th scope="col">{t("login.clientId")}</th>
                <th scope="col">{t("settings.apps.roles")}</th>
                <th scope="col">{t("settings.apps.secretExpires")}</th>
                <th scope="col">
                  <span class="visually-hidden">{t("settings.apps.actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.map((app) => (
                <tr key={app.client_id} data-testid="app-row" data-client-id={app.client_id} data-enabled={String(app.enabled)}>
                  <td class="name-with-badge">
                    {app.name}
                    {!app.enabled && <span class="badge badge-closed">{t("settings.apps.disabled")}</span>}
                  </td>
                  <td class="mono">{app.client_id}</td>
                  <td class="wrap">
                    {app.roles.length === 0 && t("common.none")}
                    <span class="tag-list">
                    {app.roles.map((r) => (
                      <span key={r.id} class="tag" data-testid="app-role">
                        {valueLabel("role", r.role)} ({scopeText(r.scope, workspaces)})
                        <button
                          type="button"
                          data-testid="role-remove"
                          aria-label={t("settings.apps.unassign", { role: valueLabel("role", r.role) })}
                          title={t("settings.apps.unassign", { role: valueLabel("role", r.role) })}
                          onClick={() => unassign(app, r)}
                        >
                          ×
                        </button>
                      </span>
                    ))}
                    </span>
                  </td>
                  <td>{app.secretExpires ? <Time value={app.secretExpires} /> : t("common.never")}</td>
                  <td class="row-actions">
                    <button type="button" class="btn btn-small" onClick={() => rotate(app)}>
                      <Icon name="refresh" />
                      {t("settings.apps.rotate")}
                    </button>
                    <button type="button" class="btn btn-small" data-testid="app-toggle" onClick={() => toggle(app)}>
                      {t(app.enabled ? "settings.apps.disable" : "settings.apps.enable")}
                    </button>
                    <button type="button" class="btn btn-small btn-danger" data-testid="app-delete" onClick={() => remove(app)}>
                      {t("common.delete")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {!(error instanceof ApiError && error.status === 403) && (
        <CreateApp
          onCreated={(created) => {
            setCredential(created);
            reload();
          }}
        />
      )}
      {credential && <SecretDialog credential={credential} onClose={() => setCredential(null)} />}
    </section>
  );
}

/** The OpenID Connect issuers whose tokens the tenant accepts. */
function Issuers() {
  const { data, error, reload } = useApi<Issuer[]>("/api/issuers");
  const [issuer, setIssuer] = useState("");
  const [jwksUri, setJwksUri] = useState("");
  const [actionError, setActionError] = useState<unknown>(null);
  if (error instanceof ApiError && error.status === 403) return null;
  const add = async (event: Event) => {
    event.preventDefault();
    setActionError(null);
    try {
      await api("/api/issuers", { method: "POST", body: { issuer: issuer.trim(), jwks_uri: jwksUri.trim() } });
      setIssuer("");
      setJwksUri("");
    } catch (failure) {
      setActionError(failure);
    }
    await reload();
  };
  const remove = async (trusted: Issuer) => {
    if (!confirm(t("settings.issuers.confirmRemove", { issuer: trusted.issuer }))) return;
    setActionError(null);
    try {
      await api(`/api/issuers?issuer=${encodeURIComponent(trusted.issuer)}`, { method: "DELETE" });
    } catch (failure) {
      setActionError(failure);
    }
    await reload();
  };
  return (
    <section class="stack" aria-labelledby="settings-issuers">
      <h2 id="settings-issuers">{t("settings.issuers")}</h2>
      <p class="field-hint">{t("settings.issuers.hint")}</p>
      <ErrorBanner error={error ?? actionError} />
      {data && !data.length && <Empty>{t("settings.issuers.empty")}</Empty>}
      {data && data.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th scope="col">{t("settings.issuers.issuer")}</th>
                <th scope="col">{t("settings.issuers.jwks")}</th>
                <th scope="col">
                  <span class="visually-hidden">{t("settings.apps.actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.map((trusted) => (
                <tr key={trusted.issuer} data-testid="issuer-row">
                  <td class="mono wrap">{trusted.issuer}</td>
                  <td class="mono wrap">{trusted.jwks_uri}</td>
                  <td>
                    <button type="button" class="btn btn-small btn-danger" data-testid="issuer-remove" onClick={() => remove(trusted)}>
                      {t("settings.issuers.remove")}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form class="panel" onSubmit={add}>
        <h3 class="panel-title">{t("settings.issuers.add")}</h3>
        <div class="panel-body stack">
          <div class="form-grid">
            <div class="field">
              <label for="issuer-url">{t("settings.issuers.issuer")}</label>
              <input id="issuer-url" required value={issuer} onInput={(event) => setIssuer(event.currentTarget.value)} />
            </div>
            <div class="field">
              <label for="issuer-jwks">{t("settings.issuers.jwks")}</label>
              <input
                id="issuer-jwks"
                required
                type="url"
                value={jwksUri}
                onInput={(event) => setJwksUri(event.currentTarget.value)}
              />
            </div>
          </div>
          <div>
            <button type="submit" class="btn btn-primary" data-testid="issuer-add" disabled={!issuer.trim() || !jwksUri.trim()}>
              <Icon name="plus" />
              {t("settings.issuers.addSubmit")}
            </button>
          </div>
        </div>
      </form>
    </section>
  );
}

function Preferences() {
  const theme = useTheme();
  return (
    <section class="panel" aria-labelledby="settings-preferences">
      <h2 id="settings-preferences">{t("settings.preferences")}</h2>
      <div class="panel-body form-grid">
        <div class="field">
          <label for="settings-language">{t("shell.language")}</label>
          <LocaleSelect id="settings-language" />
        </div>
        <div class="field">
          <label for="settings-theme">{t("settings.theme")}</label>
          <select id="settings-theme" value={theme} onChange={(event) => setTheme(event.currentTarget.value as Theme)}>
            <option value="light">{t("settings.theme.light")}</option>
            <option value="dark">{t("settings.theme.dark")}</option>
          </select>
        </div>
      </div>
    </section>
  );
}

function About() {
  const [version, setVersion] = useState("");
  useEffect(() => {
    consoleConfig().then((config) => setVersion(config.version));
  }, []);
  return (
    <section class="panel" aria-labelledby="settings-about">
      <h2 id="settings-about">{t("settings.about")}</h2>
      <dl class="panel-body facts">
        <dt>{t("settings.about.product")}</dt>
        <dd>Vigil</dd>
        <dt>{t("settings.about.version")}</dt>
        <dd class="mono">{version || "—"}</dd>
      </dl>
    </section>
  );
}

export function SettingsPage() {
  return (
    <div class="page">
      <PageHeader title={t("settings.title")} />
      <Apps />
      <Issuers />
      <Preferences />
      <About />
    </div>
  );
}
