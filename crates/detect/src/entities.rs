//! Entities: what an alert is about (accounts, hosts, addresses, files...), mapped from query
//! columns with Sentinel's entity types and identifiers, and shown in Defender's shape.

use serde_json::{Map, Value as Json, json};

/// An entity type of Sentinel's entity reference: its name in `entityMappings`, its `Type` in
/// an alert's `Entities` JSON, and the identifiers a mapping may use.
pub struct EntityType {
    pub name: &'static str,
    pub json_type: &'static str,
    pub identifiers: &'static [&'static str],
}

/// Sentinel's entity types and identifiers (the entity types reference), including the
/// Account's `CloudAppAccountId`, which mappings use although the table does not list it.
pub const ENTITY_TYPES: &[EntityType] = &[
    EntityType {
        name: "Account",
        json_type: "account",
        identifiers: &[
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
            "CloudAppAccountId",
        ],
    },
    EntityType {
        name: "Host",
        json_type: "host",
        identifiers: &[
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
    },
    EntityType { name: "IP", json_type: "ip", identifiers: &["Address", "AddressScope"] },
    EntityType { name: "URL", json_type: "url", identifiers: &["Url"] },
    EntityType { name: "AzureResource", json_type: "azure-resource", identifiers: &["ResourceId"] },
    EntityType {
        name: "CloudApplication",
        json_type: "cloud-application",
        identifiers: &["AppId", "Name", "InstanceName"],
    },
    EntityType { name: "DNS", json_type: "dns", identifiers: &["DomainName"] },
    EntityType { name: "File", json_type: "file", identifiers: &["Directory", "Name"] },
    EntityType { name: "FileHash", json_type: "filehash", identifiers: &["Algorithm", "Value"] },
    EntityType { name: "Malware", json_type: "malware", identifiers: &["Name", "Category"] },
    EntityType {
        name: "Process",
        json_type: "process",
        identifiers: &["ProcessId", "CommandLine", "ElevationToken", "CreationTimeUtc"],
    },
    EntityType { name: "RegistryKey", json_type: "registry-key", identifiers: &["Hive", "Key"] },
    EntityType { name: "RegistryValue", json_type: "registry-value", identifiers: &["Name", "Value", "ValueType"] },
    EntityType {
        name: "SecurityGroup",
        json_type: "security-group",
        identifiers: &["DistinguishedName", "SID", "ObjectGuid"],
    },
    EntityType {
        name: "Mailbox",
        json_type: "mailbox",
        identifiers: &["MailboxPrimaryAddress", "DisplayName", "Upn", "ExternalDirectoryObjectId", "RiskLevel"],
    },
    EntityType {
        name: "MailCluster",
        json_type: "mail-cluster",
        identifiers: &[
            "NetworkMessageIds",
            "CountByDeliveryStatus",
            "CountByThreatType",
            "CountByProtectionStatus",
            "Threats",
            "Query",
            "QueryTime",
            "MailCount",
            "IsVolumeAnomaly",
            "Source",
            "ClusterSourceIdentifier",
            "ClusterSourceType",
            "ClusterQueryStartTime",
            "ClusterQueryEndTime",
            "ClusterGroup",
        ],
    },
    EntityType {
        name: "MailMessage",
        json_type: "mail-message",
        identifiers: &[
            "Recipient",
            "Urls",
            "Threats",
            "Sender",
            "P1Sender",
            "P1SenderDisplayName",
            "P1SenderDomain",
            "SenderIP",
            "P2Sender",
            "P2SenderDisplayName",
            "P2SenderDomain",
            "ReceivedDate",
            "NetworkMessageId",
            "InternetMessageId",
            "Subject",
            "BodyFingerprintBin1",
            "BodyFingerprintBin2",
            "BodyFingerprintBin3",
            "BodyFingerprintBin4",
            "BodyFingerprintBin5",
            "AntispamDirection",
            "DeliveryAction",
            "DeliveryLocation",
            "Language",
            "ThreatDetectionMethods",
        ],
    },
    EntityType {
        name: "SubmissionMail",
        json_type: "SubmissionMail",
        identifiers: &[
            "NetworkMessageId",
            "Timestamp",
            "Recipient",
            "Sender",
            "SenderIp",
            "Subject",
            "ReportType",
            "SubmissionId",
            "SubmissionDate",
            "Submitter",
        ],
    },
];

/// An entity type by its mapping name or its JSON `Type`, matched case-insensitively as
/// Sentinel does.
pub fn entity_type(name: &str) -> Option<&'static EntityType> {
    ENTITY_TYPES.iter().find(|t| t.name.eq_ignore_ascii_case(name) || t.json_type.eq_ignore_ascii_case(name))
}

/// The identifiers of an entity type, matched case-insensitively as Sentinel does.
pub fn identifiers_of(entity_type_name: &str) -> Option<(&'static str, &'static [&'static str])> {
    entity_type(entity_type_name).map(|t| (t.name, t.identifiers))
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
        let json_type = entity_type(self.entity_type).map(|t| t.json_type).unwrap_or(self.entity_type);
        object.insert("Type".to_string(), Json::String(json_type.to_string()));
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
            .filter_map(|(key, value)| match value {
                Json::String(text) => Some((key.clone(), text.clone())),
                Json::Number(_) | Json::Bool(_) => Some((key.clone(), value.to_string())),
                _ => None,
            })
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
        assert_eq!(identifiers_of("azure-resource").map(|(name, _)| name), Some("AzureResource"));
        let resource = Entity { entity_type: "AzureResource", fields: vec![("ResourceId".into(), "/x".into())] };
        assert_eq!(resource.to_sentinel_json()["Type"], "azure-resource");
        assert!(identifiers_of("Printer").is_none());
    }
}
