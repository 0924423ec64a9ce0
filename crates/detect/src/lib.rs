//! Vigil's detection and response: analytics rules (Sentinel's YAML) and the scheduler that
//! runs them over windows of ingestion time, alerts with entities and MITRE techniques,
//! incidents grouped from alerts, suppression rules, automation rules and the playbooks they
//! run, and the Defender-shaped JSON of alerts and incidents.
//!
//! Entry points: `rule::parse_rule` (YAML → `Rule`), `Detection` (the database),
//! `Scheduler::run`, `Deliverer::run`, `api` (JSON for the REST API).
//!
//! Architecture invariant: this crate reads the store but never writes it: rows for the
//! `SecurityAlert` and `SecurityIncident` tables go to an outbox the server appends.

pub mod alert;
pub mod api;
pub mod automation;
pub mod conditions;
pub mod delivery;
pub mod duration;
pub mod entities;
pub mod odata;
pub mod rule;
pub mod scheduler;
pub mod state;
pub mod suppression;
pub mod time;

use vigil_kql::{Catalog, Engine};
use vigil_kql_functions::KqlColumn;

pub use delivery::Deliverer;
pub use rule::{Rule, RuleError, RuleKind, RuleProblem, parse_rule};
pub use scheduler::Scheduler;
pub use state::{Detection, DetectionError, RuleRecord, Scope};

/// A rule whose query binds, and what the check noticed without refusing it.
#[derive(Debug, Clone)]
pub struct ValidatedQuery {
    /// The query's result columns.
    pub columns: Vec<KqlColumn>,
    /// Columns the rule maps (entities, templates, custom details) that the results lack:
    /// Sentinel accepts such a rule, and its alerts go without them.
    pub warnings: Vec<RuleProblem>,
}

/// Checks a rule's query against a workspace's tables: it must bind. Columns the rule maps
/// are looked for in its results, by name regardless of case as Sentinel does; missing ones
/// are warnings.
pub fn validate_query(
    engine: &Engine,
    rule: &Rule,
    catalog: &dyn Catalog,
    source: &str,
) -> Result<ValidatedQuery, RuleError> {
    let columns = engine.check(&rule.query, catalog, false).map_err(|e| RuleError {
        source: source.to_string(),
        problems: vec![RuleProblem {
            field: "query".to_string(),
            message: format!("does not bind against the workspace's tables:\n{}", e.render(&rule.query)),
        }],
    })?;
    let warnings: Vec<RuleProblem> = rule
        .referenced_columns()
        .into_iter()
        .filter(|(_, column)| !columns.iter().any(|c| c.name.eq_ignore_ascii_case(column)))
        .map(|(field, column)| RuleProblem {
            field,
            message: format!(
                "column '{column}' is not in the query's results ({})",
                columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        })
        .collect();
    Ok(ValidatedQuery { columns, warnings })
}
