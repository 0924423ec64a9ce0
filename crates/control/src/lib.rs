//! Vigil's control plane: who exists (tenants, workspaces, applications), who may do what
//! (role assignments), and how data comes in (tables, data collection rules).
//!
//! State lives in SQLite (`control.db` in the data dir) so that the admin commands of the CLI
//! can change it while a server runs: every change bumps a generation counter, and a server
//! reloads what it caches when the counter moves.

pub mod dcr;
mod functions;
pub mod roles;
pub mod secrets;
mod watchlists;

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::sqlite::SqlitePool;
use sqlx::{Row, Sqlite, Transaction};
use vigil_catalog::{TableSchema, parse_table_json};
use vigil_kql_functions::{KqlColumn, KqlType};
pub use vigil_seal::SealKey;

pub use dcr::{DataFlow, DcrDefinition, parse_dcr};
pub use functions::SavedFunction;
pub use roles::{Role, Scope};
pub use watchlists::{MAX_CSV_BYTES, NewWatchlist, Watchlist, WatchlistError, check_watchlist, parse_csv};

/// Why a control-plane call failed; the server maps each kind to an HTTP status.
#[derive(Debug)]
pub enum ControlError {
    NotFound(String),
    Invalid(String),
    Conflict(String),
    /// The data dir could not be created.
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The control database could not be opened or brought to this release's schema.
    Open(vigil_sqlite::OpenError),
    /// A statement against the control database failed.
    Database(sqlx::Error),
    /// A stored item does not read back; `what` names it.
    Unreadable {
        what: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A row just written in a transaction is not there: the database is not behaving.
    Vanished(String),
    /// A new client secret could not be hashed.
    SecretHash(argon2::password_hash::Error),
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::NotFound(m) | ControlError::Invalid(m) | ControlError::Conflict(m) => f.write_str(m),
            ControlError::DataDir { path, source } => write!(f, "cannot create {}: {source}", path.display()),
            ControlError::Open(e) => write!(f, "{e}"),
            ControlError::Database(e) => write!(f, "control database: {e}"),
            ControlError::Unreadable { what, source } => write!(f, "control database: {what} is unreadable: {source}"),
            ControlError::Vanished(what) => write!(f, "control database: {what} vanished after being written"),
            ControlError::SecretHash(e) => write!(f, "cannot hash the new client secret: {e}"),
        }
    }
}

impl ControlError {
    /// Whether the control database failed, rather than the request.
    pub fn is_storage(&self) -> bool {
        !matches!(self, ControlError::NotFound(_) | ControlError::Invalid(_) | ControlError::Conflict(_))
    }

    fn unreadable(what: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ControlError::Unreadable { what: what.into(), source: source.into() }
    }
}

impl std::error::Error for ControlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ControlError::DataDir { source, .. } => Some(source),
            ControlError::Open(e) => Some(e),
            ControlError::Database(e) => Some(e),
            ControlError::Unreadable { source, .. } => Some(source.as_ref()),
            ControlError::SecretHash(e) => Some(e),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for ControlError {
    fn from(error: sqlx::Error) -> ControlError {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => ControlError::Conflict(db.message().to_string()),
            _ => ControlError::Database(error),
        }
    }
}

pub type Result<T, E = ControlError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct App {
    pub client_id: String,
    pub tenant_id: String,
    pub name: String,
    pub secret_expires_at: Option<DateTime<Utc>>,
    /// A disabled application gets no token, and the tokens it had stopped working when it
    /// was disabled.
    pub enabled: bool,
}

/// An application just created: the only time its secret is known.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewApp {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Who a token speaks for, and whom a role assignment names: an application registered in
/// Vigil, or a subject (a person, a service principal) of an external issuer a tenant trusts.
/// The issuer is part of the identity, so that an external subject whose id equals a Vigil
/// application's client id is a different principal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PrincipalId {
    /// `None` for Vigil's own applications; else the issuer, as its tokens' `iss` names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The client id of a Vigil application; an external token's `oid`, else its `sub`.
    #[serde(rename = "principal")]
    pub subject: String,
}

impl PrincipalId {
    pub fn app(client_id: &str) -> PrincipalId {
        PrincipalId { issuer: None, subject: client_id.to_string() }
    }

    pub fn external(issuer: &str, subject: &str) -> PrincipalId {
        PrincipalId { issuer: Some(issuer.to_string()), subject: subject.to_string() }
    }

    /// The issuer as the database keeps it: empty for Vigil's own.
    fn issuer_key(&self) -> &str {
        self.issuer.as_deref().unwrap_or("")
    }
}

impl std::fmt::Display for PrincipalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.issuer {
            None => write!(f, "application '{}'", self.subject),
            Some(issuer) => write!(f, "'{}' of {issuer}", self.subject),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleAssignment {
    pub id: String,
    #[serde(flatten)]
    pub principal: PrincipalId,
    pub role: String,
    pub scope: String,
}

/// Tokens a principal obtained before `not_before` (seconds since the epoch) are refused:
/// set when its secret is rotated, when it is disabled or deleted, and on demand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Revocation {
    pub tenant_id: String,
    pub principal: PrincipalId,
    pub not_before: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableDefinition {
    pub workspace_id: String,
    pub schema: TableSchema,
    pub retention_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dcr {
    pub immutable_id: String,
    pub workspace_id: String,
    pub tenant_id: String,
    pub definition: DcrDefinition,
}

/// An OpenID Connect issuer whose tokens a tenant accepts besides Vigil's own (the
/// organisation's Entra ID or Keycloak).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExternalIssuer {
    pub tenant_id: String,
    pub issuer: String,
    pub jwks_uri: String,
}

impl ExternalIssuer {
    /// An issuer as an administrator names it: its keys are fetched over HTTPS only, since a
    /// key served in the clear can be replaced on the way.
    pub fn checked(tenant_id: &str, issuer: &str, jwks_uri: &str) -> std::result::Result<ExternalIssuer, String> {
        if issuer.trim().is_empty() || issuer.len() > 2048 {
            return Err("the issuer must be named as its tokens' `iss` claim names it (up to 2048 characters)".into());
        }
        let host = jwks_uri.strip_prefix("https://").map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
        if host.is_none_or(str::is_empty) || jwks_uri.len() > 2048 {
            return Err(format!("the JWKS URI must be an https:// URL, got '{jwks_uri}'"));
        }
        Ok(ExternalIssuer {
            tenant_id: tenant_id.to_string(),
            issuer: issuer.to_string(),
            jwks_uri: jwks_uri.to_string(),
        })
    }
}

/// What the first start creates, so the user can log in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bootstrap {
    pub tenant: Tenant,
    pub workspace: Workspace,
    pub owner: NewApp,
}

/// A key Vigil signs tokens with: PKCS#8 DER, opaque to this crate.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKey {
    pub kid: String,
    pub pkcs8: Vec<u8>,
}

/// Checks a DCR transform (`transformKql`) over its input stream's columns, returning what is
/// wrong with it.
pub type TransformCheck<'a> = &'a (dyn Fn(&str, &[KqlColumn]) -> std::result::Result<(), String> + Sync);

#[derive(Clone)]
pub struct Control {
    pool: SqlitePool,
    /// Seals the token signing keys at rest.
    seal: SealKey,
}

/// The control database's schema, by steps (see `vigil_sqlite`): never edit one, add one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workspaces (
    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants (id), name TEXT NOT NULL,
    created_at TEXT NOT NULL, UNIQUE (tenant_id, name));
CREATE TABLE IF NOT EXISTS apps (
    client_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants (id), name TEXT NOT NULL,
    secret_hash TEXT NOT NULL, secret_expires_at TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS role_assignments (
    tenant_id TEXT NOT NULL REFERENCES tenants (id), principal TEXT NOT NULL, role TEXT NOT NULL,
    scope TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (tenant_id, principal, role, scope));
CREATE TABLE IF NOT EXISTS tables (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id), name TEXT NOT NULL, columns TEXT NOT NULL,
    retention_days INTEGER, created_at TEXT NOT NULL, PRIMARY KEY (workspace_id, name));
CREATE TABLE IF NOT EXISTS dcrs (
    immutable_id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL, definition TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (workspace_id, name));
CREATE TABLE IF NOT EXISTS signing_keys (kid TEXT PRIMARY KEY, pkcs8 BLOB NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS external_issuers (
    tenant_id TEXT NOT NULL REFERENCES tenants (id), issuer TEXT NOT NULL, jwks_uri TEXT NOT NULL,
    PRIMARY KEY (tenant_id, issuer));
"#,
    // Classic custom logs (open to type-suffixed columns), saved functions and watchlists.
    r#"
ALTER TABLE tables ADD COLUMN open_columns TEXT;
CREATE TABLE functions (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id), name TEXT NOT NULL, aliases TEXT NOT NULL,
    parameters TEXT NOT NULL, body TEXT NOT NULL, category TEXT NOT NULL, display_name TEXT NOT NULL,
    source TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (workspace_id, name));
CREATE TABLE watchlists (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id), alias TEXT NOT NULL, watchlist_id TEXT NOT NULL,
    display_name TEXT NOT NULL, description TEXT NOT NULL, provider TEXT NOT NULL, source TEXT NOT NULL,
    search_key TEXT NOT NULL, columns TEXT NOT NULL, labels TEXT NOT NULL, created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL, PRIMARY KEY (workspace_id, alias));
CREATE TABLE watchlist_items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, workspace_id TEXT NOT NULL, alias TEXT NOT NULL,
    item_id TEXT NOT NULL, search_key TEXT NOT NULL, properties TEXT NOT NULL, status TEXT NOT NULL,
    changed_at INTEGER NOT NULL, created_at INTEGER NOT NULL, changed_by TEXT NOT NULL);
CREATE INDEX watchlist_items_by_watchlist ON watchlist_items (workspace_id, alias, item_id, seq);
"#,
    // Principals are (issuer, subject) pairs: a role assignment names its principal's issuer
    // ('' for Vigil's own applications) and has an id to be removed by. Assignments of
    // before name a Vigil application when one has that client id; otherwise the subject of
    // the tenant's external issuer when the tenant trusts exactly one; otherwise an
    // application (which no external token can then match). Applications can be disabled;
    // revocations refuse the tokens a principal obtained before them.
    r#"
CREATE TABLE role_assignments_by_issuer (
    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants (id), issuer TEXT NOT NULL,
    principal TEXT NOT NULL, role TEXT NOT NULL, scope TEXT NOT NULL, created_at TEXT NOT NULL,
    UNIQUE (tenant_id, issuer, principal, role, scope));
INSERT INTO role_assignments_by_issuer (id, tenant_id, issuer, principal, role, scope, created_at)
SELECT lower(hex(randomblob(16))), r.tenant_id,
       CASE WHEN EXISTS (SELECT 1 FROM apps a WHERE a.client_id = r.principal AND a.tenant_id = r.tenant_id) THEN ''
            WHEN (SELECT count(*) FROM external_issuers e WHERE e.tenant_id = r.tenant_id) = 1
                THEN (SELECT e.issuer FROM external_issuers e WHERE e.tenant_id = r.tenant_id)
            ELSE '' END,
       r.principal, r.role, r.scope, r.created_at
FROM role_assignments r;
DROP TABLE role_assignments;
ALTER TABLE role_assignments_by_issuer RENAME TO role_assignments;
ALTER TABLE apps ADD COLUMN disabled_at TEXT;
CREATE TABLE revocations (
    tenant_id TEXT NOT NULL REFERENCES tenants (id), issuer TEXT NOT NULL, principal TEXT NOT NULL,
    not_before INTEGER NOT NULL, PRIMARY KEY (tenant_id, issuer, principal));
"#,
];

fn now_text() -> String {
    Utc::now().to_rfc3339()
}

impl Control {
    /// Opens (creating if needed) the control database of a data dir, whose secrets are sealed
    /// with `seal`. Signing keys written before sealing are sealed now.
    pub async fn open(data_dir: &Path, seal: SealKey) -> Result<Control> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| ControlError::DataDir { path: data_dir.to_path_buf(), source })?;
        let pool = vigil_sqlite::open(&data_dir.join("control.db"), MIGRATIONS).await.map_err(ControlError::Open)?;
        let control = Control { pool, seal };
        control.seal_signing_keys().await?;
        Ok(control)
    }

    async fn seal_signing_keys(&self) -> Result<()> {
        let rows = sqlx::query("SELECT kid, pkcs8 FROM signing_keys").fetch_all(&self.pool).await?;
        for row in rows {
            let stored: Vec<u8> = row.get(1);
            if SealKey::is_sealed(&stored) {
                continue;
            }
            let kid: String = row.get(0);
            sqlx::query("UPDATE signing_keys SET pkcs8 = ? WHERE kid = ?")
                .bind(self.seal.seal(&stored))
                .bind(kid)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// A number that changes whenever anything here changes, in this process or another.
    pub async fn generation(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT value FROM meta WHERE key = 'generation'").fetch_one(&self.pool).await?.get(0))
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE meta SET value = value + 1 WHERE key = 'generation'").execute(&mut *tx).await?;
        Ok(tx)
    }

    /// On the first start, creates the `default` tenant and workspace and an owner application,
    /// and returns them; afterwards, `None`.
    pub async fn bootstrap(&self) -> Result<Option<Bootstrap>> {
        if !self.tenants().await?.is_empty() {
            return Ok(None);
        }
        let tenant = self.create_tenant("default").await?;
        let workspace = self.create_workspace(&tenant.id, "default").await?;
        let owner =
            self.create_app(&tenant.id, "owner", &[(Role::Owner, Scope::Tenant(tenant.id.clone()))], None).await?;
        Ok(Some(Bootstrap { tenant, workspace, owner }))
    }

    pub async fn create_tenant(&self, name: &str) -> Result<Tenant> {
        validate_name("tenant", name)?;
        let tenant = Tenant { id: uuid::Uuid::new_v4().to_string(), name: name.to_string() };
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)")
            .bind(&tenant.id)
            .bind(&tenant.name)
            .bind(now_text())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(tenant)
    }

    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query("SELECT id, name FROM tenants ORDER BY created_at, name").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| Tenant { id: r.get(0), name: r.get(1) }).collect())
    }

    /// A tenant by id or by name.
    pub async fn tenant(&self, id_or_name: &str) -> Result<Tenant> {
        sqlx::query("SELECT id, name FROM tenants WHERE id = ?1 OR name = ?1")
            .bind(id_or_name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| Tenant { id: r.get(0), name: r.get(1) })
            .ok_or_else(|| ControlError::NotFound(format!("no tenant '{id_or_name}'")))
    }

    /// The tenant the CLI acts on when none is named: the only one, or the first one created.
    pub async fn default_tenant(&self) -> Result<Tenant> {
        self.tenants().await?.into_iter().next().ok_or_else(|| {
            ControlError::NotFound("there is no tenant yet; start `vigil serve` once to create the default one".into())
        })
    }

    pub async fn create_workspace(&self, tenant_id: &str, name: &str) -> Result<Workspace> {
        validate_name("workspace", name)?;
        let workspace = Workspace {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            tenant_id: tenant_id.to_string(),
        };
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO workspaces (id, tenant_id, name, created_at) VALUES (?, ?, ?, ?)")
            .bind(&workspace.id)
            .bind(&workspace.tenant_id)
            .bind(&workspace.name)
            .bind(now_text())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(workspace)
    }

    /// Workspaces of one tenant, or of all.
    pub async fn workspaces(&self, tenant_id: Option<&str>) -> Result<Vec<Workspace>> {
        let rows = sqlx::query(
            "SELECT id, name, tenant_id FROM workspaces WHERE ?1 IS NULL OR tenant_id = ?1 ORDER BY created_at, name",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| Workspace { id: r.get(0), name: r.get(1), tenant_id: r.get(2) }).collect())
    }

    /// A workspace by id, or by name within a tenant.
    pub async fn workspace(&self, tenant_id: Option<&str>, id_or_name: &str) -> Result<Workspace> {
        sqlx::query(
            "SELECT id, name, tenant_id FROM workspaces WHERE (id = ?1 OR name = ?1) AND (?2 IS NULL OR tenant_id = ?2)
             ORDER BY id = ?1 DESC LIMIT 1",
        )
        .bind(id_or_name)
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| Workspace { id: r.get(0), name: r.get(1), tenant_id: r.get(2) })
        .ok_or_else(|| ControlError::NotFound(format!("no workspace '{id_or_name}'")))
    }

    /// Registers an application with a new secret and the given role assignments.
    pub async fn create_app(
        &self,
        tenant_id: &str,
        name: &str,
        roles: &[(Role, Scope)],
        secret_expires_at: Option<DateTime<Utc>>,
    ) -> Result<NewApp> {
        validate_name("application", name)?;
        let client_id = uuid::Uuid::new_v4().to_string();
        let client_secret = secrets::generate_secret();
        let hash = secrets::hash_secret(&client_secret).map_err(ControlError::SecretHash)?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO apps (client_id, tenant_id, name, secret_hash, secret_expires_at, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&client_id)
        .bind(tenant_id)
        .bind(name)
        .bind(&hash)
        .bind(secret_expires_at.map(|t| t.to_rfc3339()))
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        for (role, scope) in roles {
            insert_role(&mut tx, tenant_id, &PrincipalId::app(&client_id), *role, scope).await?;
        }
        tx.commit().await?;
        Ok(NewApp { tenant_id: tenant_id.to_string(), client_id, client_secret })
    }

    pub async fn apps(&self, tenant_id: &str) -> Result<Vec<App>> {
        let rows = sqlx::query(
            "SELECT client_id, tenant_id, name, secret_expires_at, disabled_at FROM apps WHERE tenant_id = ?
             ORDER BY created_at",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(app_of_row).collect())
    }

    /// Checks a client's credentials. The error never says which part was wrong beyond what
    /// Entra ID says (unknown client, bad or expired secret, disabled application), and a
    /// wrong secret costs the same Argon2 time as a right one.
    pub async fn authenticate_app(&self, tenant_id: &str, client_id: &str, secret: &str) -> Result<App, AppAuthError> {
        let row = sqlx::query(
            "SELECT client_id, tenant_id, name, secret_expires_at, disabled_at, secret_hash FROM apps
             WHERE client_id = ? AND tenant_id = ?",
        )
        .bind(client_id)
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(AppAuthError::Database)?;
        // An unknown client costs the same check as a known one, so its answer comes as late.
        let hash: String = row.as_ref().map_or_else(|| secrets::decoy_hash().to_string(), |row| row.get(5));
        let secret = secret.to_string();
        let matches = tokio::task::spawn_blocking(move || secrets::verify_secret(&secret, &hash))
            .await
            .map_err(AppAuthError::Check)?;
        let Some(row) = row else {
            return Err(AppAuthError::UnknownClient);
        };
        if !matches {
            return Err(AppAuthError::InvalidSecret);
        }
        let app = app_of_row(&row);
        if !app.enabled {
            return Err(AppAuthError::Disabled);
        }
        if app.secret_expires_at.is_some_and(|expiry| expiry <= Utc::now()) {
            return Err(AppAuthError::ExpiredSecret);
        }
        Ok(app)
    }

    /// Gives an application a new secret; the old one stops working at once, and so do the
    /// tokens obtained with it.
    pub async fn rotate_secret(&self, tenant_id: &str, client_id: &str) -> Result<NewApp> {
        let client_secret = secrets::generate_secret();
        let hash = secrets::hash_secret(&client_secret).map_err(ControlError::SecretHash)?;
        let mut tx = self.begin().await?;
        let changed = sqlx::query("UPDATE apps SET secret_hash = ? WHERE client_id = ? AND tenant_id = ?")
            .bind(&hash)
            .bind(client_id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(no_app(client_id));
        }
        revoke(&mut tx, tenant_id, &PrincipalId::app(client_id)).await?;
        tx.commit().await?;
        Ok(NewApp { tenant_id: tenant_id.to_string(), client_id: client_id.to_string(), client_secret })
    }

    /// Disables an application (it gets no more tokens, and those it has stop working) or
    /// enables it again.
    pub async fn set_app_enabled(&self, tenant_id: &str, client_id: &str, enabled: bool) -> Result<App> {
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE apps SET disabled_at = CASE WHEN ?1 THEN NULL ELSE coalesce(disabled_at, ?2) END
             WHERE client_id = ?3 AND tenant_id = ?4",
        )
        .bind(enabled)
        .bind(now_text())
        .bind(client_id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(no_app(client_id));
        }
        if !enabled {
            revoke(&mut tx, tenant_id, &PrincipalId::app(client_id)).await?;
        }
        tx.commit().await?;
        self.apps(tenant_id).await?.into_iter().find(|app| app.client_id == client_id).ok_or_else(|| no_app(client_id))
    }

    /// Deletes an application with its role assignments; its tokens stop working.
    pub async fn delete_app(&self, tenant_id: &str, client_id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM apps WHERE client_id = ? AND tenant_id = ?")
            .bind(client_id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(no_app(client_id));
        }
        sqlx::query("DELETE FROM role_assignments WHERE tenant_id = ? AND issuer = '' AND principal = ?")
            .bind(tenant_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        // Kept after the application is gone: its tokens live on until they expire.
        revoke(&mut tx, tenant_id, &PrincipalId::app(client_id)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Refuses every token the principal obtained until now ("sign out everywhere"); returns
    /// the new not-before, in seconds since the epoch.
    pub async fn revoke_tokens(&self, tenant_id: &str, principal: &PrincipalId) -> Result<i64> {
        let mut tx = self.begin().await?;
        let not_before = revoke(&mut tx, tenant_id, principal).await?;
        tx.commit().await?;
        Ok(not_before)
    }

    /// Every principal's not-before, for the server to check tokens against.
    pub async fn revocations(&self) -> Result<Vec<Revocation>> {
        let rows = sqlx::query("SELECT tenant_id, issuer, principal, not_before FROM revocations")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| Revocation {
                tenant_id: r.get(0),
                principal: principal_of(r.get(1), r.get(2)),
                not_before: r.get(3),
            })
            .collect())
    }

    pub async fn assign_role(
        &self,
        tenant_id: &str,
        principal: &PrincipalId,
        role: Role,
        scope: &Scope,
    ) -> Result<RoleAssignment> {
        let mut tx = self.begin().await?;
        insert_role(&mut tx, tenant_id, principal, role, scope).await?;
        tx.commit().await?;
        self.role_assignments(tenant_id, Some(principal))
            .await?
            .into_iter()
            .find(|a| a.role == role.name() && a.scope == scope.key())
            .ok_or_else(|| ControlError::Vanished("the role assignment".into()))
    }

    /// A tenant's role assignments, or one principal's.
    pub async fn role_assignments(
        &self,
        tenant_id: &str,
        principal: Option<&PrincipalId>,
    ) -> Result<Vec<RoleAssignment>> {
        let rows = sqlx::query(
            "SELECT id, issuer, principal, role, scope FROM role_assignments
             WHERE tenant_id = ?1 AND (?2 IS NULL OR (issuer = ?2 AND principal = ?3))
             ORDER BY issuer, principal, role, scope",
        )
        .bind(tenant_id)
        .bind(principal.map(PrincipalId::issuer_key))
        .bind(principal.map(|p| p.subject.as_str()))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| RoleAssignment {
                id: r.get(0),
                principal: principal_of(r.get(1), r.get(2)),
                role: r.get(3),
                scope: r.get(4),
            })
            .collect())
    }

    /// The principal an administrator names, when it can exist in the tenant: a Vigil
    /// application of it (no issuer), or a subject of an issuer it trusts.
    pub async fn principal(&self, tenant_id: &str, subject: &str, issuer: Option<&str>) -> Result<PrincipalId> {
        match issuer {
            None => {
                if !self.apps(tenant_id).await?.iter().any(|app| app.client_id == subject) {
                    return Err(ControlError::Invalid(format!(
                        "no application '{subject}' in the tenant; name an external subject with its issuer"
                    )));
                }
                Ok(PrincipalId::app(subject))
            }
            Some(issuer) => {
                if !self.external_issuers(Some(tenant_id)).await?.iter().any(|e| e.issuer == issuer) {
                    return Err(ControlError::Invalid(format!("the tenant does not trust the issuer '{issuer}'")));
                }
                Ok(PrincipalId::external(issuer, subject))
            }
        }
    }

    /// Removes a role assignment; it takes effect on the principal's next request.
    pub async fn remove_role_assignment(&self, tenant_id: &str, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM role_assignments WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(ControlError::NotFound(format!("no role assignment '{id}'")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether a principal of a tenant holds `wanted` (or a role that grants it) on a workspace,
    /// or on a DCR of it when `dcr` is given.
    pub async fn has_role(
        &self,
        tenant_id: &str,
        principal: &PrincipalId,
        wanted: Role,
        workspace_id: &str,
        dcr: Option<&str>,
    ) -> Result<bool> {
        let mut scopes =
            vec![Scope::Tenant(tenant_id.to_string()).key(), Scope::Workspace(workspace_id.to_string()).key()];
        if let Some(dcr) = dcr {
            scopes.push(Scope::Dcr(dcr.to_string()).key());
        }
        Ok(self.role_assignments(tenant_id, Some(principal)).await?.iter().any(|assignment| {
            scopes.contains(&assignment.scope) && Role::from_str(&assignment.role).is_ok_and(|held| held.grants(wanted))
        }))
    }

    /// Reads a scope as users write it: `tenant`, `workspace/NAME-OR-ID`, `dcr/IMMUTABLE-ID-OR-NAME`.
    pub async fn resolve_scope(&self, tenant_id: &str, text: &str) -> Result<Scope> {
        let (kind, name) = text.split_once('/').unwrap_or((text, ""));
        match (kind.to_ascii_lowercase().as_str(), name) {
            ("tenant", "") => Ok(Scope::Tenant(tenant_id.to_string())),
            ("workspace", name) if !name.is_empty() => {
                Ok(Scope::Workspace(self.workspace(Some(tenant_id), name).await?.id))
            }
            ("dcr", name) if !name.is_empty() => {
                let row = sqlx::query(
                    "SELECT d.immutable_id FROM dcrs d JOIN workspaces w ON w.id = d.workspace_id
                     WHERE w.tenant_id = ?1 AND (d.immutable_id = ?2 OR d.name = ?2) LIMIT 1",
                )
                .bind(tenant_id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| Scope::Dcr(r.get(0))).ok_or_else(|| ControlError::NotFound(format!("no DCR '{name}'")))
            }
            _ => Err(ControlError::Invalid(format!(
                "unknown scope '{text}'; write tenant, workspace/NAME or dcr/IMMUTABLE-ID"
            ))),
        }
    }

    /// Creates or replaces a table from Azure's table JSON. Replacing may add columns only:
    /// rows already stored keep their columns.
    pub async fn put_table(&self, workspace_id: &str, json: &str) -> Result<TableDefinition> {
        let (schema, retention_days) = self.check_table(workspace_id, json).await?;
        let columns = columns_json(&schema.columns);
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO tables (workspace_id, name, columns, retention_days, created_at, open_columns)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (workspace_id, name) DO UPDATE SET columns = excluded.columns,
                 retention_days = excluded.retention_days, open_columns = excluded.open_columns",
        )
        .bind(workspace_id)
        .bind(&schema.name)
        .bind(columns)
        .bind(retention_days.map(i64::from))
        .bind(now_text())
        .bind(schema.open.and_then(vigil_catalog::OpenColumns::stored_name))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(TableDefinition { workspace_id: workspace_id.to_string(), schema, retention_days })
    }

    /// What `put_table` would store, checked without storing it: the schema and retention.
    pub async fn check_table(&self, workspace_id: &str, json: &str) -> Result<(TableSchema, Option<u32>)> {
        let schema = parse_table_json(json).map_err(|e| ControlError::Invalid(e.to_string()))?;
        let schema = vigil_catalog::standard::complete(&schema);
        validate_name("table", &schema.name)?;
        if !schema.columns.iter().any(|c| c.name == "TimeGenerated" && c.ty == KqlType::DateTime) {
            return Err(ControlError::Invalid(format!(
                "table '{}' has no TimeGenerated column of type datetime; every table needs one",
                schema.name
            )));
        }
        let retention_days = serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|j| j.pointer("/properties/retentionInDays").and_then(serde_json::Value::as_u64))
            .map(|days| days.min(u64::from(u32::MAX)) as u32);
        if let Some(existing) = self.table(workspace_id, &schema.name).await? {
            for old in &existing.schema.columns {
                match schema.columns.iter().find(|c| c.name == old.name) {
                    Some(new) if new.ty == old.ty => {}
                    Some(new) => {
                        return Err(ControlError::Invalid(format!(
                            "table '{}': column '{}' is {} and cannot become {}",
                            schema.name,
                            old.name,
                            old.ty.name(),
                            new.ty.name()
                        )));
                    }
                    None => {
                        return Err(ControlError::Invalid(format!(
                            "table '{}': column '{}' cannot be removed",
                            schema.name, old.name
                        )));
                    }
                }
            }
        }
        Ok((schema, retention_days))
    }

    pub async fn tables(&self, workspace_id: Option<&str>) -> Result<Vec<TableDefinition>> {
        let rows = sqlx::query(
            "SELECT workspace_id, name, columns, retention_days, open_columns FROM tables WHERE ?1 IS NULL OR workspace_id = ?1
             ORDER BY workspace_id, name",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(table_of_row).collect()
    }

    pub async fn table(&self, workspace_id: &str, name: &str) -> Result<Option<TableDefinition>> {
        let row = sqlx::query(
            "SELECT workspace_id, name, columns, retention_days, open_columns FROM tables WHERE workspace_id = ? AND name = ?",
        )
        .bind(workspace_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(table_of_row).transpose()
    }

    /// Creates a DCR in a workspace from Azure's JSON, after checking that each flow's table
    /// exists (a custom table of the workspace, or a standard one) and that `check_transform`
    /// accepts its transform over the stream's columns (the engine lives above this crate).
    /// Creating one with the name of an existing DCR of the workspace replaces its definition
    /// and keeps its immutable id.
    pub async fn put_dcr(&self, workspace_id: &str, json: &str, check_transform: TransformCheck<'_>) -> Result<Dcr> {
        let (definition, workspace) = self.check_dcr(workspace_id, json, check_transform, &[]).await?;
        let existing = sqlx::query("SELECT immutable_id FROM dcrs WHERE workspace_id = ? AND name = ?")
            .bind(&workspace.id)
            .bind(&definition.name)
            .fetch_optional(&self.pool)
            .await?;
        let immutable_id = existing
            .map(|row| row.get::<String, _>(0))
            .unwrap_or_else(|| format!("dcr-{}", uuid::Uuid::new_v4().simple()));
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO dcrs (immutable_id, workspace_id, name, definition, created_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (immutable_id) DO UPDATE SET definition = excluded.definition",
        )
        .bind(&immutable_id)
        .bind(&workspace.id)
        .bind(&definition.name)
        .bind(json)
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Dcr { immutable_id, workspace_id: workspace.id, tenant_id: workspace.tenant_id, definition })
    }

    /// Everything a workspace defines besides its rows (custom tables, functions by each of
    /// their names, watchlists and their items), for its catalog.
    pub async fn definitions(&self, workspace_id: &str) -> Result<vigil_catalog::Definitions> {
        let workspace = self.workspace(None, workspace_id).await?;
        let tables =
            self.tables(Some(&workspace.id)).await?.into_iter().map(|t| (t.schema.name.clone(), t.schema)).collect();
        let mut functions = std::collections::BTreeMap::new();
        for function in self.functions(&workspace.id).await? {
            for name in function.names() {
                functions.insert(name.to_string(), std::sync::Arc::new(function.as_function(name)));
            }
        }
        let watchlists = self
            .watchlists(&workspace.id)
            .await?
            .into_iter()
            .map(|w| {
                let schema = vigil_catalog::WatchlistSchema {
                    alias: w.alias.clone(),
                    search_key: w.items_search_key,
                    columns: w.columns,
                };
                (w.alias, std::sync::Arc::new(schema))
            })
            .collect();
        Ok(vigil_catalog::Definitions {
            tenant_id: workspace.tenant_id,
            watchlist_items: self.watchlist_changes(&workspace.id).await?,
            workspace_id: workspace.id,
            tables,
            functions,
            watchlists,
        })
    }

    /// What `put_dcr` would store, checked without storing it. `pending_tables` are about to
    /// be created (by the same import) and count as existing.
    pub async fn check_dcr(
        &self,
        workspace_id: &str,
        json: &str,
        check_transform: TransformCheck<'_>,
        pending_tables: &[String],
    ) -> Result<(DcrDefinition, Workspace)> {
        let definition = parse_dcr(json).map_err(ControlError::Invalid)?;
        let workspace = self.workspace(None, workspace_id).await?;
        for flow in &definition.flows {
            let exists = vigil_catalog::standard::table(&flow.table).is_some()
                || pending_tables.contains(&flow.table)
                || self.table(&workspace.id, &flow.table).await?.is_some();
            if !exists {
                return Err(ControlError::Invalid(format!(
                    "data flow of '{}': the output table '{}' does not exist in workspace '{}'; create it first",
                    flow.stream, flow.table, workspace.name
                )));
            }
            check_transform(&flow.transform, &definition.streams[&flow.stream]).map_err(|message| {
                ControlError::Invalid(format!("the transformKql of stream '{}' is not valid:\n{message}", flow.stream))
            })?;
        }
        Ok((definition, workspace))
    }

    pub async fn dcr(&self, immutable_id: &str) -> Result<Option<Dcr>> {
        let row = sqlx::query(
            "SELECT d.immutable_id, d.workspace_id, w.tenant_id, d.definition FROM dcrs d
             JOIN workspaces w ON w.id = d.workspace_id WHERE d.immutable_id = ?",
        )
        .bind(immutable_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(dcr_of_row).transpose()
    }

    pub async fn dcrs(&self, workspace_id: &str) -> Result<Vec<Dcr>> {
        let rows = sqlx::query(
            "SELECT d.immutable_id, d.workspace_id, w.tenant_id, d.definition FROM dcrs d
             JOIN workspaces w ON w.id = d.workspace_id WHERE d.workspace_id = ? ORDER BY d.name",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dcr_of_row).collect()
    }

    /// The keys tokens are signed with, newest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
        let rows = sqlx::query("SELECT kid, pkcs8 FROM signing_keys ORDER BY created_at DESC, kid")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let stored: Vec<u8> = r.get(1);
                let pkcs8 = self.seal.open(&stored).map_err(|e| ControlError::unreadable("a signing key", e))?;
                Ok(SigningKey { kid: r.get(0), pkcs8 })
            })
            .collect()
    }

    pub async fn add_signing_key(&self, key: &SigningKey) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO signing_keys (kid, pkcs8, created_at) VALUES (?, ?, ?)")
            .bind(&key.kid)
            .bind(self.seal.seal(&key.pkcs8))
            .bind(now_text())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Trusts an issuer's tokens for a tenant (or changes where its keys are). An issuer is
    /// trusted by one tenant at most, so that each of its tokens lands in exactly one tenant.
    pub async fn add_external_issuer(&self, issuer: &ExternalIssuer) -> Result<()> {
        let mut tx = self.begin().await?;
        let other: Option<String> = sqlx::query(
            "SELECT t.name FROM external_issuers e JOIN tenants t ON t.id = e.tenant_id
                         WHERE e.issuer = ? AND e.tenant_id <> ?",
        )
        .bind(&issuer.issuer)
        .bind(&issuer.tenant_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.get(0));
        if let Some(other) = other {
            return Err(ControlError::Conflict(format!(
                "the issuer '{}' is trusted by tenant '{other}' already; an issuer's tokens land in one tenant",
                issuer.issuer
            )));
        }
        sqlx::query(
            "INSERT INTO external_issuers (tenant_id, issuer, jwks_uri) VALUES (?, ?, ?)
             ON CONFLICT (tenant_id, issuer) DO UPDATE SET jwks_uri = excluded.jwks_uri",
        )
        .bind(&issuer.tenant_id)
        .bind(&issuer.issuer)
        .bind(&issuer.jwks_uri)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stops trusting an issuer: its tokens are refused from the next request on, and the role
    /// assignments of its subjects are removed (trusting it again grants nothing by itself).
    pub async fn remove_external_issuer(&self, tenant_id: &str, issuer: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM external_issuers WHERE tenant_id = ? AND issuer = ?")
            .bind(tenant_id)
            .bind(issuer)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(ControlError::NotFound(format!("the tenant does not trust the issuer '{issuer}'")));
        }
        sqlx::query("DELETE FROM role_assignments WHERE tenant_id = ? AND issuer = ?")
            .bind(tenant_id)
            .bind(issuer)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The trusted issuers of one tenant, or of all.
    pub async fn external_issuers(&self, tenant_id: Option<&str>) -> Result<Vec<ExternalIssuer>> {
        let rows = sqlx::query(
            "SELECT tenant_id, issuer, jwks_uri FROM external_issuers WHERE ?1 IS NULL OR tenant_id = ?1
             ORDER BY tenant_id, issuer",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| ExternalIssuer { tenant_id: r.get(0), issuer: r.get(1), jwks_uri: r.get(2) }).collect())
    }
}

/// Why client credentials were refused.
#[derive(Debug)]
pub enum AppAuthError {
    UnknownClient,
    InvalidSecret,
    ExpiredSecret,
    Disabled,
    /// The control database failed.
    Database(sqlx::Error),
    /// The secret check stopped before it answered.
    Check(tokio::task::JoinError),
}

async fn insert_role(
    tx: &mut Transaction<'static, Sqlite>,
    tenant_id: &str,
    principal: &PrincipalId,
    role: Role,
    scope: &Scope,
) -> Result<()> {
    if principal.subject.is_empty() || principal.issuer.as_deref().is_some_and(str::is_empty) {
        return Err(ControlError::Invalid("a role assignment names a principal (and its issuer, if external)".into()));
    }
    sqlx::query(
        "INSERT OR IGNORE INTO role_assignments (id, tenant_id, issuer, principal, role, scope, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(tenant_id)
    .bind(principal.issuer_key())
    .bind(&principal.subject)
    .bind(role.name())
    .bind(scope.key())
    .bind(now_text())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Refuses the principal's tokens issued so far. A token's `iat` has whole seconds, and Vigil's
/// token endpoint issues no token earlier than the principal's not-before, so the new
/// not-before is past both this second and the last one (which tokens issued since may carry).
async fn revoke(tx: &mut Transaction<'static, Sqlite>, tenant_id: &str, principal: &PrincipalId) -> Result<i64> {
    let next_second = Utc::now().timestamp() + 1;
    let not_before = sqlx::query(
        "INSERT INTO revocations (tenant_id, issuer, principal, not_before) VALUES (?, ?, ?, ?)
         ON CONFLICT (tenant_id, issuer, principal) DO UPDATE SET not_before = max(excluded.not_before, not_before + 1)
         RETURNING not_before",
    )
    .bind(tenant_id)
    .bind(principal.issuer_key())
    .bind(&principal.subject)
    .bind(next_second)
    .fetch_one(&mut **tx)
    .await?
    .get(0);
    Ok(not_before)
}

fn principal_of(issuer: String, subject: String) -> PrincipalId {
    PrincipalId { issuer: Some(issuer).filter(|i| !i.is_empty()), subject }
}

fn no_app(client_id: &str) -> ControlError {
    ControlError::NotFound(format!("no application '{client_id}'"))
}

/// Names are shown in URLs and file paths: letters, digits, `_`, `-` and `.`, up to 100.
fn validate_name(what: &str, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('.');
    if valid {
        Ok(())
    } else {
        Err(ControlError::Invalid(format!(
            "invalid {what} name '{name}': use 1 to 100 letters, digits, '_', '-' or '.'"
        )))
    }
}

fn app_of_row(row: &sqlx::sqlite::SqliteRow) -> App {
    let expires: Option<String> = row.get(3);
    let disabled: Option<String> = row.get(4);
    App {
        enabled: disabled.is_none(),
        client_id: row.get(0),
        tenant_id: row.get(1),
        name: row.get(2),
        secret_expires_at: expires
            .and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
            .map(|t| t.with_timezone(&Utc)),
    }
}

fn columns_json(columns: &[KqlColumn]) -> String {
    let columns: Vec<serde_json::Value> =
        columns.iter().map(|c| serde_json::json!({"name": c.name, "type": c.ty.name()})).collect();
    serde_json::Value::Array(columns).to_string()
}

fn table_of_row(row: &sqlx::sqlite::SqliteRow) -> Result<TableDefinition> {
    let name: String = row.get(1);
    let columns_text: String = row.get(2);
    let mut schema = parse_table_json(&format!(r#"{{"name":{},"columns":{columns_text}}}"#, serde_json::json!(name)))
        .map_err(|e| ControlError::unreadable(format!("stored table '{name}'"), e))?;
    let open: Option<String> = row.get(4);
    schema.open = open.as_deref().and_then(vigil_catalog::OpenColumns::from_stored_name);
    let retention: Option<i64> = row.get(3);
    Ok(TableDefinition {
        workspace_id: row.get(0),
        schema,
        retention_days: retention.and_then(|d| u32::try_from(d).ok()),
    })
}

fn dcr_of_row(row: &sqlx::sqlite::SqliteRow) -> Result<Dcr> {
    let immutable_id: String = row.get(0);
    let text: String = row.get(3);
    let definition =
        parse_dcr(&text).map_err(|e| ControlError::unreadable(format!("stored DCR '{immutable_id}'"), e))?;
    Ok(Dcr { immutable_id, workspace_id: row.get(1), tenant_id: row.get(2), definition })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Role assignments written before principals had issuers keep naming whom they named.
    #[tokio::test]
    async fn assignments_from_before_issuers_name_the_application_or_the_one_trusted_issuer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.db");
        let old = vigil_sqlite::open(&path, &MIGRATIONS[..2]).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO tenants VALUES ('t1', 'one', ''), ('t2', 'two', '');
             INSERT INTO apps VALUES ('app-1', 't1', 'soc', 'hash', NULL, '');
             INSERT INTO external_issuers VALUES ('t1', 'https://idp.example.com', 'https://idp.example.com/keys');
             INSERT INTO role_assignments VALUES
                 ('t1', 'app-1', 'Reader', 'tenant:t1', ''),
                 ('t1', 'user-7', 'Responder', 'tenant:t1', ''),
                 ('t2', 'user-8', 'Reader', 'tenant:t2', '');",
        )
        .execute(&old)
        .await
        .unwrap();
        old.close().await;
        let control = Control::open(dir.path(), SealKey::generate()).await.unwrap();
        let issuer = |tenant: &'static str| {
            let control = control.clone();
            async move {
                control
                    .role_assignments(tenant, None)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|a| (a.principal.subject, a.principal.issuer))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            issuer("t1").await,
            vec![("app-1".to_string(), None), ("user-7".to_string(), Some("https://idp.example.com".to_string()))]
        );
        // No issuer to attach it to: it stays an application's, which no external token matches.
        assert_eq!(issuer("t2").await, vec![("user-8".to_string(), None)]);
        assert!(control.apps("t1").await.unwrap()[0].enabled);
    }
}
