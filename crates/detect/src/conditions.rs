//! Conditions on alerts and incidents, shared by suppression rules and automation rules:
//! `property operator values`, as Sentinel's automation rules write them.

use serde::{Deserialize, Serialize};

use crate::entities::Entity;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    pub property: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    Equals,
    NotEquals,
    Contains,
    NotContains,
    StartsWith,
    NotStartsWith,
    EndsWith,
    NotEndsWith,
}

impl Operator {
    fn is_negative(self) -> bool {
        matches!(self, Operator::NotEquals | Operator::NotContains | Operator::NotStartsWith | Operator::NotEndsWith)
    }

    /// Whether `actual` satisfies the positive form of the operator for `expected`, ignoring case.
    fn positive_match(self, actual: &str, expected: &str) -> bool {
        let (actual, expected) = (actual.to_lowercase(), expected.to_lowercase());
        match self {
            Operator::Equals | Operator::NotEquals => actual == expected,
            Operator::Contains | Operator::NotContains => actual.contains(&expected),
            Operator::StartsWith | Operator::NotStartsWith => actual.starts_with(&expected),
            Operator::EndsWith | Operator::NotEndsWith => actual.ends_with(&expected),
        }
    }
}

/// What conditions are evaluated against: an alert, or an incident with its alerts.
pub struct Subject<'a> {
    pub rule_ids: Vec<&'a str>,
    pub rule_names: Vec<&'a str>,
    pub title: &'a str,
    pub description: &'a str,
    pub severity: &'a str,
    pub status: &'a str,
    pub owner: Option<&'a str>,
    pub labels: Vec<&'a str>,
    pub tactics: Vec<&'a str>,
    pub techniques: Vec<&'a str>,
    pub entities: &'a [Entity],
    /// Custom details and evidence columns of the alerts: `(name, value as text)`.
    pub details: Vec<(String, String)>,
}

/// Properties conditions may name, for validation and error messages.
pub const PROPERTIES: &[&str] = &[
    "AnalyticRuleId",
    "AnalyticRuleName",
    "Title",
    "Description",
    "Severity",
    "Status",
    "Owner",
    "Label",
    "Tactics",
    "Techniques",
    "AccountName",
    "AccountUPN",
    "IPAddress",
    "HostName",
    "Url",
    "DomainName",
    "FileHash",
    "FileName",
    "ProcessCommandLine",
    "MailboxPrimaryAddress",
    "AzureResourceId",
    "CloudApplication",
    "Detail.<name>",
];

impl Condition {
    /// Checks the property name, so a typo is refused when the rule is saved rather than
    /// silently never matching.
    pub fn check(&self) -> Result<(), String> {
        if self.values.is_empty() {
            return Err(format!("condition on '{}' has no values", self.property));
        }
        if canonical(&self.property).is_none() {
            return Err(format!(
                "'{}' is not a condition property; use one of {}",
                self.property,
                PROPERTIES.join(", ")
            ));
        }
        Ok(())
    }

    /// For positive operators, any actual value matching any expected value; for negative
    /// operators, no actual value matching any expected value.
    pub fn holds(&self, subject: &Subject<'_>) -> bool {
        let actual = actual_values(&self.property, subject);
        let any = actual.iter().any(|a| self.values.iter().any(|e| self.operator.positive_match(a, e)));
        if self.operator.is_negative() { !any } else { any }
    }
}

/// The property's name without the `Incident`/`Alert` prefix Sentinel puts on some
/// (`IncidentTitle`, `AlertSeverity`), or `None` for an unknown one.
fn canonical(property: &str) -> Option<String> {
    if let Some(detail) = property.strip_prefix("Detail.") {
        return (!detail.is_empty()).then(|| property.to_string());
    }
    let bare = property.strip_prefix("Incident").or(property.strip_prefix("Alert")).unwrap_or(property);
    let bare = match bare {
        "Labels" => "Label",
        "Tactic" => "Tactics",
        "ProviderName" | "RuleName" => "AnalyticRuleName",
        other => other,
    };
    PROPERTIES.iter().find(|p| p.eq_ignore_ascii_case(bare)).map(|p| p.to_string())
}

fn actual_values(property: &str, subject: &Subject<'_>) -> Vec<String> {
    let Some(property) = canonical(property) else {
        return Vec::new();
    };
    let strings = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    let entity_values = |entity_type: &str, identifiers: &[&str]| -> Vec<String> {
        subject
            .entities
            .iter()
            .filter(|e| e.entity_type == entity_type)
            .flat_map(|e| identifiers.iter().filter_map(|i| e.field(i).map(str::to_string)).collect::<Vec<_>>())
            .collect()
    };
    if let Some(detail) = property.strip_prefix("Detail.") {
        return subject
            .details
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(detail))
            .map(|(_, v)| v.clone())
            .collect();
    }
    match property.as_str() {
        "AnalyticRuleId" => strings(&subject.rule_ids),
        "AnalyticRuleName" => strings(&subject.rule_names),
        "Title" => vec![subject.title.to_string()],
        "Description" => vec![subject.description.to_string()],
        "Severity" => vec![subject.severity.to_string()],
        "Status" => vec![subject.status.to_string()],
        "Owner" => subject.owner.map(|o| vec![o.to_string()]).unwrap_or_default(),
        "Label" => strings(&subject.labels),
        "Tactics" => strings(&subject.tactics),
        "Techniques" => strings(&subject.techniques),
        "AccountName" => entity_values("Account", &["Name", "FullName", "DisplayName"]),
        "AccountUPN" => entity_values("Account", &["FullName"]),
        "IPAddress" => entity_values("IP", &["Address"]),
        "HostName" => entity_values("Host", &["HostName", "FullName", "NetBiosName"]),
        "Url" => entity_values("URL", &["Url"]),
        "DomainName" => entity_values("DNS", &["DomainName"]),
        "FileHash" => entity_values("FileHash", &["Value"]),
        "FileName" => entity_values("File", &["Name"]),
        "ProcessCommandLine" => entity_values("Process", &["CommandLine"]),
        "MailboxPrimaryAddress" => entity_values("Mailbox", &["MailboxPrimaryAddress"]),
        "AzureResourceId" => entity_values("AzureResource", &["ResourceId"]),
        "CloudApplication" => entity_values("CloudApplication", &["Name", "AppId"]),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(entities: &[Entity]) -> Subject<'_> {
        Subject {
            rule_ids: vec!["r1"],
            rule_names: vec!["Keeper Security - Password Changed"],
            title: "change_master_password on 10.0.0.1",
            description: "",
            severity: "Informational",
            status: "New",
            owner: None,
            labels: vec![],
            tactics: vec!["Persistence"],
            techniques: vec!["T1556"],
            entities,
            details: vec![("AuditEvent".to_string(), "change_master_password".to_string())],
        }
    }

    fn condition(property: &str, operator: Operator, values: &[&str]) -> Condition {
        Condition { property: property.to_string(), operator, values: values.iter().map(|v| v.to_string()).collect() }
    }

    #[test]
    fn conditions_match_rules_titles_entities_and_details() {
        let entities = [Entity { entity_type: "IP", fields: vec![("Address".to_string(), "10.0.0.1".to_string())] }];
        let subject = subject(&entities);
        assert!(condition("AnalyticRuleName", Operator::StartsWith, &["keeper security"]).holds(&subject));
        assert!(condition("IncidentTitle", Operator::Contains, &["master"]).holds(&subject));
        assert!(condition("IPAddress", Operator::Equals, &["10.0.0.2", "10.0.0.1"]).holds(&subject));
        assert!(!condition("IPAddress", Operator::NotEquals, &["10.0.0.1"]).holds(&subject));
        assert!(condition("AccountName", Operator::NotEquals, &["alice"]).holds(&subject), "no account: none equal");
        assert!(condition("Detail.AuditEvent", Operator::Equals, &["change_master_password"]).holds(&subject));
        assert!(!condition("AlertSeverity", Operator::Equals, &["High"]).holds(&subject));
    }

    #[test]
    fn unknown_properties_and_empty_values_are_refused() {
        assert!(
            condition("Colour", Operator::Equals, &["red"]).check().unwrap_err().contains("not a condition property")
        );
        assert!(condition("Title", Operator::Equals, &[]).check().is_err());
        assert!(condition("IncidentSeverity", Operator::Equals, &["High"]).check().is_ok());
    }
}
