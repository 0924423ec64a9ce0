//! `vigil content`, `vigil function` and `vigil watchlist`: Sentinel content into a workspace
//! (solutions, packs), and the workspace's saved functions and watchlists. Written to the data
//! dir's databases, safe beside a running server, which sees the changes on its next request.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use serde_json::{Value as Json, json};
use vigil_control::{NewWatchlist, SavedFunction};

use crate::Failure;
use crate::admin::DataDirArgs;
use crate::detect::{failed, open, workspace};
use crate::output;

#[derive(Subcommand)]
pub enum ContentCommand {
    /// The content packs this build ships.
    List,
    /// Install one of this build's packs into a workspace: its tables, DCRs, rules and
    /// workbooks. Prints what a source needs: each DCR's immutable id, stream and ingestion URL.
    Install {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        /// The server's URL as sources reach it (default: public_url, or https://LISTEN).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        name: String,
    },
    /// Import Sentinel content: a solution folder as the Azure-Sentinel repository lays it out
    /// (Data Connectors, Parsers, Analytic Rules, Hunting Queries, Workbooks, Watchlists), its
    /// Package/mainTemplate.json, or parser, rule, hunting-query and workbook files. Prints one
    /// line per item: installed, or skipped with the reason. A file that cannot be read stops
    /// the import before anything is written.
    Import {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Write nothing unless every item installs.
        #[arg(long)]
        strict: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum FunctionCommand {
    /// Save a function from a Sentinel parser file (solution or ASIM layout), or from --name
    /// and --query. A function with the same name is replaced.
    Create {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        /// A parser YAML file (FunctionName/FunctionQuery or ParserName/ParserQuery).
        #[arg(long, conflicts_with_all = ["name", "query"])]
        file: Option<PathBuf>,
        #[arg(long, requires = "query")]
        name: Option<String>,
        /// The function's KQL.
        #[arg(long, requires = "name")]
        query: Option<String>,
        /// Its parameters as KQL declares them: `a:string, b:int=5`.
        #[arg(long, default_value = "")]
        parameters: String,
        /// Other names the function answers to.
        #[arg(long = "alias")]
        aliases: Vec<String>,
    },
    List {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
    },
    /// A function with its KQL.
    Show {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        name: String,
    },
    Delete {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        name: String,
    },
}

#[derive(Subcommand)]
pub enum WatchlistCommand {
    /// Create a watchlist from CSV, or replace an existing one's items (items keep their ids
    /// while their search key stays; the change is recorded in the Watchlist table).
    Create {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        /// The name queries use: `_GetWatchlist('ALIAS')`.
        #[arg(long)]
        alias: String,
        /// The CSV column whose values are the items' SearchKey.
        #[arg(long)]
        search_key: String,
        /// The CSV file (header row first).
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// Lines before the header to skip.
        #[arg(long, default_value_t = 0)]
        skip_lines: usize,
    },
    List {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
    },
    /// A watchlist and its items.
    Show {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        alias: String,
    },
    Delete {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        alias: String,
    },
}

pub async fn content(command: ContentCommand) -> Result<(), Failure> {
    match command {
        ContentCommand::List => {
            let packs = vigil_content::packs().map(|p| p.summary()).collect::<Result<Vec<_>, _>>().map_err(failed)?;
            output::json(&Json::Array(packs))?;
        }
        ContentCommand::Install { data, workspace: name, url, name: pack_name } => {
            let pack = vigil_content::pack(&pack_name).map_err(Failure::Usage)?;
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let origin = origin(url, &opened.config);
            let target = vigil_content::Target {
                control: &opened.control,
                detection: &opened.detection,
                workspace: &workspace,
                origin: &origin,
                actor: "vigil content install",
                rules_enabled: None,
            };
            let report = pack.install(&target).await.map_err(failed)?;
            output::json(&vigil_content::packs::install_summary(&pack, &workspace.id, &report))?;
        }
        ContentCommand::Import { data, workspace: name, url, strict, json, paths } => {
            let mut files = Vec::new();
            for path in &paths {
                files.extend(vigil_content::read_path(path).map_err(|e| Failure::Usage(e.to_string()))?);
            }
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let origin = origin(url, &opened.config);
            let target = vigil_content::Target {
                control: &opened.control,
                detection: &opened.detection,
                workspace: &workspace,
                origin: &origin,
                actor: "vigil content import",
                rules_enabled: None,
            };
            let report = vigil_content::import(&files, &target, strict).await.map_err(failed)?;
            if json {
                output::json(&serde_json::to_value(&report).unwrap_or_default())?;
            } else {
                output::text(&report.render())?;
            }
        }
    }
    Ok(())
}

/// A workspace of a data dir as queries see it before any row is read: its definitions.
pub async fn workspace_catalog(data: &DataDirArgs, name: &str) -> Result<Arc<dyn vigil_catalog::Catalog>, Failure> {
    let opened = open(data).await?;
    let workspace = workspace(&opened.control, name).await?;
    let definitions = Arc::new(opened.control.definitions(&workspace.id).await.map_err(failed)?);
    Ok(Arc::new(vigil_catalog::WorkspaceCatalog::new(Arc::new(vigil_catalog::MemoryCatalog::new()), definitions)))
}

fn origin(url: Option<String>, config: &vigil_server::config::ServerConfig) -> String {
    url.map(|u| u.trim_end_matches('/').to_string()).unwrap_or_else(|| config.origin())
}

pub async fn function(command: FunctionCommand) -> Result<(), Failure> {
    match command {
        FunctionCommand::Create { data, workspace: name, file, name: function_name, query, parameters, aliases } => {
            let function = match (file, function_name, query) {
                (Some(file), _, _) => {
                    let text = std::fs::read_to_string(&file)
                        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
                    let mut function = vigil_content::parse_parser(&file.display().to_string(), &text)
                        .map_err(|e| Failure::Usage(e.to_string()))?;
                    function.aliases.extend(aliases);
                    function
                }
                (None, Some(function_name), Some(query)) => SavedFunction {
                    display_name: function_name.clone(),
                    name: function_name,
                    aliases,
                    parameters,
                    body: query,
                    category: "Function".into(),
                    source: "vigil function create".into(),
                },
                _ => return Err(Failure::Usage("give --file, or --name and --query".into())),
            };
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            vigil_content::check_function(&function).map_err(Failure::Query)?;
            opened.control.put_function(&workspace.id, &function).await.map_err(failed)?;
            output::json(&function_summary(&function))?;
        }
        FunctionCommand::List { data, workspace: name } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let functions = opened.control.functions(&workspace.id).await.map_err(failed)?;
            output::json(&Json::Array(functions.iter().map(function_summary).collect()))?;
        }
        FunctionCommand::Show { data, workspace: name, name: function_name } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let function = opened.control.function(&workspace.id, &function_name).await.map_err(failed)?;
            let function = function.ok_or_else(|| Failure::Query(format!("no function '{function_name}'")))?;
            output::json(&serde_json::to_value(&function).unwrap_or_default())?;
        }
        FunctionCommand::Delete { data, workspace: name, name: function_name } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            if !opened.control.delete_function(&workspace.id, &function_name).await.map_err(failed)? {
                return Err(Failure::Query(format!("no function '{function_name}'")));
            }
        }
    }
    Ok(())
}

fn function_summary(function: &SavedFunction) -> Json {
    json!({
        "name": function.name,
        "aliases": function.aliases,
        "parameters": function.parameters,
        "category": function.category,
        "displayName": function.display_name,
        "source": function.source,
    })
}

pub async fn watchlist(command: WatchlistCommand) -> Result<(), Failure> {
    match command {
        WatchlistCommand::Create {
            data,
            workspace: name,
            alias,
            search_key,
            file,
            display_name,
            description,
            skip_lines,
        } => {
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            if size > vigil_control::MAX_CSV_BYTES as u64 {
                return Err(Failure::Usage(format!(
                    "{} is {size} bytes; a watchlist's CSV may be at most {} bytes",
                    file.display(),
                    vigil_control::MAX_CSV_BYTES
                )));
            }
            let raw_content = std::fs::read_to_string(&file)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
            let new = NewWatchlist {
                display_name: display_name.unwrap_or_else(|| alias.clone()),
                alias,
                description,
                provider: "Custom".into(),
                source: file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
                items_search_key: search_key,
                labels: Vec::new(),
                raw_content,
                lines_to_skip: skip_lines,
            };
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let saved = opened
                .control
                .put_watchlist(&workspace.id, &new, "vigil watchlist create")
                .await
                .map_err(|e| Failure::Query(format!("{}: {e}", file.display())))?;
            output::json(&serde_json::to_value(&saved).unwrap_or_default())?;
        }
        WatchlistCommand::List { data, workspace: name } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let watchlists = opened.control.watchlists(&workspace.id).await.map_err(failed)?;
            output::json(&serde_json::to_value(&watchlists).unwrap_or_default())?;
        }
        WatchlistCommand::Show { data, workspace: name, alias } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let watchlist = opened.control.watchlist(&workspace.id, &alias).await.map_err(failed)?;
            let watchlist = watchlist.ok_or_else(|| Failure::Query(format!("no watchlist '{alias}'")))?;
            let items = opened.control.watchlist_items(&workspace.id, &alias).await.map_err(failed)?;
            let mut shown = serde_json::to_value(&watchlist).unwrap_or_default();
            shown["items"] = serde_json::to_value(items).unwrap_or_default();
            output::json(&shown)?;
        }
        WatchlistCommand::Delete { data, workspace: name, alias } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            if !opened
                .control
                .delete_watchlist(&workspace.id, &alias, "vigil watchlist delete")
                .await
                .map_err(failed)?
            {
                return Err(Failure::Query(format!("no watchlist '{alias}'")));
            }
        }
    }
    Ok(())
}
