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
  created?: string;
  secretExpires: string | null;
  roles: { role: string; scope: string }[];
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
  const [rotateError, setRotateError] = useState<unknown>(null);
  const rotate = async (app: App) => {
    if (!confirm(t("settings.apps.confirmRotate", { name: app.name }))) return;
    setRotateError(null);
    try {
      const rotated = await api<Credential>(`/api/apps/${encodeURIComponent(app.client_id)}/secret`, { method: "POST" });
      setCredential({ ...rotated, client_id: rotated.client_id ?? app.client_id });
      await reload();
    } catch (failure) {
      setRotateError(failure);
    }
  };
  return (
    <section class="stack" aria-labelledby="settings-apps">
      <h2 id="settings-apps">{t("settings.apps")}</h2>
      <ErrorBanner error={error ?? rotateError} />
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
                <tr key={app.client_id}>
                  <td>{app.name}</td>
                  <td class="mono">{app.client_id}</td>
                  <td class="wrap">
                    {app.roles.map((r) => `${valueLabel("role", r.role)} (${scopeText(r.scope, workspaces)})`).join(", ") ||
                      t("common.none")}
                  </td>
                  <td>{app.secretExpires ? <Time value={app.secretExpires} /> : t("common.never")}</td>
                  <td>
                    <button type="button" class="btn btn-small" onClick={() => rotate(app)}>
                      <Icon name="refresh" />
                      {t("settings.apps.rotate")}
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
      <Preferences />
      <About />
    </div>
  );
}
