//! Automation: rules that act on incidents and alerts when they are created or updated, and
//! playbooks, the outbound actions they run. Both are written as YAML (or JSON):
//!
//! ```yaml
//! playbooks:
//!   - {name: notify, kind: webhook, url: "https://hooks.example/x", secret: "..."}
//! automationRules:
//!   - name: Tell the team
//!     order: 1
//!     triggersOn: Incidents        # or Alerts
//!     triggersWhen: Created        # or Updated
//!     conditions: [{property: AnalyticRuleName, operator: StartsWith, values: [Keeper]}]
//!     actions: [{runPlaybook: notify}, {assignOwner: soc@example.com}]
//! ```

use serde::{Deserialize, Serialize};

use crate::conditions::Condition;
use crate::rule::SEVERITIES;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AutomationDocument {
    pub playbooks: Vec<Playbook>,
    pub automation_rules: Vec<AutomationRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TriggersOn {
    Incidents,
    Alerts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TriggersWhen {
    Created,
    Updated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomationRule {
    pub name: String,
    #[serde(default)]
    pub order: i64,
    pub triggers_on: TriggersOn,
    pub triggers_when: TriggersWhen,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    AssignOwner(String),
    ChangeStatus(StatusChange),
    ChangeSeverity(String),
    AddLabels(Vec<String>),
    RunPlaybook(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    pub status: String,
    #[serde(default)]
    pub classification: Option<String>,
    #[serde(default)]
    pub classification_reason: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

pub const INCIDENT_STATUSES: &[&str] = &["New", "Active", "Closed"];
pub const CLASSIFICATIONS: &[&str] = &["Undetermined", "TruePositive", "BenignPositive", "FalsePositive"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Playbook {
    pub name: String,
    #[serde(flatten)]
    pub target: PlaybookTarget,
}

/// Where a playbook sends its message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PlaybookTarget {
    /// JSON POST, signed with HMAC-SHA256 of the body in `X-Vigil-Signature: sha256=<hex>`.
    Webhook { url: String, secret: Option<String> },
    /// A Microsoft Teams incoming webhook (MessageCard).
    Teams { url: String },
    /// A Slack incoming webhook (blocks).
    Slack { url: String },
    #[serde(rename_all = "camelCase")]
    Email {
        host: String,
        port: Option<u16>,
        /// `starttls` (the default), `tls` (implicit TLS) or `none` (loopback test servers).
        security: Option<String>,
        username: Option<String>,
        password: Option<String>,
        /// A PEM certificate authority to trust besides the public ones.
        ca_cert_file: Option<String>,
        from: String,
        to: Vec<String>,
    },
}

/// What listings show in place of a credential that is set.
const SET: &str = "(set)";

impl PlaybookTarget {
    /// Whether delivering reads a file of the server's machine (an SMTP certificate authority).
    pub fn reads_local_files(&self) -> bool {
        matches!(self, PlaybookTarget::Email { ca_cert_file: Some(_), .. })
    }

    /// The target as listings show it: that a credential is set, never the credential.
    pub fn redacted(&self) -> PlaybookTarget {
        let set = |secret: &Option<String>| secret.as_ref().map(|_| SET.to_string());
        match self {
            PlaybookTarget::Webhook { url, secret } => {
                PlaybookTarget::Webhook { url: redacted_url(url, false), secret: set(secret) }
            }
            PlaybookTarget::Teams { url } => PlaybookTarget::Teams { url: redacted_url(url, true) },
            PlaybookTarget::Slack { url } => PlaybookTarget::Slack { url: redacted_url(url, true) },
            PlaybookTarget::Email { password, .. } => {
                let mut target = self.clone();
                if let PlaybookTarget::Email { password: shown, .. } = &mut target {
                    *shown = set(password);
                }
                target
            }
        }
    }
}

/// `url` without what grants access: its user information, its query values and, for services
/// whose webhook path is the key (Slack, Teams), its path. Text that is no URL is hidden whole.
pub fn redacted_url(url: &str, path_is_key: bool) -> String {
    const REDACTED: &str = "redacted";
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return REDACTED.to_string();
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Only URLs that cannot have user information refuse these, and they have none.
        let _ = parsed.set_username(REDACTED);
        let _ = parsed.set_password(None);
    }
    if path_is_key {
        parsed.set_path(REDACTED);
    }
    if parsed.query().is_some() {
        let keys: Vec<String> = parsed.query_pairs().map(|(key, _)| key.into_owned()).collect();
        parsed.query_pairs_mut().clear().extend_pairs(keys.iter().map(|key| (key.as_str(), REDACTED)));
    }
    parsed.set_fragment(None);
    parsed.to_string()
}

impl Playbook {
    pub fn check(&self) -> Result<(), String> {
        let name = &self.name;
        if name.trim().is_empty() {
            return Err("a playbook needs a name".to_string());
        }
        let check_url = |url: &str| -> Result<(), String> {
            match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
                _ => Err(format!("playbook '{name}': '{url}' is not an http(s) URL")),
            }
        };
        match &self.target {
            PlaybookTarget::Webhook { url, .. } | PlaybookTarget::Teams { url } | PlaybookTarget::Slack { url } => {
                check_url(url)
            }
            PlaybookTarget::Email { host, security, from, to, .. } => {
                if host.trim().is_empty() || to.is_empty() || from.trim().is_empty() {
                    return Err(format!("playbook '{name}': email needs host, from and at least one to"));
                }
                if let Some(security) = security
                    && !["starttls", "tls", "none"].contains(&security.as_str())
                {
                    return Err(format!("playbook '{name}': security '{security}' is not starttls, tls or none"));
                }
                for address in to.iter().chain(std::iter::once(from)) {
                    address
                        .parse::<lettre::Address>()
                        .map_err(|e| format!("playbook '{name}': '{address}' is not an email address: {e}"))?;
                }
                Ok(())
            }
        }
    }
}

impl AutomationRule {
    /// Checks conditions and actions; `playbook_exists` says whether a playbook name is known.
    pub fn check(&self, playbook_exists: &dyn Fn(&str) -> bool) -> Result<(), String> {
        let name = &self.name;
        if name.trim().is_empty() {
            return Err("an automation rule needs a name".to_string());
        }
        if self.actions.is_empty() {
            return Err(format!("automation rule '{name}' has no actions"));
        }
        for condition in &self.conditions {
            condition.check().map_err(|e| format!("automation rule '{name}': {e}"))?;
        }
        for action in &self.actions {
            match action {
                Action::RunPlaybook(playbook) if !playbook_exists(playbook) => {
                    return Err(format!("automation rule '{name}': playbook '{playbook}' is not defined"));
                }
                Action::ChangeStatus(change) => {
                    if !INCIDENT_STATUSES.contains(&change.status.as_str()) {
                        return Err(format!(
                            "automation rule '{name}': status '{}' is not one of {}",
                            change.status,
                            INCIDENT_STATUSES.join(", ")
                        ));
                    }
                    if let Some(classification) = &change.classification
                        && !CLASSIFICATIONS.contains(&classification.as_str())
                    {
                        return Err(format!(
                            "automation rule '{name}': classification '{classification}' is not one of {}",
                            CLASSIFICATIONS.join(", ")
                        ));
                    }
                }
                Action::ChangeSeverity(severity) if !SEVERITIES.contains(&severity.as_str()) => {
                    return Err(format!(
                        "automation rule '{name}': severity '{severity}' is not one of {}",
                        SEVERITIES.join(", ")
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Parses an automation document (YAML or JSON) and checks every playbook and rule in it.
pub fn parse_automation(text: &str, known_playbooks: &[String]) -> Result<AutomationDocument, String> {
    // Through JSON values: YAML would otherwise want `!runPlaybook` tags for the actions.
    let value: serde_json::Value = serde_yaml_ng::from_str(text).map_err(|e| format!("not valid YAML or JSON: {e}"))?;
    let document: AutomationDocument =
        serde_json::from_value(value).map_err(|e| format!("not a valid automation document: {e}"))?;
    for playbook in &document.playbooks {
        playbook.check()?;
    }
    let exists =
        |name: &str| known_playbooks.iter().any(|p| p == name) || document.playbooks.iter().any(|p| p.name == name);
    for rule in &document.automation_rules {
        rule.check(&exists)?;
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_keep_where_they_go_and_lose_what_grants_access() {
        assert_eq!(
            redacted_url("https://ops:hunter2@hooks.example.com:8443/in?code=K3Y&v=1#frag", false),
            "https://redacted@hooks.example.com:8443/in?code=redacted&v=redacted"
        );
        assert_eq!(
            redacted_url("https://hooks.slack.com/services/T0/B0/KEY", true),
            "https://hooks.slack.com/redacted"
        );
        assert_eq!(redacted_url("https://hooks.example.com/in", false), "https://hooks.example.com/in");
        assert_eq!(redacted_url("not a url with a key", false), "redacted");
    }

    const DOCUMENT: &str = "playbooks:\n  - name: hook\n    kind: webhook\n    url: http://127.0.0.1:9/x\n    secret: s\n\
        \x20 - name: mail\n    kind: email\n    host: 127.0.0.1\n    port: 2525\n    from: vigil@example.test\n    to: [soc@example.test]\n\
        automationRules:\n  - name: Tell\n    order: 1\n    triggersOn: Incidents\n    triggersWhen: Created\n    conditions:\n\
        \x20     - {property: AnalyticRuleName, operator: StartsWith, values: [Keeper]}\n    actions:\n      - runPlaybook: hook\n\
        \x20     - assignOwner: soc@example.test\n      - changeStatus: {status: Active}\n      - addLabels: [keeper]\n";

    #[test]
    fn a_document_with_playbooks_and_rules_parses() {
        let document = parse_automation(DOCUMENT, &[]).expect("valid");
        assert_eq!(document.playbooks.len(), 2);
        assert!(matches!(document.playbooks[1].target, PlaybookTarget::Email { port: Some(2525), .. }));
        let rule = &document.automation_rules[0];
        assert_eq!(rule.actions[0], Action::RunPlaybook("hook".to_string()));
        assert_eq!(rule.actions.len(), 4);
        assert!(rule.enabled);
    }

    #[test]
    fn unknown_playbooks_statuses_and_addresses_are_refused() {
        let unknown = DOCUMENT.replace("runPlaybook: hook", "runPlaybook: nope");
        assert!(parse_automation(&unknown, &[]).unwrap_err().contains("playbook 'nope' is not defined"));
        let status = DOCUMENT.replace("status: Active", "status: Done");
        assert!(parse_automation(&status, &[]).unwrap_err().contains("status 'Done'"));
        let address = DOCUMENT.replace("to: [soc@example.test]", "to: [not an address]");
        assert!(parse_automation(&address, &[]).unwrap_err().contains("is not an email address"));
    }
}
