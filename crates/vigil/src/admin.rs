//! `vigil serve` and the admin commands. The admin commands change the control database of a
//! data dir directly (SQLite, safe beside a running server, which picks the change up on its
//! next request) and print JSON.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Value as Json, json};
use vigil_control::{Control, Role, Scope, Tenant};
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
}

#[derive(Subcommand)]
pub enum TenantCommand {
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
        #[arg(long, value_name = "URL")]
        jwks_uri: String,
    },
}

#[derive(Subcommand)]
pub enum RoleCommand {
    /// Give a principal (an application's client id, or an external issuer's subject) a role.
    Assign {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        principal: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        scope: String,
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
    let control = Control::open(&config.data_dir).await.map_err(|e| Failure::Query(e.to_string()))?;
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
            let failed = |e: vigil_control::ControlError| Failure::Query(e.to_string());
            let mut apps = Vec::new();
            for app in control.apps(&tenant.id).await.map_err(failed)? {
                let roles = control.role_assignments(&tenant.id, Some(&app.client_id)).await.map_err(failed)?;
                apps.push(json!({
                    "client_id": app.client_id,
                    "name": app.name,
                    "secret_expires_at": app.secret_expires_at,
                    "roles": roles.iter().map(|r| json!({"role": r.role, "scope": r.scope})).collect::<Vec<_>>(),
                }));
            }
            output::json(&Json::Array(apps))?;
            Ok(())
        }
    }
}

pub async fn tenant_command(command: TenantCommand) -> Result<(), Failure> {
    let TenantCommand::TrustIssuer { data, tenant: tenant_name, issuer, jwks_uri } = command;
    if !(jwks_uri.starts_with("https://") || jwks_uri.starts_with("http://")) {
        return Err(Failure::Usage(format!("--jwks-uri must be an http(s) URL, got '{jwks_uri}'")));
    }
    let (_, control) = open(&data).await?;
    let tenant = tenant(&control, tenant_name.as_deref()).await?;
    let trusted = vigil_control::ExternalIssuer { tenant_id: tenant.id, issuer, jwks_uri };
    control.add_external_issuer(&trusted).await.map_err(|e| Failure::Query(e.to_string()))?;
    output::json(&serde_json::to_value(trusted).unwrap_or_default())?;
    Ok(())
}

pub async fn role(command: RoleCommand) -> Result<(), Failure> {
    let RoleCommand::Assign { data, tenant: tenant_name, principal, role, scope } = command;
    let (_, control) = open(&data).await?;
    let tenant = tenant(&control, tenant_name.as_deref()).await?;
    let role: Role = role.parse().map_err(Failure::Usage)?;
    let scope = control.resolve_scope(&tenant.id, &scope).await.map_err(|e| Failure::Usage(e.to_string()))?;
    control.assign_role(&tenant.id, &principal, role, &scope).await.map_err(|e| Failure::Query(e.to_string()))?;
    output::json(&json!({"tenant_id": tenant.id, "principal": principal, "role": role.name(), "scope": scope.key()}))?;
    Ok(())
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
    let WorkspaceCommand::List { data } = command;
    let (_, control) = open(&data).await?;
    let workspaces = control.workspaces(None).await.map_err(|e| Failure::Query(e.to_string()))?;
    output::json(&serde_json::to_value(workspaces).unwrap_or_default())?;
    Ok(())
}
