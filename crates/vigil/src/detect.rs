//! `vigil rule`, `vigil automation`, `vigil suppression` and `vigil content`: detection as
//! code, written to the data dir's databases (safe beside a running server, which picks the
//! changes up within a second) and printed as JSON.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use serde_json::{Value as Json, json};
use vigil_catalog::WorkspaceCatalog;
use vigil_control::{Control, Workspace};
use vigil_detect::Detection;
use vigil_detect::automation::parse_automation;
use vigil_detect::conditions::{Condition, Operator};
use vigil_detect::suppression::NewSuppression;
use vigil_kql::Engine;
use vigil_server::config::ServerConfig;

use crate::Failure;
use crate::admin::DataDirArgs;
use crate::output;

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

pub(crate) fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::Query(e.to_string())
}

pub(crate) struct Opened {
    pub config: ServerConfig,
    pub control: Control,
    pub detection: Arc<Detection>,
}

pub(crate) async fn open(data: &DataDirArgs) -> Result<Opened, Failure> {
    let (config, control) = crate::admin::open(data).await?;
    let seal = config.seal_key().map_err(Failure::Usage)?;
    let detection = Detection::open(&config.data_dir.join("detection.db"), seal).await.map_err(failed)?;
    Ok(Opened { config, control, detection })
}

pub(crate) async fn workspace(control: &Control, name: &str) -> Result<Workspace, Failure> {
    control.workspace(None, name).await.map_err(|e| Failure::Usage(e.to_string()))
}

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
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
            // Every file is read as a rule, whatever folder it is in.
            let sources = files
                .iter()
                .map(|f| {
                    let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                    Ok(vigil_content::SourceFile { path: format!("Analytic Rules/{name}"), text: read(f)? })
                })
                .collect::<Result<Vec<_>, Failure>>()?;
            let origin = opened.config.origin();
            let target = vigil_content::Target {
                control: &opened.control,
                detection: &opened.detection,
                workspace: &workspace,
                origin: &origin,
                actor: "vigil rule import",
                rules_enabled: Some(!disabled),
            };
            let report = vigil_content::import(&sources, &target, true).await.map_err(failed)?;
            let mut saved = Vec::new();
            for line in report.lines.iter().filter(|l| l.kind == "rule" && l.status == vigil_content::Status::Installed)
            {
                let id = line.detail.rsplit(' ').next().unwrap_or_default();
                if let Some(record) = opened.detection.rule(&workspace.id, id).await.map_err(failed)? {
                    saved.push(rule_summary(&record));
                }
            }
            output::json(&Json::Array(saved))?;
        }
        RuleCommand::List { data, workspace: name } => {
            let opened = open(&data).await?;
            let workspace_id = match name {
                Some(name) => Some(workspace(&opened.control, &name).await?.id),
                None => None,
            };
            let rules = opened.detection.rules(workspace_id.as_deref()).await.map_err(failed)?;
            output::json(&Json::Array(rules.iter().map(rule_summary).collect()))?;
        }
        RuleCommand::Enable { data, workspace: name, id } => set_enabled(data, name, id, true).await?,
        RuleCommand::Disable { data, workspace: name, id } => set_enabled(data, name, id, false).await?,
        RuleCommand::Export { data, workspace: name, id } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let record = opened.detection.rule(&workspace.id, &id).await.map_err(failed)?;
            let record = record.ok_or_else(|| Failure::Usage(format!("no rule '{id}' in workspace '{name}'")))?;
            output::text(&record.source)?;
        }
        RuleCommand::Test { data, workspace: name, from, to, file } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let definitions = Arc::new(opened.control.definitions(&workspace.id).await.map_err(failed)?);
            let shown = file.display().to_string();
            let rule = vigil_detect::parse_rule(&shown, &read(&file)?).map_err(failed)?;
            let defined = WorkspaceCatalog::new(Arc::new(vigil_catalog::MemoryCatalog::new()), definitions.clone());
            vigil_detect::validate_query(&Engine::new(), &rule, &defined, &shown).map_err(failed)?;
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
            let stored = Arc::new(WorkspaceCatalog::new(store.catalog(&workspace.id), definitions));
            let catalog = vigil_catalog::time_range_catalog(stored, from, to);
            let outcome = vigil_detect::scheduler::test_rule(&engine, &rule, catalog, to).await;
            let closed = store.close().await;
            let (rows, drafts) = outcome.map_err(Failure::Query)?;
            closed.map_err(failed)?;
            output::json(&json!({
                "rule": rule.name,
                "resultCount": rows,
                "alerts": drafts.iter().map(vigil_detect::alert::draft_json).collect::<Vec<_>>(),
            }))?;
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
    output::json(&record.as_ref().map(rule_summary).unwrap_or_default())?;
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
            output::json(&json!({
                "playbooks": document.playbooks.iter().map(|p| &p.name).collect::<Vec<_>>(),
                "automationRules": document.automation_rules.iter().map(|r| &r.name).collect::<Vec<_>>(),
            }))?;
        }
        AutomationCommand::List { data, workspace: name } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let playbooks = opened.detection.playbooks(&workspace.id).await.map_err(failed)?;
            let rules = opened.detection.automation_rules(&workspace.id).await.map_err(failed)?;
            output::json(&json!({
                "playbooks": playbooks.iter().map(|p| json!({"name": p.name, "kind": playbook_kind(&p.target)})).collect::<Vec<_>>(),
                "automationRules": rules,
            }))?;
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
            output::json(&serde_json::to_value(rule).unwrap_or_default())?;
        }
        SuppressionCommand::List { data, workspace: name } => {
            let opened = open(&data).await?;
            let workspace = workspace(&opened.control, &name).await?;
            let rules = opened.detection.suppressions(&workspace.id).await.map_err(failed)?;
            output::json(&serde_json::to_value(rules).unwrap_or_default())?;
        }
    }
    Ok(())
}
