//! From a rule's query results to alerts: one per result or one per run, with entities,
//! templated names and descriptions, dynamic severity and tactics, custom details and the
//! rows as evidence.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use vigil_kql::result::{cell_json, cell_text};
use vigil_kql_functions::{KqlColumn, Value};

use crate::entities::{Entity, identifiers_of};
use crate::rule::{Rule, SEVERITIES, canonical_tactic};

/// Rows kept as evidence on one alert; the count of all rows is kept beside them.
pub const MAX_EVIDENCE_ROWS: usize = 100;
/// Entities on one alert, as Sentinel caps them.
const MAX_ENTITIES: usize = 500;

/// An alert as a rule run produces it, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDraft {
    pub title: String,
    pub description: String,
    pub severity: String,
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    pub entities: Vec<Entity>,
    pub custom_details: BTreeMap<String, Vec<Json>>,
    /// The result rows as objects, at most `MAX_EVIDENCE_ROWS`.
    pub evidence: Vec<Json>,
    pub result_rows: usize,
    /// Alert properties set from result columns (`alertDynamicProperties`): `ProductName`...
    pub properties: BTreeMap<String, String>,
    /// The earliest and latest `TimeGenerated` of the rows, nanoseconds.
    pub first_event_time: Option<i64>,
    pub last_event_time: Option<i64>,
}

/// The alerts a run's results raise, if the trigger condition holds on their count.
pub fn build_alerts(rule: &Rule, columns: &[KqlColumn], rows: &[Vec<Value>]) -> Vec<AlertDraft> {
    if !rule.trigger_operator.holds(rows.len() as i64, rule.trigger_threshold) {
        return Vec::new();
    }
    // A rule's columns are found regardless of case, as Sentinel finds them.
    let index = |name: &str| {
        columns
            .iter()
            .position(|c| c.name == name)
            .or_else(|| columns.iter().position(|c| c.name.eq_ignore_ascii_case(name)))
    };
    if rule.alert_per_result {
        rows.iter().map(|row| draft(rule, columns, std::slice::from_ref(row), &index)).collect()
    } else {
        vec![draft(rule, columns, rows, &index)]
    }
}

fn draft(rule: &Rule, columns: &[KqlColumn], rows: &[Vec<Value>], index: &dyn Fn(&str) -> Option<usize>) -> AlertDraft {
    let first = rows.first();
    let cell = |row: &Vec<Value>, column: &str| index(column).map(|i| row[i].clone()).unwrap_or(Value::Null);
    let text_of = |column: &str| first.map(|row| cell_text(&cell(row, column))).unwrap_or_default();
    let overrides = &rule.alert_details_override;
    let title = overrides
        .alert_display_name_format
        .as_deref()
        .map(|template| fill(template, &text_of))
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| rule.name.clone());
    let description = overrides
        .alert_description_format
        .as_deref()
        .map(|template| fill(template, &text_of))
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| rule.description.clone());
    let severity = overrides
        .alert_severity_column_name
        .as_deref()
        .map(&text_of)
        .and_then(|value| SEVERITIES.iter().find(|s| s.eq_ignore_ascii_case(value.trim())).map(|s| s.to_string()))
        .unwrap_or_else(|| rule.severity.clone());
    let tactics = overrides
        .alert_tactics_column_name
        .as_deref()
        .map(&text_of)
        .map(|value| {
            value.split([',', '[', ']', '"']).filter_map(canonical_tactic).map(str::to_string).collect::<Vec<_>>()
        })
        .filter(|tactics| !tactics.is_empty())
        .unwrap_or_else(|| rule.tactics.clone());

    let mut entities: Vec<Entity> = Vec::new();
    for row in rows {
        for mapping in &rule.entity_mappings {
            let Some((entity_type, _)) = identifiers_of(&mapping.entity_type) else { continue };
            let fields: Vec<(String, String)> = mapping
                .field_mappings
                .iter()
                .filter_map(|field| {
                    let value = cell_text(&cell(row, &field.column_name));
                    (!value.trim().is_empty()).then(|| (field.identifier.clone(), value))
                })
                .collect();
            if fields.is_empty() {
                continue;
            }
            let entity = Entity { entity_type, fields };
            if entities.len() < MAX_ENTITIES && !entities.iter().any(|e| e.key() == entity.key()) {
                entities.push(entity);
            }
        }
        // Columns of entities in Sentinel's JSON, as `SecurityAlert.Entities` holds them.
        for column in &rule.sentinel_entities_columns {
            let listed = match cell(row, column) {
                Value::Dynamic(json) => json,
                Value::String(text) => serde_json::from_str(&text).unwrap_or(Json::Null),
                _ => Json::Null,
            };
            let items = match listed {
                Json::Array(items) => items,
                single @ Json::Object(_) => vec![single],
                _ => Vec::new(),
            };
            for entity in items.iter().filter_map(Entity::from_sentinel_json) {
                if entities.len() < MAX_ENTITIES && !entities.iter().any(|e| e.key() == entity.key()) {
                    entities.push(entity);
                }
            }
        }
    }

    let mut custom_details = BTreeMap::new();
    for (key, column) in &rule.custom_details {
        let mut values: Vec<Json> = Vec::new();
        if let Some(i) = index(column) {
            for row in rows {
                let value = cell_json(&row[i], columns[i].ty);
                if !values.contains(&value) {
                    values.push(value);
                }
            }
        }
        custom_details.insert(key.clone(), values);
    }

    let properties = overrides
        .alert_dynamic_properties
        .iter()
        .flatten()
        .filter_map(|property| {
            let name = crate::rule::ALERT_DYNAMIC_PROPERTIES
                .iter()
                .find(|known| known.eq_ignore_ascii_case(&property.alert_property))?;
            let value = text_of(&property.value);
            (!value.trim().is_empty()).then(|| (name.to_string(), value))
        })
        .collect();

    let evidence = rows.iter().take(MAX_EVIDENCE_ROWS).map(|row| row_object(columns, row)).collect();
    let times: Vec<i64> = index("TimeGenerated")
        .map(|i| rows.iter().filter_map(|row| if let Value::DateTime(t) = row[i] { Some(t) } else { None }).collect())
        .unwrap_or_default();
    AlertDraft {
        title,
        description,
        severity,
        tactics,
        techniques: rule.techniques.clone(),
        entities,
        custom_details,
        evidence,
        result_rows: rows.len(),
        properties,
        first_event_time: times.iter().min().copied(),
        last_event_time: times.iter().max().copied(),
    }
}

/// An alert a rule would raise, as `rule test` shows it.
pub fn draft_json(draft: &AlertDraft) -> Json {
    serde_json::json!({
        "title": draft.title,
        "description": draft.description,
        "severity": draft.severity,
        "tactics": draft.tactics,
        "techniques": draft.techniques,
        "entities": draft.entities.iter().map(Entity::to_sentinel_json).collect::<Vec<_>>(),
        "customDetails": draft.custom_details,
        "resultRows": draft.result_rows,
        "properties": draft.properties,
        "firstEventTime": draft.first_event_time.map(crate::time::format_time),
        "lastEventTime": draft.last_event_time.map(crate::time::format_time),
        "evidence": draft.evidence,
    })
}

/// A result row as a JSON object, cells as the query API returns them.
pub fn row_object(columns: &[KqlColumn], row: &[Value]) -> Json {
    let mut object = Map::new();
    for (column, value) in columns.iter().zip(row) {
        object.insert(column.name.clone(), cell_json(value, column.ty));
    }
    Json::Object(object)
}

/// Replaces each `{{Column}}` with the column's text.
fn fill(template: &str, text_of: &dyn Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(length) = rest[start + 2..].find("}}") else { break };
        out.push_str(&rest[..start]);
        out.push_str(&text_of(rest[start + 2..start + 2 + length].trim()));
        rest = &rest[start + 2 + length + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use vigil_kql_functions::KqlType;

    use super::*;
    use crate::rule::parse_rule;

    fn keeper_rule(extra: &str) -> Rule {
        let text = format!(
            "id: r1\nname: Keeper\nseverity: Informational\nkind: NRT\nquery: T\ntactics: [Persistence]\n\
             relevantTechniques: [T1556]\nalertDetailsOverride:\n  alertDisplayNameFormat: \"{{{{AuditEvent}}}} on {{{{RemoteAddress}}}}\"\n\
             entityMappings:\n- entityType: Account\n  fieldMappings:\n  - identifier: FullName\n    columnName: Username\n\
             - entityType: IP\n  fieldMappings:\n  - identifier: Address\n    columnName: RemoteAddress\n{extra}"
        );
        parse_rule("test", &text).expect("valid rule")
    }

    fn columns() -> Vec<KqlColumn> {
        vec![
            KqlColumn::new("TimeGenerated", KqlType::DateTime),
            KqlColumn::new("AuditEvent", KqlType::String),
            KqlColumn::new("RemoteAddress", KqlType::String),
            KqlColumn::new("Username", KqlType::String),
            KqlColumn::new("Level", KqlType::String),
        ]
    }

    fn row(time: i64, event: &str, ip: &str, user: &str, level: &str) -> Vec<Value> {
        vec![
            Value::DateTime(time),
            Value::String(event.into()),
            Value::String(ip.into()),
            Value::String(user.into()),
            Value::String(level.into()),
        ]
    }

    #[test]
    fn one_alert_per_result_with_templated_title_and_entities() {
        let rule = keeper_rule("eventGroupingSettings:\n  aggregationKind: AlertPerResult\n");
        let rows =
            vec![row(1, "change_master_password", "10.0.0.1", "a@x.com", ""), row(2, "login", "", "b@x.com", "")];
        let alerts = build_alerts(&rule, &columns(), &rows);
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].title, "change_master_password on 10.0.0.1");
        assert_eq!(alerts[0].entities.len(), 2);
        assert_eq!(alerts[0].entities[1].field("Address"), Some("10.0.0.1"));
        assert_eq!(alerts[1].entities.len(), 1, "an empty address maps to no IP entity");
        assert_eq!(alerts[0].techniques, vec!["T1556"]);
        assert_eq!(alerts[0].evidence[0]["Username"], "a@x.com");
    }

    #[test]
    fn one_alert_per_run_gathers_entities_details_and_times() {
        let mut rule = keeper_rule("customDetails:\n  Events: AuditEvent\ntriggerThreshold: 1\n");
        rule.alert_details_override.alert_severity_column_name = Some("Level".to_string());
        let rows = vec![row(5, "x", "10.0.0.1", "a@x.com", "High"), row(3, "y", "10.0.0.1", "b@x.com", "Low")];
        let alerts = build_alerts(&rule, &columns(), &rows);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].severity, "High", "dynamic severity from the first row");
        assert_eq!(alerts[0].entities.len(), 3, "two accounts and one address");
        assert_eq!(alerts[0].custom_details["Events"], vec![Json::from("x"), Json::from("y")]);
        assert_eq!((alerts[0].first_event_time, alerts[0].last_event_time), (Some(3), Some(5)));
        assert!(build_alerts(&rule, &columns(), &rows[..1]).is_empty(), "threshold: more than one row");
    }
}
