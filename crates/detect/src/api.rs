//! Alerts and incidents in the shape of Microsoft Defender's APIs: Defender for Endpoint's
//! `/api/alerts` and Defender XDR's `/api/incidents`, so SIEM connectors written for them work
//! with a new base URL. Vigil keeps Sentinel's vocabulary inside (incident status New, Active,
//! Closed; classification Undetermined, TruePositive, BenignPositive, FalsePositive) and maps
//! it here, in both directions.

use serde_json::{Map, Value as Json, json};

use crate::entities::Entity;
use crate::odata::{Property, PropertyKind};
use crate::rule::SEVERITIES;
use crate::state::{AlertChange, AlertRecord, IncidentChange, IncidentRecord};

/// What `$filter` may name on `/api/alerts`.
pub const ALERT_PROPERTIES: &[Property] = &[
    Property { name: "alertCreationTime", sql: "created_at", kind: PropertyKind::DateTime },
    Property { name: "lastUpdateTime", sql: "updated_at", kind: PropertyKind::DateTime },
    Property { name: "status", sql: "status", kind: PropertyKind::Text },
    Property { name: "severity", sql: "severity", kind: PropertyKind::Text },
    Property { name: "incidentId", sql: "incident_id", kind: PropertyKind::Integer },
    Property { name: "assignedTo", sql: "assigned_to", kind: PropertyKind::Text },
];

const INCIDENT_STATUS_SQL: &str =
    "CASE status WHEN 'New' THEN 'Active' WHEN 'Active' THEN 'InProgress' WHEN 'Closed' THEN 'Resolved' END";
const INCIDENT_CLASSIFICATION_SQL: &str = "CASE classification WHEN 'TruePositive' THEN 'TruePositive' \
     WHEN 'FalsePositive' THEN 'FalsePositive' WHEN 'BenignPositive' THEN 'InformationalExpectedActivity' \
     ELSE 'Unknown' END";

/// What `$orderby` may name on `/api/incidents`: severity sorts by rank, not by name.
pub const INCIDENT_ORDER_PROPERTIES: &[Property] = &[
    Property { name: "createdTime", sql: "created_at", kind: PropertyKind::DateTime },
    Property { name: "lastUpdateTime", sql: "updated_at", kind: PropertyKind::DateTime },
    Property { name: "incidentId", sql: "id", kind: PropertyKind::Integer },
    Property {
        name: "severity",
        sql: "CASE severity WHEN 'High' THEN 3 WHEN 'Medium' THEN 2 WHEN 'Low' THEN 1 ELSE 0 END",
        kind: PropertyKind::Integer,
    },
    Property { name: "status", sql: INCIDENT_STATUS_SQL, kind: PropertyKind::Text },
    Property { name: "assignedTo", sql: "owner", kind: PropertyKind::Text },
    Property { name: "incidentName", sql: "title", kind: PropertyKind::Text },
];

/// What `$filter` may name on `/api/incidents`.
pub const INCIDENT_PROPERTIES: &[Property] = &[
    Property { name: "createdTime", sql: "created_at", kind: PropertyKind::DateTime },
    Property { name: "lastUpdateTime", sql: "updated_at", kind: PropertyKind::DateTime },
    Property { name: "status", sql: INCIDENT_STATUS_SQL, kind: PropertyKind::Text },
    Property { name: "severity", sql: "severity", kind: PropertyKind::Text },
    Property { name: "incidentId", sql: "id", kind: PropertyKind::Integer },
    Property { name: "assignedTo", sql: "owner", kind: PropertyKind::Text },
    Property { name: "classification", sql: INCIDENT_CLASSIFICATION_SQL, kind: PropertyKind::Text },
    Property { name: "incidentName", sql: "title", kind: PropertyKind::Text },
    Property { name: "incidentStatus", sql: "status", kind: PropertyKind::Text },
    Property { name: "workspaceId", sql: "workspace", kind: PropertyKind::Text },
    // The JSON array of rule ids, for `contains(relatedAnalyticRuleIds, 'id')`.
    Property { name: "relatedAnalyticRuleIds", sql: "rule_ids", kind: PropertyKind::Text },
];

pub const ALERT_STATUSES: &[&str] = &["New", "InProgress", "Resolved"];
pub const DEFENDER_CLASSIFICATIONS: &[&str] =
    &["Unknown", "FalsePositive", "TruePositive", "InformationalExpectedActivity"];
pub const DETERMINATIONS: &[&str] = &[
    "NotAvailable",
    "Apt",
    "Malware",
    "SecurityPersonnel",
    "SecurityTesting",
    "UnwantedSoftware",
    "MultiStagedAttack",
    "MaliciousUserActivity",
    "CompromisedAccount",
    "Phishing",
    "LineOfBusinessApplication",
    "ConfirmedActivity",
    "NotMalicious",
    "Other",
];

fn defender_incident_status(status: &str) -> &'static str {
    match status {
        "Active" => "InProgress",
        "Closed" => "Resolved",
        _ => "Active",
    }
}

fn defender_classification(classification: Option<&str>) -> &'static str {
    match classification {
        Some("TruePositive") => "TruePositive",
        Some("FalsePositive") => "FalsePositive",
        Some("BenignPositive") => "InformationalExpectedActivity",
        _ => "Unknown",
    }
}

/// Defender for Endpoint's alert, with `evidence` when expanded.
pub fn alert_json(alert: &AlertRecord, with_evidence: bool) -> Json {
    let entities: Vec<Json> = alert.entities.iter().map(Entity::to_defender_json).collect();
    let user = alert.entities.iter().find(|e| e.entity_type == "Account").map(|e| {
        let defender = e.to_defender_json();
        json!({"userName": defender["accountName"], "domainName": defender["domainName"]})
    });
    let mut object = json!({
        "id": alert.id,
        "incidentId": alert.incident_id,
        "investigationId": null,
        "assignedTo": alert.assigned_to,
        "severity": alert.severity,
        "status": alert.status,
        "classification": alert.classification,
        "determination": alert.determination,
        "investigationState": "Unsupported",
        "detectionSource": "CustomDetection",
        "detectorId": alert.rule_id,
        "category": alert.tactics.first().cloned().unwrap_or_else(|| "None".to_string()),
        "threatFamilyName": null,
        "title": alert.title,
        "description": alert.description,
        "alertCreationTime": alert.created_at,
        "firstEventTime": alert.first_event_time,
        "lastEventTime": alert.last_event_time,
        "lastUpdateTime": alert.updated_at,
        "resolvedTime": alert.resolved_at,
        "machineId": null,
        "computerDnsName": alert.entities.iter().find(|e| e.entity_type == "Host").map(Entity::display_value),
        "aadTenantId": alert.tenant,
        "mitreTechniques": alert.techniques,
        "relatedUser": user,
        "comments": alert.comments,
        "entities": entities,
        "workspaceId": alert.workspace,
        "ruleName": alert.rule_name,
        "tactics": alert.tactics,
        "customDetails": alert.custom_details,
        "suppressedBy": alert.suppressed_by,
    });
    if with_evidence {
        let mut evidence = entities.clone();
        if let Some(rows) = alert.evidence.as_array() {
            evidence.extend(rows.iter().map(|row| json!({"entityType": "QueryResult", "row": row})));
        }
        object["evidence"] = Json::Array(evidence);
    }
    object
}

/// An alert as Defender XDR nests it in an incident.
fn incident_alert_json(alert: &AlertRecord) -> Json {
    json!({
        "alertId": alert.id,
        "providerAlertId": alert.id,
        "incidentId": alert.incident_id,
        "serviceSource": "Microsoft Sentinel",
        "creationTime": alert.created_at,
        "lastUpdatedTime": alert.updated_at,
        "resolvedTime": alert.resolved_at,
        "firstActivity": alert.first_event_time,
        "lastActivity": alert.last_event_time,
        "title": alert.title,
        "description": alert.description,
        "category": alert.tactics.first().cloned().unwrap_or_else(|| "None".to_string()),
        "status": alert.status,
        "severity": alert.severity,
        "classification": alert.classification,
        "determination": alert.determination,
        "detectionSource": "CustomDetection",
        "detectorId": alert.rule_id,
        "assignedTo": alert.assigned_to,
        "mitreTechniques": alert.techniques,
        "devices": [],
        "entities": alert.entities.iter().map(Entity::to_defender_json).collect::<Vec<_>>(),
        "evidence": alert.evidence,
        "customDetails": alert.custom_details,
    })
}

/// Defender XDR's incident with its alerts and their entities, plus Vigil's own details
/// (Sentinel status, labels, history, deliveries) under names Defender does not use.
pub fn incident_json(incident: &IncidentRecord) -> Json {
    let mut object = json!({
        "incidentId": incident.id,
        "redirectIncidentId": null,
        "incidentName": incident.title,
        "description": incident.description,
        "createdTime": incident.created_at,
        "lastUpdateTime": incident.updated_at,
        "firstActivity": incident.first_activity,
        "lastActivity": incident.last_activity,
        "assignedTo": incident.owner,
        "classification": defender_classification(incident.classification.as_deref()),
        "determination": incident.classification_reason.clone().unwrap_or_else(|| "NotAvailable".to_string()),
        "status": defender_incident_status(&incident.status),
        "severity": incident.severity,
        "tags": incident.labels,
        "systemTags": [],
        "comments": incident.comments.iter().map(|c| json!({"comment": c.message, "createdBy": c.author, "createdTime": c.created_at})).collect::<Vec<_>>(),
        "alerts": incident.alerts.iter().map(incident_alert_json).collect::<Vec<_>>(),
        "workspaceId": incident.workspace,
        "incidentStatus": incident.status,
        "sentinelClassification": incident.classification,
        "classificationComment": incident.classification_comment,
        "closedTime": incident.closed_at,
        "relatedAnalyticRuleIds": incident.rule_ids,
    });
    if !incident.history.is_empty() {
        object["history"] = json!(incident.history);
    }
    if !incident.deliveries.is_empty() {
        object["deliveries"] = json!(incident.deliveries);
    }
    object
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<String, String> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value))
        .map(|a| a.to_string())
        .ok_or_else(|| format!("'{value}' is not a valid {field}; use one of {}", allowed.join(", ")))
}

fn string_field(object: &Map<String, Json>, field: &str) -> Result<Option<String>, String> {
    match object.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("'{field}' must be a string, not {other}")),
    }
}

fn reject_unknown(object: &Map<String, Json>, known: &[&str]) -> Result<(), String> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(format!("'{unknown}' cannot be changed; updatable properties: {}", known.join(", "))),
        None => Ok(()),
    }
}

/// The body of `PATCH /api/alerts/{id}`, as Defender for Endpoint takes it.
pub fn parse_alert_patch(body: &Json) -> Result<AlertChange, String> {
    let object = body.as_object().ok_or("the body must be a JSON object")?;
    reject_unknown(object, &["status", "assignedTo", "classification", "determination", "comment"])?;
    Ok(AlertChange {
        status: string_field(object, "status")?.map(|s| one_of("status", &s, ALERT_STATUSES)).transpose()?,
        assigned_to: object.contains_key("assignedTo").then(|| string_field(object, "assignedTo")).transpose()?,
        classification: string_field(object, "classification")?
            .map(|c| one_of("classification", &c, DEFENDER_CLASSIFICATIONS))
            .transpose()?,
        determination: string_field(object, "determination")?
            .map(|d| one_of("determination", &d, DETERMINATIONS))
            .transpose()?,
        comment: string_field(object, "comment")?,
    })
}

/// The body of `PATCH /api/incidents/{id}`: Defender XDR's properties (status Active,
/// InProgress, Resolved; assignedTo; classification; determination; tags; comment), plus
/// `severity`.
pub fn parse_incident_patch(body: &Json) -> Result<IncidentChange, String> {
    let object = body.as_object().ok_or("the body must be a JSON object")?;
    reject_unknown(
        object,
        &["status", "assignedTo", "classification", "determination", "tags", "comment", "severity"],
    )?;
    let status = string_field(object, "status")?
        .map(|s| {
            one_of("status", &s, &["Active", "InProgress", "Resolved"]).map(|s| match s.as_str() {
                "InProgress" => "Active".to_string(),
                "Resolved" => "Closed".to_string(),
                _ => "New".to_string(),
            })
        })
        .transpose()?;
    let classification = string_field(object, "classification")?
        .map(|c| {
            one_of("classification", &c, DEFENDER_CLASSIFICATIONS).map(|c| match c.as_str() {
                "InformationalExpectedActivity" => "BenignPositive".to_string(),
                "Unknown" => "Undetermined".to_string(),
                other => other.to_string(),
            })
        })
        .transpose()?;
    let labels = match object.get("tags") {
        None | Some(Json::Null) => None,
        Some(Json::Array(tags)) => Some(
            tags.iter()
                .map(|t| t.as_str().map(str::to_string).ok_or_else(|| format!("tag {t} is not a string")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(other) => return Err(format!("'tags' must be an array of strings, not {other}")),
    };
    Ok(IncidentChange {
        status,
        severity: string_field(object, "severity")?.map(|s| one_of("severity", &s, SEVERITIES)).transpose()?,
        owner: object.contains_key("assignedTo").then(|| string_field(object, "assignedTo")).transpose()?,
        classification,
        classification_reason: string_field(object, "determination")?
            .map(|d| one_of("determination", &d, DETERMINATIONS))
            .transpose()?,
        classification_comment: None,
        labels,
        add_labels: None,
        comment: string_field(object, "comment")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_patches_map_defender_values_to_sentinel_ones() {
        let change =
            parse_incident_patch(&json!({"status": "Resolved", "classification": "InformationalExpectedActivity",
            "determination": "NotMalicious", "assignedTo": "ana@example.com", "tags": ["keeper"], "comment": "benign"}))
            .expect("valid");
        assert_eq!(change.status.as_deref(), Some("Closed"));
        assert_eq!(change.classification.as_deref(), Some("BenignPositive"));
        assert_eq!(change.owner, Some(Some("ana@example.com".to_string())));
        assert_eq!(change.labels, Some(vec!["keeper".to_string()]));
        let unassign = parse_incident_patch(&json!({"assignedTo": null})).expect("valid");
        assert_eq!(unassign.owner, Some(None));
    }

    #[test]
    fn bad_patches_name_the_property_and_the_allowed_values() {
        let error = parse_alert_patch(&json!({"status": "Done"})).unwrap_err();
        assert!(error.contains("'Done' is not a valid status") && error.contains("InProgress"), "{error}");
        let error = parse_incident_patch(&json!({"title": "x"})).unwrap_err();
        assert!(error.contains("'title' cannot be changed"), "{error}");
        assert!(parse_incident_patch(&json!([1])).is_err());
        assert!(parse_alert_patch(&json!({"status": 3})).unwrap_err().contains("must be a string"));
    }
}
