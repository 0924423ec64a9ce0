//! `vigil serve` and the admin commands. The admin commands change the control database of a
//! data dir directly (SQLite, safe beside a running server, which picks the change up on its
//! next request) and print JSON.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Value as Json, json};
use vigil_control::{Control, ExternalIssuer, PrincipalId, Role, Scope, Tenant};
use vigil_server::config::{ServerConfig, TlsMode};

use crate::Failure;
use crate::output;

#[derive(Args)]
pub struct DataDirArgs {
    /// The data directory (default: ./vigil-data, or data_dir of --config, or VIGIL_DATA_DIR).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl DataDirArgs {
    pub(crate) fn load(&self) -> Result<ServerConfig, Failure> {
        let mut config = ServerConfig::load(self.config.as_deref()).map_err(Failure::Usage)?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    data: DataDirArgs,
    /// The address to listen on (default 127.0.0.1:8443).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// A PEM certificate chain to serve HTTPS with (with --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key", conflicts_with_all = ["tls_self_signed", "insecure_http"])]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate generated into the data dir (the default).
    #[arg(long, conflicts_with = "insecure_http")]
    tls_self_signed: bool,
    /// Serve plain HTTP. Tokens and records then cross the network unencrypted.
    #[arg(long)]
    insecure_http: bool,
    /// The URL clients reach the server at, for issuer and endpoint URLs.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
}

impl ServeArgs {
    /// The server's configuration: the data dir's (file, environment), then these flags.
    pub(crate) fn config(self) -> Result<ServerConfig, Failure> {
        let mut config = self.data.load()?;
        if let Some(listen) = &self.listen {
            config.listen = vigil_server::parse_listen(listen).map_err(Failure::Usage)?;
        }
        if let (Some(cert), Some(key)) = (self.tls_cert, self.tls_key) {
            config.tls = TlsMode::Files { cert, key };
        } else if self.tls_self_signed {
            config.tls = TlsMode::SelfSigned;
        } else if self.insecure_http {
            config.tls = TlsMode::Disabled;
        }
        if self.public_url.is_some() {
            config.public_url = self.public_url;
        }
        Ok(config)
    }
}

pub async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let config = args.config()?;
    init_logging();
    vigil_server::serve(config).await.map_err(Failure::Query)
}

/// Logs go to stderr as text, or as JSON lines with VIGIL_LOG_FORMAT=json; RUST_LOG filters.
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("VIGIL_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[derive(Subcommand)]
pub enum AppCommand {
    /// Register an application; prints {"tenant_id","client_id","client_secret"}. The secret
    /// is shown only now.
    Create {
        #[command(flatten)]
        data: DataDirArgs,
        /// The tenant (name or id; default: the first one).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        name: String,
        /// A role: Reader, Responder, Contributor, Owner, or "Monitoring Metrics Publisher".
        /// Each --role pairs with the --scope at the same position.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Where the role applies: tenant, workspace/NAME or dcr/IMMUTABLE-ID (or DCR name).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List applications and their roles (never their secrets).
    List {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Give an application a new secret (printed only now); the old secret and every token
    /// obtained with it stop working.
    RotateSecret(AppTarget),
    /// Disable an application: it gets no token, and its tokens stop working.
    Disable(AppTarget),
    /// Enable a disabled application again.
    Enable(AppTarget),
    /// Delete an application and its role assignments; its tokens stop working.
    Delete(AppTarget),
}

#[derive(Args)]
pub struct AppTarget {
    #[command(flatten)]
    data: DataDirArgs,
    #[arg(long)]
    tenant: Option<String>,
    #[arg(long)]
    client_id: String,
}

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (a customer of an MSSP, say) with a first workspace and an Owner
    /// application; prints {"tenant_id","workspace_id","owner":{"client_id","client_secret"}}.
    /// The secret is shown only now.
    Create {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long)]
        name: String,
        /// The first workspace's name.
        #[arg(long, default_value = "default")]
        workspace: String,
    },
    /// Prints [{"id","name"}].
    List {
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Accept tokens from an external OpenID Connect issuer (the organisation's Entra ID or
    /// Keycloak) for a tenant; its keys are fetched from the JWKS URL.
    TrustIssuer {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long)]
        tenant: Option<String>,
        /// The issuer, exactly as its tokens' `iss` claim names it.
        #[arg(long)]
        issuer: String,
        /// Where its keys are (https only).
        #[arg(long, value_name = "URL")]
        jwks_uri: String,
    },
    /// Stop accepting an issuer's tokens; its subjects' role assignments are removed.
    DistrustIssuer {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        issuer: String,
    },
    /// The issuers a tenant trusts.
    Issuers {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Sign a principal out everywhere: every token it holds stops working; new ones work.
    RevokeSessions {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long)]
        tenant: Option<String>,
        /// An application's client id, or an external subject (its `oid`, else `sub`).
        #[arg(long)]
        principal: String,
        /// The issuer of an external subject.
        #[arg(long)]
        issuer: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum RoleCommand {
    /// Give a principal a role: an application's client id, or an external issuer's subject
    /// (its `oid`, else `sub`) with --issuer.
    Assign {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        principal: String,
        /// The issuer of an external subject, as its tokens' `iss` names it.
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long)]
        role: String,
        #[arg(long)]
        scope: String,
    },
    /// Prints [{"id","principal","issuer","role","scope"}].
    List {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Remove a role assignment (by the id `role list` prints); it takes effect on the
    /// principal's next request.
    Remove {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
pub enum TableCommand {
    /// Create or extend a table from Azure's table JSON.
    Create {
        #[command(flatten)]
        data: DataDirArgs,
        /// The workspace (name or id).
        #[arg(long, default_value = "default")]
        workspace: String,
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum DcrCommand {
    /// Create a DCR from Azure's JSON; prints {"immutable_id","logs_ingestion_endpoint","streams"}.
    Create {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace in a tenant; prints {"id","name","tenant_id"}.
    Create {
        #[command(flatten)]
        data: DataDirArgs,
        /// The tenant (name or id; default: the first one).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        name: String,
    },
    /// Prints [{"id","name","tenant_id"}].
    List {
        #[command(flatten)]
        data: DataDirArgs,
    },
}

/// Opens the data dir's control database, setting up the default tenant and workspace on a
/// fresh one as the server's first start does, so that set-up can precede `vigil serve`.
pub(crate) async fn open(data: &DataDirArgs) -> Result<(ServerConfig, Control), Failure> {
    let config = data.load()?;
    if let Some(warning) = vigil_server::data_dir::prepare(&config.data_dir).map_err(Failure::Usage)? {
        eprintln!("warning: {warning}");
    }
    let seal = config.seal_key().map_err(Failure::Usage)?;
    let control = Control::open(&config.data_dir, seal).await.map_err(|e| Failure::Query(e.to_string()))?;
    if let Some(bootstrap) = control.bootstrap().await.map_err(|e| Failure::Query(e.to_string()))? {
        vigil_server::announce_bootstrap(&config.data_dir, &bootstrap).map_err(Failure::Query)?;
    }
    Ok((config, control))
}

async fn tenant(control: &Control, name: Option<&str>) -> Result<Tenant, Failure> {
    match name {
        Some(name) => control.tenant(name).await,
        None => control.default_tenant().await,
    }
    .map_err(|e| Failure::Query(e.to_string()))
}

fn read_file(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
}

pub async fn app(command: AppCommand) -> Result<(), Failure> {
    match command {
        AppCommand::Create { data, tenant: tenant_name, name, roles, scopes } => {
            if roles.len() != scopes.len() {
                return Err(Failure::Usage(format!(
                    "each --role needs a --scope: got {} roles and {} scopes",
                    roles.len(),
                    scopes.len()
                )));
            }
            let (_, control) = open(&data).await?;
            let tenant = tenant(&control, tenant_name.as_deref()).await?;
            let mut assignments: Vec<(Role, Scope)> = Vec::new();
            for (role, scope) in roles.iter().zip(&scopes) {
                let role: Role = role.parse().map_err(Failure::Usage)?;
                let scope =
                    control.resolve_scope(&tenant.id, scope).await.map_err(|e| Failure::Usage(e.to_string()))?;
                assignments.push((role, scope));
            }
            let app = control
                .create_app(&tenant.id, &name, &assignments, None)
                .await
                .map_err(|e| Failure::Query(e.to_string()))?;
            output::json(
                &json!({"tenant_id": app.tenant_id, "client_id": app.client_id, "client_secret": app.client_secret}),
            )?;
            Ok(())
        }
        AppCommand::List { data, tenant: tenant_name } => {
            let (_, control) = open(&data).await?;
            let tenant = tenant(&control, tenant_name.as_deref()).await?;
            let mut apps = Vec::new();
            for app in control.apps(&tenant.id).await.map_err(failed)? {
                let principal = PrincipalId::app(&app.client_id);
                let roles = control.role_assignments(&tenant.id, Some(&principal)).await.map_err(failed)?;
                apps.push(json!({
                    "client_id": app.client_id,
                    "name": app.name,
                    "enabled": app.enabled,
                    "secret_expires_at": app.secret_expires_at,
                    "roles": roles.iter().map(|r| json!({"id": r.id, "role": r.role, "scope": r.scope})).collect::<Vec<_>>(),
                }));
            }
            output::json(&Json::Array(apps))?;
            Ok(())
        }
        AppCommand::RotateSecret(target) => {
            let (control, tenant) = target.open().await?;
            let app = control.rotate_secret(&tenant.id, &target.client_id).await.map_err(failed)?;
            output::json(&serde_json::to_value(app).unwrap_or_default())?;
            Ok(())
        }
        AppCommand::Disable(target) => set_enabled(target, false).await,
        AppCommand::Enable(target) => set_enabled(target, true).await,
        AppCommand::Delete(target) => {
            let (control, tenant) = target.open().await?;
            control.delete_app(&tenant.id, &target.client_id).await.map_err(failed)?;
            output::json(&json!({"deleted": target.client_id}))?;
            Ok(())
        }
    }
}

impl AppTarget {
    async fn open(&self) -> Result<(Control, Tenant), Failure> {
        let (_, control) = open(&self.data).await?;
        let tenant = tenant(&control, self.tenant.as_deref()).await?;
        Ok((control, tenant))
    }
}

async fn set_enabled(target: AppTarget, enabled: bool) -> Result<(), Failure> {
    let (control, tenant) = target.open().await?;
    let app = control.set_app_enabled(&tenant.id, &target.client_id, enabled).await.map_err(failed)?;
    output::json(&json!({"client_id": app.client_id, "name": app.name, "enabled": app.enabled}))?;
    Ok(())
}

fn failed(error: vigil_control::ControlError) -> Failure {
    if error.is_storage() { Failure::Query(error.to_string()) } else { Failure::Usage(error.to_string()) }
}

pub async fn tenant_command(command: TenantCommand) -> Result<(), Failure> {
    match command {
        TenantCommand::Create { data, name, workspace } => {
            let (_, control) = open(&data).await?;
            let tenant = control.create_tenant(&name).await.map_err(failed)?;
            let workspace = control.create_workspace(&tenant.id, &workspace).await.map_err(failed)?;
            let owner_role = [(Role::Owner, Scope::Tenant(tenant.id.clone()))];
            let owner = control.create_app(&tenant.id, "owner", &owner_role, None).await.map_err(failed)?;
            output::json(&json!({
                "tenant_id": tenant.id,
                "name": tenant.name,
                "workspace_id": workspace.id,
                "owner": {"client_id": owner.client_id, "client_secret": owner.client_secret},
            }))
        }
        TenantCommand::List { data } => {
            let (_, control) = open(&data).await?;
            let tenants = control.tenants().await.map_err(failed)?;
            output::json(&serde_json::to_value(tenants).unwrap_or_default())
        }
        TenantCommand::TrustIssuer { data, tenant: tenant_name, issuer, jwks_uri } => {
            let (_, control) = open(&data).await?;
            let tenant = tenant(&control, tenant_name.as_deref()).await?;
            let trusted = ExternalIssuer::checked(&tenant.id, &issuer, &jwks_uri).map_err(Failure::Usage)?;
            control.add_external_issuer(&trusted).await.map_err(failed)?;
            output::json(&serde_json::to_value(trusted).unwrap_or_default())
        }
        TenantCommand::DistrustIssuer { data, tenant: tenant_name, issuer } => {
            let (_, control) = open(&data).await?;
            let tenant = tenant(&control, tenant_name.as_deref()).await?;
            control.remove_external_issuer(&tenant.id, &issuer).await.map_err(failed)?;
            output::json(&json!({"tenant_id": tenant.id, "distrusted": issuer}))
        }
        TenantCommand::Issuers { data, tenant: tenant_name } => {
            let (_, control) = open(&data).await?;
            let tenant = tenant(&control, tenant_name.as_deref()).await?;
            let issuers = control.external_issuers(Some(&tenant.id)).await.map_err(failed)?;
            output::json(&serde_json::to_value(issuers).unwrap_or_default())
        }
        TenantCommand::RevokeSessions { data, tenant: tenant_name, principal, issuer } => {
            let (_, control) = open(&data).await?;
            let tenant = tenant(&control, tenant_name.as_deref()).await?;
            let principal = control.principal(&tenant.id, &principal, issuer.as_deref()).await.map_err(failed)?;
            let not_before = control.revoke_tokens(&tenant.id, &principal).await.map_err(failed)?;
            let not_before = chrono::DateTime::from_timestamp(not_before, 0).map(|t| t.to_rfc3339());
            output::json(&json!({"principal": principal, "tokensIssuedBefore": not_before}))
        }
    }
}

pub async fn role(command: RoleCommand) -> Result<(), Failure> {
    match command {
        RoleCommand::Assign { data, tenant: tenant_name, principal, issuer, role, scope } => {
            let (_, control) = open(&data).await?;
            let tenant = tenant(&control, tenant_name.as_deref()).await?;
            let role: Role = role.parse().map_err(Failure::Usage)?;
            let scope = control.resolve_scope(&tenant.id, &scope).await.map_err(failed)?;
            let principal = control.principal(&tenant.id, &principal, issuer.as_deref()).await.map_err(failed)?;
            let assignment = control.assign_role(&tenant.id, &principal, role, &scope).await.map_err(failed)?;
            output::json(&serde_json::to_value(assignment).unwrap_or_default())
        }
        RoleCommand::List { data, tenant: tenant_name } => {
            let (_, control) = open(&data).await?;
            let tenant = tenant(&control, tenant_name.as_deref()).await?;
            let assignments = control.role_assignments(&tenant.id, None).await.map_err(failed)?;
            output::json(&serde_json::to_value(assignments).unwrap_or_default())
        }
        RoleCommand::Remove { data, tenant: tenant_name, id } => {
            let (_, control) = open(&data).await?;
            let tenant = tenant(&control, tenant_name.as_deref()).await?;
            control.remove_role_assignment(&tenant.id, &id).await.map_err(failed)?;
            output::json(&json!({"removed": id}))
        }
    }
}

pub async fn table(command: TableCommand) -> Result<(), Failure> {
    let TableCommand::Create { data, workspace, file } = command;
    let text = read_file(&file)?;
    let (_, control) = open(&data).await?;
    let workspace = control.workspace(None, &workspace).await.map_err(|e| Failure::Usage(e.to_string()))?;
    let table = control
        .put_table(&workspace.id, &text)
        .await
        .map_err(|e| Failure::Query(format!("{}: {e}", file.display())))?;
    output::json(&json!({
        "name": table.schema.name,
        "workspace_id": workspace.id,
        "columns": table.schema.columns.iter().map(|c| json!({"name": c.name, "type": c.ty.name()})).collect::<Vec<_>>(),
    }))?;
    Ok(())
}

pub async fn dcr(command: DcrCommand) -> Result<(), Failure> {
    let DcrCommand::Create { data, workspace, file } = command;
    let text = read_file(&file)?;
    let (config, control) = open(&data).await?;
    let workspace = control.workspace(None, &workspace).await.map_err(|e| Failure::Usage(e.to_string()))?;
    let dcr = control
        .put_dcr(&workspace.id, &text, &vigil_content::check_transform)
        .await
        .map_err(|e| Failure::Query(format!("{}: {e}", file.display())))?;
    output::json(&vigil_server::admin::dcr_summary(&dcr, &config.origin()))?;
    Ok(())
}

pub async fn workspace(command: WorkspaceCommand) -> Result<(), Failure> {
    match command {
        WorkspaceCommand::Create { data, tenant: tenant_name, name } => {
            let (_, control) = open(&data).await?;
            let tenant = tenant(&control, tenant_name.as_deref()).await?;
            let workspace = control.create_workspace(&tenant.id, &name).await.map_err(failed)?;
            output::json(&serde_json::to_value(workspace).unwrap_or_default())
        }
        WorkspaceCommand::List { data } => {
            let (_, control) = open(&data).await?;
            let workspaces = control.workspaces(None).await.map_err(failed)?;
            output::json(&serde_json::to_value(workspaces).unwrap_or_default())
        }
    }
}
