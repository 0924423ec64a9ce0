//! The `vigil` command: serve the SIEM, administer it, and run and check KQL queries.
//!
//! Exit codes: 0 success, 1 the query failed (the diagnostic is on stderr), 2 usage error.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

mod admin;
mod content;
mod demo;
mod detect;
mod output;
mod remote;

use clap::{Parser, Subcommand, ValueEnum};
use vigil::tables;
use vigil_catalog::{TableSchema, load_schemas};
use vigil_kql::{Engine, MemoryCatalog, QueryError, RunOptions};

#[derive(Parser)]
#[command(name = "vigil", version, about = "A self-hosted SIEM that speaks Microsoft Sentinel's interfaces")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a KQL query over tables read from files.
    Query {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// A table: NAME=FILE, where FILE is .jsonl, .json (an array), .csv or .parquet.
        #[arg(long = "table", value_name = "NAME=FILE")]
        tables: Vec<String>,
        /// Azure table JSON (a file, or a folder of them) giving column types; tables it
        /// declares without a --table file are empty.
        #[arg(long = "schema", value_name = "FILE")]
        schemas: Vec<PathBuf>,
        /// Print how the query would run (DataFusion's optimized logical and physical plans)
        /// instead of running it.
        #[arg(long)]
        explain: bool,
        /// Run the query on a Vigil server (its base URL) through the query API instead of in
        /// process. Credentials come from VIGIL_TENANT_ID, VIGIL_CLIENT_ID and VIGIL_CLIENT_SECRET.
        #[arg(long, value_name = "URL", conflicts_with_all = ["tables", "schemas", "explain"])]
        server: Option<String>,
        /// The workspace to query on the server (name or id).
        #[arg(long, default_value = "default", requires = "server")]
        workspace: String,
        /// The query API's time range: an ISO 8601 duration (PT1H, P7D) or interval.
        #[arg(long, requires = "server")]
        timespan: Option<String>,
        /// A PEM certificate to trust for the server (its self-signed one, for example).
        #[arg(long, value_name = "PEM", requires = "server")]
        ca_cert: Option<PathBuf>,
        /// The query; read from standard input when absent or '-'.
        query: Option<String>,
    },
    /// Run the server: token service, Logs Ingestion API, storage, query API, web console.
    Serve(admin::ServeArgs),
    /// Run a server on a fresh data dir with the Keeper Security pack and a generated stream of
    /// Keeper events, to try the console.
    Demo(demo::DemoArgs),
    /// Register applications (client credentials) and give them roles.
    #[command(subcommand)]
    App(admin::AppCommand),
    /// Create tables from Azure's table JSON.
    #[command(subcommand)]
    Table(admin::TableCommand),
    /// Create data collection rules from Azure's DCR JSON.
    #[command(subcommand)]
    Dcr(admin::DcrCommand),
    /// List workspaces.
    #[command(subcommand)]
    Workspace(admin::WorkspaceCommand),
    /// Tenant settings: trusted external token issuers.
    #[command(subcommand)]
    Tenant(admin::TenantCommand),
    /// Role assignments.
    #[command(subcommand)]
    Role(admin::RoleCommand),
    /// Analytics rules (Sentinel's YAML): import, list, enable, disable, export, test.
    #[command(subcommand)]
    Rule(detect::RuleCommand),
    /// Playbooks and automation rules.
    #[command(subcommand)]
    Automation(detect::AutomationCommand),
    /// Suppression rules: silence matching alerts for a while, with who and why.
    #[command(subcommand)]
    Suppression(detect::SuppressionCommand),
    /// Content packs: tables, DCRs, rules and workbooks for a product.
    #[command(subcommand)]
    Content(content::ContentCommand),
    /// The workspace's saved KQL functions (Sentinel's parsers).
    #[command(subcommand)]
    Function(content::FunctionCommand),
    /// The workspace's watchlists, read in KQL with _GetWatchlist('alias').
    #[command(subcommand)]
    Watchlist(content::WatchlistCommand),
    /// Check that a query parses and binds, without running it.
    Check {
        /// Only check the syntax.
        #[arg(long)]
        syntax_only: bool,
        /// Azure table JSON (a file, or a folder of them) to check table and column names against.
        #[arg(long = "schema", value_name = "FILE")]
        schemas: Vec<PathBuf>,
        /// Check against this workspace of the data dir: its tables, functions and watchlists.
        #[arg(long, value_name = "NAME")]
        workspace: Option<String>,
        #[command(flatten)]
        data: admin::DataDirArgs,
        /// The query; read from standard input when absent or '-'.
        query: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// The Log Analytics query API's JSON.
    Json,
    /// An aligned table for people.
    Table,
    /// CSV with a header row.
    Csv,
}

/// A failure and the exit code it maps to.
pub enum Failure {
    Usage(String),
    Query(String),
    /// The reader of standard output went away before the command finished writing.
    OutputClosed,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(16 * 1024 * 1024).build() {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("error: cannot start the runtime: {error}");
                return ExitCode::from(1);
            }
        };
    // On a thread with the workers' stack size: binding deep queries recurses.
    let outcome = std::thread::Builder::new()
        .stack_size(16 * 1024 * 1024)
        .spawn(move || runtime.block_on(run(cli)))
        .map_err(|e| Failure::Query(format!("cannot start the command: {e}")))
        .and_then(|thread| thread.join().unwrap_or_else(|_| Err(Failure::Query("the command panicked".into()))));
    match outcome {
        Ok(()) | Err(Failure::OutputClosed) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Query(message)) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Query { format, server: Some(server), workspace, timespan, ca_cert, query, .. } => {
            let query = read_query(query)?;
            let result = remote::query(&server, &workspace, &query, timespan.as_deref(), ca_cert.as_deref()).await?;
            output::text(&remote::render(&result, format)?)
        }
        Command::Query { format, tables, schemas, explain, query, .. } => {
            let query = read_query(query)?;
            let engine = Engine::new();
            let schemas = read_schemas(&schemas)?;
            let catalog = catalog(&engine, &tables, &schemas).await?;
            if explain {
                let plans = engine
                    .explain(&query, Arc::new(catalog), RunOptions::default())
                    .await
                    .map_err(|e| query_failure(&e, &query))?;
                return output::text(&plans);
            }
            let result = engine
                .run(&query, Arc::new(catalog), RunOptions::default())
                .await
                .map_err(|e| query_failure(&e, &query))?;
            let output = match format {
                Format::Json => format!("{}\n", result.to_json()),
                Format::Table => result.to_table(),
                Format::Csv => result.to_csv(),
            };
            output::text(&output)
        }
        Command::Check { syntax_only, schemas, workspace: Some(workspace), data, query } => {
            if !schemas.is_empty() {
                return Err(Failure::Usage("--schema and --workspace cannot be combined".into()));
            }
            let query = read_query(query)?;
            let catalog = content::workspace_catalog(&data, &workspace).await?;
            Engine::new()
                .check(&query, catalog.as_ref(), syntax_only)
                .map(|_| ())
                .map_err(|e| query_failure(&e, &query))
        }
        Command::Check { syntax_only, schemas, query, .. } => {
            let query = read_query(query)?;
            let engine = Engine::new();
            let schemas = read_schemas(&schemas)?;
            let catalog = catalog(&engine, &[], &schemas).await?;
            engine.check(&query, &catalog, syntax_only).map(|_| ()).map_err(|e| query_failure(&e, &query))
        }
        Command::Serve(args) => admin::serve(args).await,
        Command::Demo(args) => demo::demo(args).await,
        Command::App(command) => admin::app(command).await,
        Command::Table(command) => admin::table(command).await,
        Command::Dcr(command) => admin::dcr(command).await,
        Command::Workspace(command) => admin::workspace(command).await,
        Command::Tenant(command) => admin::tenant_command(command).await,
        Command::Role(command) => admin::role(command).await,
        Command::Rule(command) => detect::rule(command).await,
        Command::Automation(command) => detect::automation(command).await,
        Command::Suppression(command) => detect::suppression(command).await,
        Command::Content(command) => content::content(command).await,
        Command::Function(command) => content::function(command).await,
        Command::Watchlist(command) => content::watchlist(command).await,
    }
}

fn query_failure(error: &QueryError, query: &str) -> Failure {
    Failure::Query(error.render(query))
}

fn read_query(query: Option<String>) -> Result<String, Failure> {
    match query.as_deref() {
        Some(text) if text != "-" => Ok(text.to_string()),
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::Usage(format!("cannot read the query from standard input: {e}")))?;
            Ok(text)
        }
    }
}

fn read_schemas(paths: &[PathBuf]) -> Result<Vec<TableSchema>, Failure> {
    let mut schemas = Vec::new();
    for path in paths {
        schemas.extend(load_schemas(path).map_err(|e| Failure::Usage(e.to_string()))?);
    }
    Ok(schemas)
}

async fn catalog(engine: &Engine, tables: &[String], schemas: &[TableSchema]) -> Result<MemoryCatalog, Failure> {
    // Every workspace has the standard tables; schemas and files given add to them or redefine them.
    let mut catalog = MemoryCatalog::new();
    catalog.add_standard_tables();
    for schema in schemas {
        catalog.add_schema(schema);
    }
    for table in tables {
        let Some((name, file)) = table.split_once('=') else {
            return Err(Failure::Usage(format!("--table expects NAME=FILE, got '{table}'")));
        };
        let schema = schemas.iter().find(|s| s.name == name);
        tables::add_file(&mut catalog, engine.session(), name, std::path::Path::new(file), schema)
            .await
            .map_err(Failure::Usage)?;
    }
    Ok(catalog)
}
