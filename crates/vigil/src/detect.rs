//! `vigil rule`, `vigil automation`, `vigil suppression` and `vigil content`: detection as
//! code, written to the data dir's databases (safe beside a running server, which picks the
//! changes up within a second) and printed as JSON.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use serde_json::{Value as Json, json};
use vigil_control::{Control, Workspace};
use vigil_detect::Detection;
use vigil_detect::automation::parse_automation;
use vigil_detect::conditions::{Condition, Operator};
use vigil_detect::suppression::NewSuppression;
use vigil_kql::Engine;
use vigil_server::config::ServerConfig;

use crate::Failure;
use crate::admin::DataDirArgs;

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

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
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
            let catalog = vigil_content::workspace_catalog(&opened.control, &workspace).await.map_err(failed)?;
            let sources: Vec<(String, String)> =
                files.iter().map(|f| Ok((f.display().to_string(), read(f)?))).collect::<Result<_, Failure>>()?;
            let rules = vigil_content::checked_rules(&sources, &catalog).map_err(failed)?;
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
            let catalog = vigil_content::workspace_catalog(&opened.control, &workspace).await.map_err(failed)?;
            let source = (file.display().to_string(), read(&file)?);
            let rule = vigil_content::checked_rules(std::slice::from_ref(&source), &catalog).map_err(failed)?.remove(0);
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

pub async fn content(command: ContentCommand) -> Result<(), Failure> {
    match command {
        ContentCommand::List => {
            let packs = vigil_content::packs().map(|p| p.summary()).collect::<Result<Vec<_>, _>>().map_err(failed)?;
            print(&Json::Array(packs));
        }
        ContentCommand::Install { data, workspace: name, url, name: pack_name } => {
            let pack = vigil_content::pack(&pack_name).map_err(Failure::Usage)?;
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let origin = url
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| crate::admin::origin_of(&opened.config));
            let installed = vigil_content::install(pack, &opened.control, &opened.detection, &workspace, &origin)
                .await
                .map_err(failed)?;
            print(&installed);
        }
    }
    Ok(())
}
