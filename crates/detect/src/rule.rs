//! Analytics rules as code: Sentinel's analytics-rule YAML, parsed and validated into a `Rule`.
//!
//! Validation reports every problem at once, each with the field it concerns: a detection
//! engineer fixing a rule wants the whole list, not one error per attempt.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::duration::{format_duration, parse_rule_duration};
use crate::entities::identifiers_of;

const MINUTE: i64 = 60_000_000_000;

pub const SEVERITIES: &[&str] = &["Informational", "Low", "Medium", "High"];

/// MITRE ATT&CK tactics as Sentinel names them.
pub const TACTICS: &[&str] = &[
    "Reconnaissance",
    "ResourceDevelopment",
    "InitialAccess",
    "Execution",
    "Persistence",
    "PrivilegeEscalation",
    "DefenseEvasion",
    "CredentialAccess",
    "Discovery",
    "LateralMovement",
    "Collection",
    "CommandAndControl",
    "Exfiltration",
    "Impact",
    "ImpairProcessControl",
    "InhibitResponseFunction",
    "PreAttack",
];

/// The YAML document as Sentinel's rule repositories write it, with every field of the
/// repository's rule schema. Fields the schema does not have are ignored, so that rules written
/// for later versions still import.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuleDocument {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub severity: Option<String>,
    pub kind: Option<String>,
    pub query: Option<String>,
    pub query_frequency: Option<String>,
    pub query_period: Option<String>,
    pub trigger_operator: Option<String>,
    pub trigger_threshold: Option<i64>,
    pub tactics: Option<Vec<String>>,
    pub relevant_techniques: Option<Vec<String>>,
    pub entity_mappings: Option<Vec<EntityMapping>>,
    pub event_grouping_settings: Option<EventGroupingSettings>,
    pub alert_details_override: Option<AlertDetailsOverride>,
    pub custom_details: Option<BTreeMap<String, String>>,
    pub incident_configuration: Option<IncidentConfiguration>,
    pub suppression_enabled: Option<bool>,
    pub suppression_duration: Option<String>,
    pub required_data_connectors: Option<Vec<RequiredDataConnector>>,
    pub version: Option<serde_yaml_ng::Value>,
    /// `Available`, `Deprecated`...: kept and shown, not acted on.
    pub status: Option<String>,
    pub tags: Option<serde_json::Value>,
    pub metadata: Option<serde_json::Value>,
    /// The ARM form's names for MITRE techniques, merged with `relevantTechniques`.
    pub techniques: Option<Vec<String>>,
    pub sub_techniques: Option<Vec<String>>,
    /// Columns holding entities as JSON (`SecurityAlert.Entities`), added to the alert's.
    pub sentinel_entities_mappings: Option<Vec<SentinelEntitiesMapping>>,
}

/// A data connector a rule needs, and the tables (data types) it writes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RequiredDataConnector {
    pub connector_id: String,
    pub data_types: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SentinelEntitiesMapping {
    pub column_name: String,
}

/// An alert property whose value a result column gives (`ProductName`, `RemediationSteps`...).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AlertDynamicProperty {
    pub alert_property: String,
    pub value: String,
}

/// The alert properties `alertDynamicProperties` may set, as Sentinel names them.
pub const ALERT_DYNAMIC_PROPERTIES: &[&str] = &[
    "AlertLink",
    "ConfidenceLevel",
    "ConfidenceScore",
    "ExtendedLinks",
    "ProductComponentName",
    "ProductName",
    "ProviderName",
    "RemediationSteps",
    "Techniques",
    "SubTechniques",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EntityMapping {
    pub entity_type: String,
    pub field_mappings: Vec<FieldMapping>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct FieldMapping {
    pub identifier: String,
    pub column_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EventGroupingSettings {
    pub aggregation_kind: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AlertDetailsOverride {
    pub alert_display_name_format: Option<String>,
    pub alert_description_format: Option<String>,
    pub alert_severity_column_name: Option<String>,
    pub alert_tactics_column_name: Option<String>,
    pub alert_dynamic_properties: Option<Vec<AlertDynamicProperty>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IncidentConfiguration {
    pub create_incident: Option<bool>,
    pub grouping_configuration: Option<GroupingConfiguration>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupingConfiguration {
    pub enabled: Option<bool>,
    pub reopen_closed_incident: Option<bool>,
    pub lookback_duration: Option<String>,
    pub matching_method: Option<String>,
    pub group_by_entities: Option<Vec<String>>,
    pub group_by_alert_details: Option<Vec<String>>,
    pub group_by_custom_details: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleKind {
    Scheduled,
    #[serde(rename = "NRT")]
    Nrt,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Scheduled => "Scheduled",
            RuleKind::Nrt => "NRT",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TriggerOperator {
    GreaterThan,
    LessThan,
    Equal,
    NotEqual,
}

impl TriggerOperator {
    pub fn holds(self, count: i64, threshold: i64) -> bool {
        match self {
            TriggerOperator::GreaterThan => count > threshold,
            TriggerOperator::LessThan => count < threshold,
            TriggerOperator::Equal => count == threshold,
            TriggerOperator::NotEqual => count != threshold,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchingMethod {
    AllEntities,
    AnyAlert,
    Selected,
}

/// How a rule's alerts become incidents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSettings {
    pub create_incident: bool,
    pub grouping: Option<Grouping>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grouping {
    pub reopen_closed_incident: bool,
    pub lookback: i64,
    pub matching_method: MatchingMethod,
    pub group_by_entities: Vec<String>,
    pub group_by_alert_details: Vec<String>,
    pub group_by_custom_details: Vec<String>,
}

/// A validated rule: what the scheduler runs and alerts are built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub description: String,
    pub severity: String,
    pub kind: RuleKind,
    pub query: String,
    /// Nanoseconds; NRT rules run on every commit instead.
    pub query_frequency: i64,
    pub query_period: i64,
    pub trigger_operator: TriggerOperator,
    pub trigger_threshold: i64,
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    pub entity_mappings: Vec<EntityMapping>,
    pub alert_per_result: bool,
    pub alert_details_override: AlertDetailsOverride,
    pub custom_details: BTreeMap<String, String>,
    pub incident: IncidentSettings,
    /// After an alert, the rule stops running for this long (nanoseconds), when set.
    pub suppression: Option<i64>,
    pub version: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub required_data_connectors: Vec<RequiredDataConnector>,
    #[serde(default)]
    pub tags: serde_json::Value,
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// Columns whose JSON entities the alert takes as they are.
    #[serde(default)]
    pub sentinel_entities_columns: Vec<String>,
}

/// One problem with a rule: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleProblem {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file or rule the problems are about.
    pub source: String,
    pub problems: Vec<RuleProblem>,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} problem(s)", self.source, self.problems.len())?;
        for problem in &self.problems {
            write!(f, "\n  {}: {}", problem.field, problem.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleError {}

#[derive(Default)]
struct Problems(Vec<RuleProblem>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(RuleProblem { field: field.into(), message: message.into() });
    }

    fn duration(&mut self, field: &str, text: Option<&str>, default: Option<i64>) -> i64 {
        match (text, default) {
            (Some(text), _) => parse_rule_duration(text.trim()).unwrap_or_else(|e| {
                self.add(field, e);
                0
            }),
            (None, Some(default)) => default,
            (None, None) => {
                self.add(field, "is required for Scheduled rules");
                0
            }
        }
    }
}

/// Parses one rule's YAML (or JSON, which is YAML) and validates it. Query binding against a
/// workspace's tables is the caller's part: see `Detection::validate_query`.
pub fn parse_rule(source: &str, text: &str) -> Result<Rule, RuleError> {
    let failed = |field: &str, message: String| RuleError {
        source: source.to_string(),
        problems: vec![RuleProblem { field: field.to_string(), message }],
    };
    let document: RuleDocument = serde_yaml_ng::from_str(text).map_err(|e| {
        let location = e.location().map(|l| format!(" at line {} column {}", l.line(), l.column())).unwrap_or_default();
        failed("(document)", format!("not a valid rule document{location}: {e}"))
    })?;
    validate(source, document)
}

/// Checks every field of a parsed document.
pub fn validate(source: &str, document: RuleDocument) -> Result<Rule, RuleError> {
    let mut problems = Problems::default();
    let required = |problems: &mut Problems, field: &str, value: &Option<String>| -> String {
        match value.as_deref().map(str::trim) {
            Some(value) if !value.is_empty() => value.to_string(),
            _ => {
                problems.add(field, "is required");
                String::new()
            }
        }
    };
    let id = required(&mut problems, "id", &document.id);
    let name = required(&mut problems, "name", &document.name);
    let query = required(&mut problems, "query", &document.query);
    let severity = match document.severity.as_deref().map(str::trim) {
        Some(s) => match SEVERITIES.iter().find(|known| known.eq_ignore_ascii_case(s)) {
            Some(known) => known.to_string(),
            None => {
                problems.add("severity", format!("'{s}' is not one of {}", SEVERITIES.join(", ")));
                String::new()
            }
        },
        None => {
            problems.add("severity", format!("is required: one of {}", SEVERITIES.join(", ")));
            String::new()
        }
    };
    let kind = match document.kind.as_deref().map(str::trim) {
        None => RuleKind::Scheduled,
        Some(k) if k.eq_ignore_ascii_case("Scheduled") => RuleKind::Scheduled,
        Some(k) if k.eq_ignore_ascii_case("NRT") => RuleKind::Nrt,
        Some(other) => {
            problems.add("kind", format!("'{other}' is not supported: use Scheduled or NRT"));
            RuleKind::Scheduled
        }
    };
    let (query_frequency, query_period) = match kind {
        RuleKind::Nrt => (0, 0),
        RuleKind::Scheduled => {
            let frequency = problems.duration("queryFrequency", document.query_frequency.as_deref(), None);
            let period = problems.duration("queryPeriod", document.query_period.as_deref(), None);
            if frequency > 0 && frequency < MINUTE {
                problems.add("queryFrequency", format!("{} is shorter than a minute", format_duration(frequency)));
            }
            if frequency > 0 && period > 0 && period < frequency {
                problems.add(
                    "queryPeriod",
                    format!(
                        "{} is shorter than queryFrequency {}: rows between two runs would never be read",
                        format_duration(period),
                        format_duration(frequency)
                    ),
                );
            }
            (frequency, period)
        }
    };
    let trigger_operator = match document.trigger_operator.as_deref().map(str::trim) {
        None => TriggerOperator::GreaterThan,
        Some(op) => match op.to_ascii_lowercase().as_str() {
            "gt" | "greaterthan" => TriggerOperator::GreaterThan,
            "lt" | "lessthan" => TriggerOperator::LessThan,
            "eq" | "equal" => TriggerOperator::Equal,
            "ne" | "notequal" => TriggerOperator::NotEqual,
            _ => {
                problems.add("triggerOperator", format!("'{op}' is not one of gt, lt, eq, ne"));
                TriggerOperator::GreaterThan
            }
        },
    };
    let trigger_threshold = document.trigger_threshold.unwrap_or(0);
    if trigger_threshold < 0 {
        problems.add("triggerThreshold", format!("{trigger_threshold} is negative"));
    }
    let mut tactics: Vec<String> = Vec::new();
    for (index, tactic) in document.tactics.unwrap_or_default().iter().enumerate() {
        match canonical_tactic(tactic) {
            Some(known) if !tactics.iter().any(|t| t == known) => tactics.push(known.to_string()),
            Some(_) => {}
            None => problems
                .add(format!("tactics[{index}]"), format!("'{tactic}' is not a MITRE ATT&CK tactic Sentinel knows")),
        }
    }
    let mut techniques: Vec<String> = Vec::new();
    for (field, list) in [
        ("relevantTechniques", document.relevant_techniques),
        ("techniques", document.techniques),
        ("subTechniques", document.sub_techniques),
    ] {
        for (index, technique) in list.unwrap_or_default().into_iter().enumerate() {
            let technique = technique.trim().to_string();
            if !is_technique(&technique) {
                problems.add(
                    format!("{field}[{index}]"),
                    format!("'{technique}' is not a technique id like T1556 or T1556.001"),
                );
            } else if !techniques.contains(&technique) {
                techniques.push(technique);
            }
        }
    }
    let entity_mappings = document.entity_mappings.unwrap_or_default();
    if entity_mappings.len() > 10 {
        problems.add("entityMappings", format!("{} mappings; at most 10 are allowed", entity_mappings.len()));
    }
    let mut normalized_mappings = Vec::with_capacity(entity_mappings.len());
    for (index, mapping) in entity_mappings.into_iter().enumerate() {
        let field = format!("entityMappings[{index}]");
        let Some((entity_type, identifiers)) = identifiers_of(&mapping.entity_type) else {
            problems.add(format!("{field}.entityType"), format!("'{}' is not an entity type", mapping.entity_type));
            continue;
        };
        if mapping.field_mappings.is_empty() {
            problems.add(format!("{field}.fieldMappings"), "needs at least one identifier");
        }
        let mut fields = Vec::new();
        for (position, field_mapping) in mapping.field_mappings.into_iter().enumerate() {
            let here = format!("{field}.fieldMappings[{position}]");
            match identifiers.iter().find(|known| known.eq_ignore_ascii_case(&field_mapping.identifier)) {
                Some(known) => fields.push(FieldMapping { identifier: known.to_string(), ..field_mapping }),
                None => problems.add(
                    format!("{here}.identifier"),
                    format!(
                        "'{}' is not an identifier of {entity_type}; it has {}",
                        field_mapping.identifier,
                        identifiers.join(", ")
                    ),
                ),
            }
            if fields.last().is_some_and(|f| f.column_name.trim().is_empty()) {
                problems.add(format!("{here}.columnName"), "is required");
            }
        }
        normalized_mappings.push(EntityMapping { entity_type: entity_type.to_string(), field_mappings: fields });
    }
    let alert_per_result = match document.event_grouping_settings.and_then(|g| g.aggregation_kind) {
        None => false,
        Some(kind) if kind.eq_ignore_ascii_case("SingleAlert") => false,
        Some(kind) if kind.eq_ignore_ascii_case("AlertPerResult") => true,
        Some(other) => {
            problems.add(
                "eventGroupingSettings.aggregationKind",
                format!("'{other}' is not SingleAlert or AlertPerResult"),
            );
            false
        }
    };
    let alert_details_override = document.alert_details_override.unwrap_or_default();
    for (index, property) in alert_details_override.alert_dynamic_properties.iter().flatten().enumerate() {
        let field = format!("alertDetailsOverride.alertDynamicProperties[{index}]");
        if !ALERT_DYNAMIC_PROPERTIES.iter().any(|p| p.eq_ignore_ascii_case(&property.alert_property)) {
            problems.add(
                format!("{field}.alertProperty"),
                format!("'{}' is not one of {}", property.alert_property, ALERT_DYNAMIC_PROPERTIES.join(", ")),
            );
        }
        if property.value.trim().is_empty() {
            problems.add(format!("{field}.value"), "is required: the column that gives the property");
        }
    }
    let sentinel_entities_columns: Vec<String> =
        document.sentinel_entities_mappings.unwrap_or_default().into_iter().map(|m| m.column_name).collect();
    for (index, column) in sentinel_entities_columns.iter().enumerate() {
        if column.trim().is_empty() {
            problems.add(format!("sentinelEntitiesMappings[{index}].columnName"), "is required");
        }
    }
    let custom_details = document.custom_details.unwrap_or_default();
    if custom_details.len() > 20 {
        problems.add("customDetails", format!("{} details; at most 20 are allowed", custom_details.len()));
    }
    let incident = incident_settings(&mut problems, document.incident_configuration);
    let suppression = if document.suppression_enabled.unwrap_or(false) {
        Some(problems.duration("suppressionDuration", document.suppression_duration.as_deref(), None))
    } else {
        if let Some(text) = document.suppression_duration.as_deref() {
            // Validated even when disabled: a typo should not wait for the day it is enabled.
            problems.duration("suppressionDuration", Some(text), None);
        }
        None
    };
    let version = match document.version {
        Some(serde_yaml_ng::Value::String(v)) => v,
        Some(serde_yaml_ng::Value::Number(v)) => v.to_string(),
        _ => "1.0.0".to_string(),
    };
    if !problems.0.is_empty() {
        return Err(RuleError { source: source.to_string(), problems: problems.0 });
    }
    Ok(Rule {
        id,
        name,
        description: document.description.unwrap_or_default().trim().trim_matches('\'').to_string(),
        severity,
        kind,
        query,
        query_frequency,
        query_period,
        trigger_operator,
        trigger_threshold,
        tactics,
        techniques,
        entity_mappings: normalized_mappings,
        alert_per_result,
        alert_details_override,
        custom_details,
        incident,
        suppression,
        version,
        status: document.status.unwrap_or_default(),
        required_data_connectors: document.required_data_connectors.unwrap_or_default(),
        tags: document.tags.unwrap_or_default(),
        metadata: document.metadata.unwrap_or_default(),
        sentinel_entities_columns,
    })
}

fn incident_settings(problems: &mut Problems, configuration: Option<IncidentConfiguration>) -> IncidentSettings {
    let configuration = configuration.unwrap_or_default();
    let create_incident = configuration.create_incident.unwrap_or(true);
    let grouping = configuration.grouping_configuration.unwrap_or_default();
    let field = "incidentConfiguration.groupingConfiguration";
    let lookback = problems.duration(
        &format!("{field}.lookbackDuration"),
        grouping.lookback_duration.as_deref(),
        Some(5 * 60 * MINUTE),
    );
    let matching_method = match grouping.matching_method.as_deref() {
        None => MatchingMethod::AllEntities,
        Some(m) if m.eq_ignore_ascii_case("AllEntities") => MatchingMethod::AllEntities,
        Some(m) if m.eq_ignore_ascii_case("AnyAlert") => MatchingMethod::AnyAlert,
        Some(m) if m.eq_ignore_ascii_case("Selected") => MatchingMethod::Selected,
        Some(other) => {
            problems
                .add(format!("{field}.matchingMethod"), format!("'{other}' is not AllEntities, AnyAlert or Selected"));
            MatchingMethod::AllEntities
        }
    };
    let mut group_by_entities = Vec::new();
    for (index, entity_type) in grouping.group_by_entities.unwrap_or_default().iter().enumerate() {
        match identifiers_of(entity_type) {
            Some((known, _)) => group_by_entities.push(known.to_string()),
            None => problems
                .add(format!("{field}.groupByEntities[{index}]"), format!("'{entity_type}' is not an entity type")),
        }
    }
    let group_by_alert_details = grouping.group_by_alert_details.unwrap_or_default();
    for (index, detail) in group_by_alert_details.iter().enumerate() {
        if !["DisplayName", "Severity"].contains(&detail.as_str()) {
            problems.add(
                format!("{field}.groupByAlertDetails[{index}]"),
                format!("'{detail}' is not DisplayName or Severity"),
            );
        }
    }
    let group_by_custom_details = grouping.group_by_custom_details.unwrap_or_default();
    let selects_nothing =
        group_by_entities.is_empty() && group_by_alert_details.is_empty() && group_by_custom_details.is_empty();
    if grouping.enabled == Some(true) && matching_method == MatchingMethod::Selected && selects_nothing {
        problems.add(
            format!("{field}.matchingMethod"),
            "Selected needs groupByEntities, groupByAlertDetails or groupByCustomDetails",
        );
    }
    let grouping = (grouping.enabled == Some(true)).then(|| Grouping {
        reopen_closed_incident: grouping.reopen_closed_incident.unwrap_or(false),
        lookback,
        matching_method,
        group_by_entities,
        group_by_alert_details,
        group_by_custom_details,
    });
    IncidentSettings { create_incident, grouping }
}

/// A tactic as Sentinel names it, from a name written with other case or spaces
/// (`Lateral Movement`, `CommandandControl`), as Sentinel's own content writes some.
pub fn canonical_tactic(text: &str) -> Option<&'static str> {
    let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    TACTICS.iter().copied().find(|known| known.eq_ignore_ascii_case(&squeezed))
}

fn is_technique(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = match digits.split_once('.') {
        Some((main, sub)) => (main, Some(sub)),
        None => (digits, None),
    };
    let all_digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(main, 4) && sub.is_none_or(|sub| all_digits(sub, 3))
}

impl Rule {
    /// The columns a rule reads from its query's results: entity mappings, templates, custom
    /// details and the override columns. Each must be a column of the results.
    pub fn referenced_columns(&self) -> Vec<(String, String)> {
        let mut columns = Vec::new();
        for (index, mapping) in self.entity_mappings.iter().enumerate() {
            for (position, field) in mapping.field_mappings.iter().enumerate() {
                columns.push((
                    format!("entityMappings[{index}].fieldMappings[{position}].columnName"),
                    field.column_name.clone(),
                ));
            }
        }
        let details = &self.alert_details_override;
        for (field, template) in [
            ("alertDetailsOverride.alertDisplayNameFormat", &details.alert_display_name_format),
            ("alertDetailsOverride.alertDescriptionFormat", &details.alert_description_format),
        ] {
            for column in template.as_deref().map(template_columns).unwrap_or_default() {
                columns.push((field.to_string(), column));
            }
        }
        for (field, column) in [
            ("alertDetailsOverride.alertSeverityColumnName", &details.alert_severity_column_name),
            ("alertDetailsOverride.alertTacticsColumnName", &details.alert_tactics_column_name),
        ] {
            if let Some(column) = column {
                columns.push((field.to_string(), column.clone()));
            }
        }
        for (index, property) in details.alert_dynamic_properties.iter().flatten().enumerate() {
            columns
                .push((format!("alertDetailsOverride.alertDynamicProperties[{index}].value"), property.value.clone()));
        }
        for (key, column) in &self.custom_details {
            columns.push((format!("customDetails.{key}"), column.clone()));
        }
        for (index, column) in self.sentinel_entities_columns.iter().enumerate() {
            columns.push((format!("sentinelEntitiesMappings[{index}].columnName"), column.clone()));
        }
        columns
    }
}

/// The column names in a `{{Column}}` template.
pub fn template_columns(template: &str) -> Vec<String> {
    let mut columns = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start + 2..].find("}}") else { break };
        columns.push(rest[start + 2..start + 2 + end].trim().to_string());
        rest = &rest[start + 2 + end + 2..];
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEPER_TWO_FACTOR: &str =
        include_str!("../../../content/keeper-security/Analytic Rules/KeeperTwoFactorChanged.yaml");

    fn problems(text: &str) -> Vec<(String, String)> {
        match parse_rule("test.yaml", text) {
            Ok(rule) => panic!("accepted: {rule:?}"),
            Err(e) => e.problems.into_iter().map(|p| (p.field, p.message)).collect(),
        }
    }

    #[test]
    fn the_keeper_rule_parses_with_its_settings() {
        let rule = parse_rule("keeper", KEEPER_TWO_FACTOR).expect("valid");
        assert_eq!(rule.kind, RuleKind::Nrt);
        assert_eq!(rule.severity, "Informational");
        assert_eq!(rule.techniques, vec!["T1556"]);
        assert!(rule.alert_per_result);
        assert_eq!(rule.entity_mappings[0].entity_type, "Account");
        assert!(rule.incident.create_incident && rule.incident.grouping.is_none());
        assert_eq!(rule.suppression, None);
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let found = problems(
            "id: x\nname: n\nseverity: Severe\nkind: Scheduled\nquery: T\nqueryFrequency: 5 minutes\nqueryPeriod: PT1M\n\
             tactics: [Persistance]\nrelevantTechniques: [T15]\nentityMappings:\n- entityType: Account\n  fieldMappings:\n  \
             - identifier: Username\n    columnName: User\n- entityType: Printer\n  fieldMappings: []\n",
        );
        let fields: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "severity",
                "queryFrequency",
                "tactics[0]",
                "relevantTechniques[0]",
                "entityMappings[0].fieldMappings[0].identifier",
                "entityMappings[1].entityType"
            ]
        );
        assert!(found[1].1.contains("'5 minutes' is not a duration such as 5m"), "{}", found[1].1);
        assert!(found[4].1.contains("'Username' is not an identifier of Account") && found[4].1.contains("FullName"));
    }

    #[test]
    fn the_repository_schema_is_read_with_its_meaning() {
        let rule = parse_rule(
            "repo.yaml",
            "id: x\nname: n\nseverity: medium\nkind: scheduled\nstatus: Available\nquery: T\nqueryFrequency: 5m\n\
             queryPeriod: 14d\ntriggerOperator: gt\ntriggerThreshold: 0\nrequiredDataConnectors:\n- connectorId: Okta\n  \
             dataTypes: [Okta_CL]\ntags: [Okta, {Schema: ASimDns}]\nmetadata: {source: {kind: Community}}\n\
             relevantTechniques: [T1078]\ntechniques: [T1078, T1110]\nsubTechniques: [T1110.003]\n\
             alertDetailsOverride:\n  alertDynamicProperties:\n  - alertProperty: ProductName\n    value: Product\n\
             sentinelEntitiesMappings:\n- columnName: Entities\nentityMappings:\n- entityType: Account\n  \
             fieldMappings:\n  - identifier: CloudAppAccountId\n    columnName: Id\nversion: 1.0.2\n",
        )
        .expect("valid");
        assert_eq!(
            (rule.kind, rule.severity.as_str(), rule.status.as_str()),
            (RuleKind::Scheduled, "Medium", "Available")
        );
        assert_eq!((rule.query_frequency, rule.query_period), (5 * MINUTE, 14 * 24 * 60 * MINUTE));
        assert_eq!(rule.techniques, ["T1078", "T1110", "T1110.003"]);
        assert_eq!(rule.required_data_connectors[0].data_types, ["Okta_CL"]);
        assert_eq!(rule.sentinel_entities_columns, ["Entities"]);
        let columns: Vec<String> = rule.referenced_columns().into_iter().map(|(_, c)| c).collect();
        assert_eq!(columns, ["Id", "Product", "Entities"]);
        assert_eq!(rule.version, "1.0.2");
    }

    #[test]
    fn a_period_shorter_than_the_frequency_is_refused() {
        let found = problems("id: x\nname: n\nseverity: Low\nquery: T\nqueryFrequency: PT1H\nqueryPeriod: PT5M\n");
        assert_eq!(found[0].0, "queryPeriod");
        assert!(found[0].1.contains("never be read"));
    }

    /// Mutated rule documents (bytes dropped, duplicated, replaced with YAML's special
    /// characters) get a result, never a panic.
    #[test]
    fn mutated_documents_never_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let specials = b":-[]{}|>'\"#&*!%@`,?\n\t ";
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let mut bytes = KEEPER_TWO_FACTOR.as_bytes().to_vec();
            for _ in 0..1 + next() % 8 {
                let at = (next() as usize) % bytes.len().max(1);
                match next() % 3 {
                    0 => {
                        bytes.remove(at.min(bytes.len() - 1));
                    }
                    1 => bytes.insert(at, specials[(next() as usize) % specials.len()]),
                    _ => bytes[at] = specials[(next() as usize) % specials.len()],
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            match parse_rule("fuzz", &text) {
                Ok(_) => accepted += 1,
                Err(error) => {
                    assert!(!error.problems.is_empty());
                    refused += 1;
                }
            }
        }
        assert!(accepted > 0 && refused > 0, "accepted {accepted}, refused {refused}");
    }

    #[test]
    fn templates_name_their_columns() {
        assert_eq!(template_columns("{{AuditEvent}} on {{ RemoteAddress }}"), vec!["AuditEvent", "RemoteAddress"]);
        assert!(template_columns("no columns {{").is_empty());
    }
}
