//! `vigil rule`, `vigil automation`, `vigil suppression` and `vigil content`: detection as
//! code, written to the data dir's databases (safe beside a running server, which picks the
//! changes up within a second) and printed as JSON.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use include_dir::{Dir, include_dir};
use serde_json::{Value as Json, json};
use vigil_control::{Control, Workspace};
use vigil_detect::automation::parse_automation;
use vigil_detect::conditions::{Condition, Operator};
use vigil_detect::suppression::NewSuppression;
use vigil_detect::{Detection, Rule, parse_rule, validate_query};
use vigil_kql::{Engine, MemoryCatalog};
use vigil_server::config::ServerConfig;

use crate::Failure;
use crate::admin::DataDirArgs;

/// The content packs shipped with Vigil, one folder each (see `content/README.md`).
static CONTENT: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../content");

#[derive(Subcommand)]
pub enum RuleCommand {
    /// Validate analytics-rule YAML files against the workspace's tables and save them (all of
    /// them, or none when any is invalid). A rule with the same id is replaced.
    Import {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        /// Save the rules disabled.
        #[arg(long)]
        disabled: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Rules with their last run, result count and failures.
    List {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long)]
        workspace: Option<String>,
    },
    Enable {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        id: String,
    },
    Disable {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        id: String,
    },
    /// Print a rule's YAML as it was imported.
    Export {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        id: String,
    },
    /// Run a rule over the history between --from and --to (by TimeGenerated) and print the
    /// alerts it would have raised. Reads the data dir, so the server must be stopped; with a
    /// server running use POST /api/workspaces/{ws}/rules/test.
    Test {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        /// RFC 3339, e.g. 2024-05-01T00:00:00Z.
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum AutomationCommand {
    /// Save the playbooks and automation rules of a YAML or JSON document.
    Import {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        #[arg(long)]
        file: PathBuf,
    },
    /// Playbooks (secrets hidden) and automation rules.
    List {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
    },
}

#[derive(Subcommand)]
pub enum SuppressionCommand {
    /// Silence alerts matching every --condition, for --duration (or until deleted).
    Add {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
        #[arg(long)]
        name: String,
        /// Why: kept with the rule for the audit.
        #[arg(long)]
        reason: String,
        /// Who asked for it.
        #[arg(long)]
        by: String,
        /// ISO 8601, e.g. PT24H.
        #[arg(long)]
        duration: Option<String>,
        /// "PROPERTY OPERATOR VALUE[|VALUE...]", e.g. "IPAddress Equals 10.0.0.1" or
        /// "AnalyticRuleName StartsWith Keeper".
        #[arg(long = "condition", required = true)]
        conditions: Vec<String>,
    },
    List {
        #[command(flatten)]
        data: DataDirArgs,
        #[arg(long, default_value = "default")]
        workspace: String,
    },
}

#[derive(Subcommand)]
pub enum ContentCommand {
    /// The content packs this build ships.
    List,
    /// Install a pack into a workspace: its tables, DCRs, rules and workbooks. Prints what a
    /// source needs: each DCR's immutable id, stream and full ingestion URL.
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
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::Query(e.to_string())
}

struct Opened {
    config: ServerConfig,
    control: Control,
    detection: Arc<Detection>,
}

async fn open(data: &DataDirArgs) -> Result<Opened, Failure> {
    let config = data.load()?;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Failure::Usage(format!("cannot create {}: {e}", config.data_dir.display())))?;
    let control = Control::open(&config.data_dir).await.map_err(failed)?;
    control.bootstrap().await.map_err(failed)?;
    let detection = Detection::open(&config.data_dir.join("detection.db")).await.map_err(failed)?;
    Ok(Opened { config, control, detection })
}

async fn workspace(control: &Control, name: &str) -> Result<Workspace, Failure> {
    control.workspace(None, name).await.map_err(|e| Failure::Usage(e.to_string()))
}

/// The workspace's tables as the control database defines them, for binding rule queries.
async fn table_catalog(control: &Control, workspace: &Workspace) -> Result<MemoryCatalog, Failure> {
    let mut catalog = MemoryCatalog::new();
    for table in control.tables(Some(&workspace.id)).await.map_err(failed)? {
        catalog.add_schema(&table.schema).map_err(failed)?;
    }
    for schema in [vigil_detect::SECURITY_ALERT_SCHEMA, vigil_detect::SECURITY_INCIDENT_SCHEMA] {
        let schema = vigil_kql::schema::parse_table_json(schema).map_err(failed)?;
        if catalog_lacks(&catalog, &schema.name) {
            catalog.add_schema(&schema).map_err(failed)?;
        }
    }
    Ok(catalog)
}

fn catalog_lacks(catalog: &MemoryCatalog, name: &str) -> bool {
    vigil_kql::Catalog::table(catalog, name).is_none()
}

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
}

/// Parses and validates rules; all problems of all files in one error.
fn checked_rules(sources: &[(String, String)], catalog: &MemoryCatalog) -> Result<Vec<Rule>, Failure> {
    let engine = Engine::new();
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in sources {
        match parse_rule(name, text).and_then(|rule| validate_query(&engine, &rule, catalog, name).map(|_| rule)) {
            Ok(rule) => rules.push(rule),
            Err(error) => errors.push(error.to_string()),
        }
    }
    if errors.is_empty() { Ok(rules) } else { Err(Failure::Query(errors.join("\n"))) }
}

fn print(value: &Json) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

fn rule_summary(record: &vigil_detect::RuleRecord) -> Json {
    json!({
        "id": record.rule.id,
        "name": record.rule.name,
        "kind": record.rule.kind.as_str(),
        "severity": record.rule.severity,
        "enabled": record.enabled,
        "workspace_id": record.workspace,
        "last_run": record.last_run,
        "last_result_count": record.last_result_count,
        "last_alert_count": record.last_alert_count,
        "last_error": record.last_error,
        "runs": record.runs,
        "failures": record.failures,
    })
}

pub async fn rule(command: RuleCommand) -> Result<(), Failure> {
    match command {
        RuleCommand::Import { data, workspace: name, disabled, files } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let catalog = table_catalog(&opened.control, &workspace).await?;
            let sources: Vec<(String, String)> =
                files.iter().map(|f| Ok((f.display().to_string(), read(f)?))).collect::<Result<_, Failure>>()?;
            let rules = checked_rules(&sources, &catalog)?;
            let mut saved = Vec::new();
            for (rule, (_, text)) in rules.iter().zip(&sources) {
                let record = opened
                    .detection
                    .put_rule(&workspace.tenant_id, &workspace.id, rule, text, Some(!disabled))
                    .await
                    .map_err(failed)?;
                saved.push(rule_summary(&record));
            }
            print(&Json::Array(saved));
        }
        RuleCommand::List { data, workspace: name } => {
            let opened = open(&data).await?;
            let workspace_id = match name {
                Some(name) => Some(workspace(&opened.control, &name).await?.id),
                None => None,
            };
            let rules = opened.detection.rules(workspace_id.as_deref()).await.map_err(failed)?;
            print(&Json::Array(rules.iter().map(rule_summary).collect()));
        }
        RuleCommand::Enable { data, workspace: name, id } => set_enabled(data, name, id, true).await?,
        RuleCommand::Disable { data, workspace: name, id } => set_enabled(data, name, id, false).await?,
        RuleCommand::Export { data, workspace: name, id } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let record = opened.detection.rule(&workspace.id, &id).await.map_err(failed)?;
            let record = record.ok_or_else(|| Failure::Usage(format!("no rule '{id}' in workspace '{name}'")))?;
            print!("{}", record.source);
        }
        RuleCommand::Test { data, workspace: name, from, to, file } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let catalog = table_catalog(&opened.control, &workspace).await?;
            let source = (file.display().to_string(), read(&file)?);
            let rule = checked_rules(std::slice::from_ref(&source), &catalog)?.remove(0);
            let time = |text: &str| {
                vigil_detect::time::parse_time(text).ok_or_else(|| {
                    Failure::Usage(format!("'{text}' is not an RFC 3339 time such as 2024-05-01T00:00:00Z"))
                })
            };
            let (from, to) = (time(&from)?, time(&to)?);
            let store_config = vigil_store::StoreConfig {
                data_dir: opened.config.data_dir.clone(),
                segments_url: opened.config.segments_url.clone(),
                ..vigil_store::StoreConfig::default()
            };
            let store = vigil_store::Store::open(store_config).await.map_err(|e| {
                Failure::Query(format!("{e} (with the server running, use POST /api/workspaces/{name}/rules/test)"))
            })?;
            let engine = Engine::new();
            store.register_object_store(engine.session());
            let catalog = vigil_server::query::time_range_catalog(store.catalog(&workspace.id), from, to);
            let outcome = vigil_detect::scheduler::test_rule(&engine, &rule, catalog, to).await;
            let closed = store.close().await;
            let (rows, drafts) = outcome.map_err(Failure::Query)?;
            closed.map_err(failed)?;
            print(&json!({
                "rule": rule.name,
                "resultCount": rows,
                "alerts": drafts.iter().map(vigil_detect::alert::draft_json).collect::<Vec<_>>(),
            }));
        }
    }
    Ok(())
}

async fn set_enabled(data: DataDirArgs, name: String, id: String, enabled: bool) -> Result<(), Failure> {
    let opened = open(&data).await?;
    let workspace = workspace(&opened.control, &name).await?;
    if !opened.detection.set_rule_enabled(&workspace.id, &id, enabled).await.map_err(failed)? {
        return Err(Failure::Usage(format!("no rule '{id}' in workspace '{name}'")));
    }
    let record = opened.detection.rule(&workspace.id, &id).await.map_err(failed)?;
    print(&record.as_ref().map(rule_summary).unwrap_or_default());
    Ok(())
}

pub async fn automation(command: AutomationCommand) -> Result<(), Failure> {
    match command {
        AutomationCommand::Import { data, workspace: name, file } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let known: Vec<String> =
                opened.detection.playbooks(&workspace.id).await.map_err(failed)?.into_iter().map(|p| p.name).collect();
            let document = parse_automation(&read(&file)?, &known)
                .map_err(|e| Failure::Query(format!("{}: {e}", file.display())))?;
            for playbook in &document.playbooks {
                opened.detection.put_playbook(&workspace.id, playbook).await.map_err(failed)?;
            }
            for rule in &document.automation_rules {
                opened.detection.put_automation_rule(&workspace.id, rule).await.map_err(failed)?;
            }
            print(&json!({
                "playbooks": document.playbooks.iter().map(|p| &p.name).collect::<Vec<_>>(),
                "automationRules": document.automation_rules.iter().map(|r| &r.name).collect::<Vec<_>>(),
            }));
        }
        AutomationCommand::List { data, workspace: name } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let playbooks = opened.detection.playbooks(&workspace.id).await.map_err(failed)?;
            let rules = opened.detection.automation_rules(&workspace.id).await.map_err(failed)?;
            print(&json!({
                "playbooks": playbooks.iter().map(|p| json!({"name": p.name, "kind": playbook_kind(&p.target)})).collect::<Vec<_>>(),
                "automationRules": rules,
            }));
        }
    }
    Ok(())
}

fn playbook_kind(target: &vigil_detect::automation::PlaybookTarget) -> &'static str {
    use vigil_detect::automation::PlaybookTarget::*;
    match target {
        Webhook { .. } => "webhook",
        Teams { .. } => "teams",
        Slack { .. } => "slack",
        Email { .. } => "email",
    }
}

fn parse_condition(text: &str) -> Result<Condition, Failure> {
    let invalid = || Failure::Usage(format!("--condition '{text}' is not \"PROPERTY OPERATOR VALUE[|VALUE...]\""));
    let mut parts = text.splitn(3, ' ');
    let (Some(property), Some(operator), Some(values)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let operator: Operator = serde_json::from_value(json!(operator)).map_err(|_| {
        Failure::Usage(format!(
            "--condition '{text}': operator '{operator}' is not one of Equals, NotEquals, Contains, NotContains, \
             StartsWith, NotStartsWith, EndsWith, NotEndsWith"
        ))
    })?;
    Ok(Condition {
        property: property.to_string(),
        operator,
        values: values.split('|').map(|v| v.trim().to_string()).collect(),
    })
}

pub async fn suppression(command: SuppressionCommand) -> Result<(), Failure> {
    match command {
        SuppressionCommand::Add { data, workspace: name, name: rule_name, reason, by, duration, conditions } => {
            let conditions = conditions.iter().map(|c| parse_condition(c)).collect::<Result<Vec<_>, _>>()?;
            let new = NewSuppression { name: rule_name, reason, duration, conditions };
            new.check().map_err(Failure::Usage)?;
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let rule = opened.detection.add_suppression(&workspace.id, &new, &by).await.map_err(failed)?;
            print(&serde_json::to_value(rule).unwrap_or_default());
        }
        SuppressionCommand::List { data, workspace: name } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let rules = opened.detection.suppressions(&workspace.id).await.map_err(failed)?;
            print(&serde_json::to_value(rules).unwrap_or_default());
        }
    }
    Ok(())
}

/// A pack's `pack.json`.
fn manifest(pack: &Dir<'_>) -> Result<Json, Failure> {
    let file = pack
        .get_file(pack.path().join("pack.json"))
        .ok_or_else(|| failed(format!("content pack {} has no pack.json", pack.path().display())))?;
    serde_json::from_slice(file.contents()).map_err(|e| failed(format!("{}: {e}", file.path().display())))
}

/// The files of one folder of a pack, sorted by name: `(file name, text)`.
fn pack_files(pack: &Dir<'_>, folder: &str, extensions: &[&str]) -> Result<Vec<(String, String)>, Failure> {
    let Some(dir) = pack.get_dir(pack.path().join(folder)) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<(String, String)> = dir
        .files()
        .filter(|f| f.path().extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.contains(&e)))
        .map(|f| {
            let text = f.contents_utf8().ok_or_else(|| failed(format!("{} is not UTF-8", f.path().display())))?;
            Ok((f.path().display().to_string(), text.to_string()))
        })
        .collect::<Result<_, Failure>>()?;
    files.sort();
    Ok(files)
}

pub async fn content(command: ContentCommand) -> Result<(), Failure> {
    match command {
        ContentCommand::List => {
            let mut packs = Vec::new();
            for pack in CONTENT.dirs() {
                let manifest = manifest(pack)?;
                packs.push(json!({
                    "name": manifest["name"],
                    "title": manifest["title"],
                    "version": manifest["version"],
                    "description": manifest["description"],
                    "tables": pack_files(pack, "tables", &["json"])?.len(),
                    "dcrs": pack_files(pack, "dcrs", &["json"])?.len(),
                    "rules": pack_files(pack, "rules", &["yaml", "yml"])?.len(),
                    "workbooks": pack_files(pack, "workbooks", &["json"])?.len(),
                }));
            }
            print(&Json::Array(packs));
        }
        ContentCommand::Install { data, workspace: name, url, name: pack_name } => {
            let pack = CONTENT
                .dirs()
                .find(|d| d.path().file_name().is_some_and(|n| n == pack_name.as_str()))
                .ok_or_else(|| {
                    let names: Vec<String> = CONTENT.dirs().map(|d| d.path().display().to_string()).collect();
                    Failure::Usage(format!("no content pack '{pack_name}'; this build has {}", names.join(", ")))
                })?;
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let origin = url
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| crate::admin::origin_of(&opened.config));
            let tables = pack_files(pack, "tables", &["json"])?;
            let dcrs = pack_files(pack, "dcrs", &["json"])?;
            let rules = pack_files(pack, "rules", &["yaml", "yml"])?;
            let workbooks = pack_files(pack, "workbooks", &["json"])?;
            // Everything is checked before anything is written where the order allows: tables
            // first (DCRs and rules bind against them).
            let mut table_names = Vec::new();
            for (path, text) in &tables {
                let table =
                    opened.control.put_table(&workspace.id, text).await.map_err(|e| failed(format!("{path}: {e}")))?;
                table_names.push(table.schema.name);
            }
            let catalog = table_catalog(&opened.control, &workspace).await?;
            let checked = checked_rules(&rules, &catalog)?;
            let mut dcr_summaries = Vec::new();
            for (path, text) in &dcrs {
                let dcr =
                    opened.control.put_dcr(&workspace.id, text).await.map_err(|e| failed(format!("{path}: {e}")))?;
                for stream in dcr.definition.streams.keys() {
                    dcr_summaries.push(json!({
                        "name": dcr.definition.name,
                        "immutableId": dcr.immutable_id,
                        "stream": stream,
                        "ingestionUrl": format!("{origin}/dataCollectionRules/{}/streams/{stream}?api-version=2023-01-01", dcr.immutable_id),
                    }));
                }
            }
            let mut rule_summaries = Vec::new();
            for (rule, (_, text)) in checked.iter().zip(&rules) {
                opened
                    .detection
                    .put_rule(&workspace.tenant_id, &workspace.id, rule, text, None)
                    .await
                    .map_err(failed)?;
                rule_summaries.push(json!({"id": rule.id, "name": rule.name, "kind": rule.kind.as_str()}));
            }
            let mut workbook_names = Vec::new();
            for (path, text) in &workbooks {
                let content: Json = serde_json::from_str(text).map_err(|e| failed(format!("{path}: {e}")))?;
                let name = Path::new(path).file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
                opened.detection.put_workbook(&workspace.id, &name, &content).await.map_err(failed)?;
                workbook_names.push(name);
            }
            print(&json!({
                "pack": pack_name,
                "workspace_id": workspace.id,
                "tables": table_names,
                "dcrs": dcr_summaries,
                "rules": rule_summaries,
                "workbooks": workbook_names,
            }));
        }
    }
    Ok(())
}
