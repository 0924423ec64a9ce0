//! Suppression rules: silence alerts that match conditions (rule, entities, field values) for
//! a period, with who asked and why. A silenced alert is still recorded, resolved and marked
//! with the suppression rule, but raises no incident and runs no automation.

use serde::{Deserialize, Serialize};

use crate::conditions::Condition;
use crate::duration::parse_duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuppressionRule {
    pub id: String,
    pub name: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
    /// When it stops silencing alerts; never when `None`.
    pub expires_at: Option<String>,
    pub conditions: Vec<Condition>,
    pub hits: i64,
    pub last_hit: Option<String>,
}

/// A suppression rule as a user asks for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSuppression {
    pub name: String,
    pub reason: String,
    /// How long it lasts from now (ISO 8601), or forever when absent.
    pub duration: Option<String>,
    pub conditions: Vec<Condition>,
}

impl NewSuppression {
    /// Checks it and returns its duration in nanoseconds, if any.
    pub fn check(&self) -> Result<Option<i64>, String> {
        if self.name.trim().is_empty() {
            return Err("a suppression rule needs a name".to_string());
        }
        if self.reason.trim().is_empty() {
            return Err(format!("suppression rule '{}' needs a reason: it is kept for the audit", self.name));
        }
        if self.conditions.is_empty() {
            return Err(format!("suppression rule '{}' has no conditions: it would silence every alert", self.name));
        }
        for condition in &self.conditions {
            condition.check().map_err(|e| format!("suppression rule '{}': {e}", self.name))?;
        }
        self.duration.as_deref().map(parse_duration).transpose()
    }
}
