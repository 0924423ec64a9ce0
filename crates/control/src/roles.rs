//! Roles and the scopes they are assigned on, as Azure's role-based access control names them.

use std::fmt;
use std::str::FromStr;

/// A role a principal holds on a scope.
///
/// The workspace roles are ordered: each grants what the ones before it grant. The publisher
/// role stands apart, as in Azure: it grants writing through a DCR and nothing else, and no
/// workspace role grants it (an Owner can manage a DCR but not push data through it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Reader,
    Responder,
    Contributor,
    Owner,
    MonitoringMetricsPublisher,
}

impl Role {
    pub const ALL: [Role; 5] =
        [Role::Reader, Role::Responder, Role::Contributor, Role::Owner, Role::MonitoringMetricsPublisher];

    pub fn name(self) -> &'static str {
        match self {
            Role::Reader => "Reader",
            Role::Responder => "Responder",
            Role::Contributor => "Contributor",
            Role::Owner => "Owner",
            Role::MonitoringMetricsPublisher => "Monitoring Metrics Publisher",
        }
    }

    /// Whether holding `self` grants what `wanted` grants.
    pub fn grants(self, wanted: Role) -> bool {
        match (self, wanted) {
            (Role::MonitoringMetricsPublisher, wanted) => wanted == Role::MonitoringMetricsPublisher,
            (_, Role::MonitoringMetricsPublisher) => false,
            (held, wanted) => held >= wanted,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;

    /// Accepts the display name in any case, with or without spaces (`"monitoring metrics
    /// publisher"`, `MonitoringMetricsPublisher`), and `Publisher` for short.
    fn from_str(text: &str) -> Result<Role, String> {
        let folded: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        if folded == "publisher" {
            return Ok(Role::MonitoringMetricsPublisher);
        }
        Role::ALL.into_iter().find(|role| role.name().replace(' ', "").to_ascii_lowercase() == folded).ok_or_else(
            || {
                let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
                format!("unknown role '{text}'; the roles are {}", names.join(", "))
            },
        )
    }
}

/// Where a role applies. A tenant scope covers every workspace and DCR of the tenant; a
/// workspace scope covers the workspace and its DCRs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Tenant(String),
    Workspace(String),
    Dcr(String),
}

impl Scope {
    /// The form stored in the database and shown by the API: `tenant:ID`, `workspace:ID`,
    /// `dcr:IMMUTABLE_ID`.
    pub fn key(&self) -> String {
        match self {
            Scope::Tenant(id) => format!("tenant:{id}"),
            Scope::Workspace(id) => format!("workspace:{id}"),
            Scope::Dcr(id) => format!("dcr:{id}"),
        }
    }

    pub fn from_key(key: &str) -> Option<Scope> {
        let (kind, id) = key.split_once(':')?;
        match kind {
            "tenant" => Some(Scope::Tenant(id.to_string())),
            "workspace" => Some(Scope::Workspace(id.to_string())),
            "dcr" => Some(Scope::Dcr(id.to_string())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_roles_are_ordered_and_publisher_stands_apart() {
        assert!(Role::Owner.grants(Role::Reader));
        assert!(Role::Responder.grants(Role::Reader));
        assert!(!Role::Reader.grants(Role::Responder));
        assert!(!Role::Owner.grants(Role::MonitoringMetricsPublisher));
        assert!(!Role::MonitoringMetricsPublisher.grants(Role::Reader));
        assert!(Role::MonitoringMetricsPublisher.grants(Role::MonitoringMetricsPublisher));
    }

    #[test]
    fn roles_parse_loosely_and_reject_unknown_names() {
        assert_eq!("monitoring metrics publisher".parse::<Role>(), Ok(Role::MonitoringMetricsPublisher));
        assert_eq!("MonitoringMetricsPublisher".parse::<Role>(), Ok(Role::MonitoringMetricsPublisher));
        assert_eq!("reader".parse::<Role>(), Ok(Role::Reader));
        let error = "Admin".parse::<Role>().unwrap_err();
        assert!(error.contains("unknown role 'Admin'") && error.contains("Responder"), "{error}");
    }

    #[test]
    fn scope_keys_round_trip() {
        for scope in [Scope::Tenant("t".into()), Scope::Workspace("w".into()), Scope::Dcr("dcr-1".into())] {
            assert_eq!(Scope::from_key(&scope.key()), Some(scope));
        }
        assert_eq!(Scope::from_key("cluster:x"), None);
    }
}
