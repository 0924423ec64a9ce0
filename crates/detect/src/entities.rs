//! Entities: what an alert is about (accounts, hosts, addresses, files...), mapped from query
//! columns with Sentinel's entity types and identifiers, and shown in Defender's shape.

use serde_json::{Map, Value as Json, json};

/// Sentinel's entity types and the identifiers each accepts in `entityMappings`.
pub const ENTITY_TYPES: &[(&str, &[&str])] = &[
    (
        "Account",
        &[
            "Name",
            "FullName",
            "NTDomain",
            "DnsDomain",
            "UPNSuffix",
            "Sid",
            "AadTenantId",
            "AadUserId",
            "PUID",
            "IsDomainJoined",
            "DisplayName",
            "ObjectGuid",
        ],
    ),
    (
        "Host",
        &[
            "DnsDomain",
            "NTDomain",
            "HostName",
            "FullName",
            "NetBiosName",
            "AzureID",
            "OMSAgentID",
            "OSFamily",
            "OSVersion",
            "IsDomainJoined",
        ],
    ),
    ("IP", &["Address"]),
    ("URL", &["Url"]),
    ("FileHash", &["Algorithm", "Value"]),
    ("File", &["Directory", "Name"]),
    ("Process", &["ProcessId", "CommandLine", "ElevationToken", "CreationTimeUtc"]),
    ("CloudApplication", &["AppId", "Name", "InstanceName"]),
    ("DNS", &["DomainName"]),
    ("Mailbox", &["MailboxPrimaryAddress", "DisplayName", "Upn", "ExternalDirectoryObjectId", "RiskLevel"]),
    ("AzureResource", &["ResourceId"]),
    ("Malware", &["Name", "Category"]),
    ("RegistryKey", &["Hive", "Key"]),
    ("RegistryValue", &["Name", "Value", "ValueType"]),
    ("SecurityGroup", &["DistinguishedName", "SID", "ObjectGuid"]),
];

/// The identifiers of an entity type, matched case-insensitively as Sentinel does.
pub fn identifiers_of(entity_type: &str) -> Option<(&'static str, &'static [&'static str])> {
    ENTITY_TYPES.iter().find(|(name, _)| name.eq_ignore_ascii_case(entity_type)).copied()
}

/// An entity as alerts keep it: Sentinel's shape, `{"Type": "account", "FullName": ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    /// The entity type as `ENTITY_TYPES` spells it.
    pub entity_type: &'static str,
    /// Identifier and value, in the order the mapping gave them.
    pub fields: Vec<(String, String)>,
}

impl Entity {
    /// Sentinel's JSON form of an entity in `SecurityAlert.Entities`.
    pub fn to_sentinel_json(&self) -> Json {
        let mut object = Map::new();
        object.insert("Type".to_string(), Json::String(self.entity_type.to_ascii_lowercase()));
        for (identifier, value) in &self.fields {
            object.insert(identifier.clone(), Json::String(value.clone()));
        }
        Json::Object(object)
    }

    pub fn from_sentinel_json(json: &Json) -> Option<Entity> {
        let object = json.as_object()?;
        let (entity_type, _) = identifiers_of(object.get("Type")?.as_str()?)?;
        let fields = object
            .iter()
            .filter(|(key, _)| key.as_str() != "Type" && !key.starts_with('$'))
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_string())))
            .collect();
        Some(Entity { entity_type, fields })
    }

    pub fn field(&self, identifier: &str) -> Option<&str> {
        self.fields.iter().find(|(name, _)| name.eq_ignore_ascii_case(identifier)).map(|(_, v)| v.as_str())
    }

    /// The value that names the entity: what suppression and automation conditions and
    /// incident grouping compare.
    pub fn display_value(&self) -> String {
        let preferred: &[&str] = match self.entity_type {
            "Account" => &["FullName", "Name", "AadUserId", "Sid", "DisplayName"],
            "Host" => &["FullName", "HostName", "NetBiosName", "AzureID"],
            "IP" => &["Address"],
            "URL" => &["Url"],
            "FileHash" => &["Value"],
            "File" => &["Name", "Directory"],
            "Process" => &["CommandLine", "ProcessId"],
            "CloudApplication" => &["Name", "AppId"],
            "DNS" => &["DomainName"],
            "Mailbox" => &["MailboxPrimaryAddress", "Upn"],
            "AzureResource" => &["ResourceId"],
            _ => &[],
        };
        preferred
            .iter()
            .find_map(|identifier| self.field(identifier))
            .or_else(|| self.fields.first().map(|(_, v)| v.as_str()))
            .unwrap_or_default()
            .to_string()
    }

    /// `type:identifier=value;...`, the same for equal entities: grouping compares these.
    pub fn key(&self) -> String {
        let mut fields: Vec<String> =
            self.fields.iter().map(|(k, v)| format!("{}={}", k.to_ascii_lowercase(), v.to_ascii_lowercase())).collect();
        fields.sort();
        format!("{}:{}", self.entity_type, fields.join(";"))
    }

    /// The entity as Defender's incidents and alerts APIs show it.
    pub fn to_defender_json(&self) -> Json {
        let value =
            |identifier: &str| self.field(identifier).map(|v| Json::String(v.to_string())).unwrap_or(Json::Null);
        match self.entity_type {
            "Account" => {
                let full_name = self.field("FullName").unwrap_or_default();
                let (account, domain) = match full_name.split_once('@') {
                    Some((account, domain)) => (account.to_string(), Some(domain.to_string())),
                    None => (self.field("Name").unwrap_or(full_name).to_string(), None),
                };
                json!({
                    "entityType": "User",
                    "accountName": self.field("Name").map(str::to_string).unwrap_or(account),
                    "domainName": self.field("NTDomain").or(self.field("DnsDomain")).map(str::to_string).or(domain),
                    "userPrincipalName": if full_name.contains('@') { Json::String(full_name.to_string()) } else { Json::Null },
                    "userSid": value("Sid"),
                    "aadUserId": value("AadUserId"),
                })
            }
            "Host" => json!({
                "entityType": "Machine",
                "deviceDnsName": self.field("FullName").or(self.field("HostName")),
            }),
            "IP" => json!({"entityType": "Ip", "ipAddress": value("Address")}),
            "URL" => json!({"entityType": "Url", "url": value("Url")}),
            "FileHash" => {
                let algorithm = self.field("Algorithm").unwrap_or_default().to_ascii_lowercase();
                let mut object = json!({"entityType": "File"});
                object[if algorithm.is_empty() { "sha256" } else { algorithm.as_str() }] = value("Value");
                object
            }
            "File" => json!({"entityType": "File", "fileName": value("Name"), "filePath": value("Directory")}),
            "Process" => {
                json!({"entityType": "Process", "processId": value("ProcessId"), "processCommandLine": value("CommandLine")})
            }
            "Mailbox" => {
                json!({"entityType": "MailBox", "mailboxAddress": value("MailboxPrimaryAddress"), "mailboxDisplayName": value("DisplayName")})
            }
            "CloudApplication" => {
                json!({"entityType": "CloudApplication", "applicationId": value("AppId"), "applicationName": value("Name")})
            }
            "DNS" => json!({"entityType": "Url", "url": value("DomainName")}),
            "AzureResource" => json!({"entityType": "AzureResource", "resourceId": value("ResourceId")}),
            other => {
                let mut object = Map::new();
                object.insert("entityType".to_string(), Json::String(other.to_string()));
                for (identifier, value) in &self.fields {
                    object.insert(lower_first(identifier), Json::String(value.clone()));
                }
                Json::Object(object)
            }
        }
    }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(full_name: &str) -> Entity {
        Entity { entity_type: "Account", fields: vec![("FullName".to_string(), full_name.to_string())] }
    }

    #[test]
    fn entities_round_trip_through_sentinel_json_and_key_ignores_case() {
        let entity = account("Alice@Example.com");
        assert_eq!(entity.to_sentinel_json(), json!({"Type": "account", "FullName": "Alice@Example.com"}));
        assert_eq!(Entity::from_sentinel_json(&entity.to_sentinel_json()), Some(entity.clone()));
        assert_eq!(entity.key(), account("alice@example.com").key());
        assert_ne!(entity.key(), account("bob@example.com").key());
    }

    #[test]
    fn defender_shape_splits_user_principal_names() {
        let user = account("alice@example.com").to_defender_json();
        assert_eq!(user["entityType"], "User");
        assert_eq!(user["accountName"], "alice");
        assert_eq!(user["domainName"], "example.com");
        let ip = Entity { entity_type: "IP", fields: vec![("Address".to_string(), "10.0.0.1".to_string())] };
        assert_eq!(ip.to_defender_json(), json!({"entityType": "Ip", "ipAddress": "10.0.0.1"}));
        assert_eq!(identifiers_of("ip").map(|(name, _)| name), Some("IP"));
        assert!(identifiers_of("Printer").is_none());
    }
}
