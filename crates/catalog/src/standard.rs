//! The standard tables of an Azure Monitor Logs workspace, embedded: every workspace has them,
//! empty until data arrives, as a Log Analytics workspace does.
//!
//! `data/standard-tables.tsv` is Microsoft's table reference as data (`data/build.py` writes it
//! from the documented schemas). What the reference leaves out is added here, because a
//! workspace answers to it: the standard columns every table has (`TenantId`, `TimeGenerated`,
//! `Type`, `_ItemId`), `Timestamp` on the Defender XDR tables, which Sentinel's copies of them
//! carry beside `TimeGenerated` so that advanced-hunting queries run unchanged, and the few
//! columns of `data/standard-columns-supplement.tsv`, each with the Microsoft content that
//! reads it.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use vigil_kql_functions::{KqlColumn, KqlType};

use crate::open::OpenColumns;
use crate::schema::TableSchema;

const TABLES: &str = include_str!("../data/standard-tables.tsv");
/// Columns the reference pages omit, with the Microsoft content that reads each.
const SUPPLEMENT: &str = include_str!("../data/standard-columns-supplement.tsv");

/// Columns every Log Analytics table has (its standard columns), whether or not its reference
/// page lists them. `_ItemId` identifies a row; ingestion gives each row one.
pub const SYSTEM_COLUMNS: [(&str, KqlType); 4] = [
    ("TenantId", KqlType::String),
    ("TimeGenerated", KqlType::DateTime),
    ("Type", KqlType::String),
    ("_ItemId", KqlType::String),
];

/// The Defender XDR advanced-hunting tables that the Defender connector streams into a
/// workspace: their event time is `Timestamp` in Defender and `TimeGenerated` in Sentinel.
const DEFENDER_TABLES: &[&str] = &[
    "AADSignInEventsBeta",
    "AADSpnSignInEventsBeta",
    "AlertEvidence",
    "AlertInfo",
    "BehaviorEntities",
    "BehaviorInfo",
    "CloudAppEvents",
    "DeviceEvents",
    "DeviceFileCertificateInfo",
    "DeviceFileEvents",
    "DeviceImageLoadEvents",
    "DeviceInfo",
    "DeviceLogonEvents",
    "DeviceNetworkEvents",
    "DeviceNetworkInfo",
    "DeviceProcessEvents",
    "DeviceRegistryEvents",
    "DeviceTvmSecureConfigurationAssessment",
    "DeviceTvmSoftwareInventory",
    "DeviceTvmSoftwareVulnerabilities",
    "EmailAttachmentInfo",
    "EmailEvents",
    "EmailPostDeliveryEvents",
    "EmailUrlInfo",
    "IdentityDirectoryEvents",
    "IdentityInfo",
    "IdentityLogonEvents",
    "IdentityQueryEvents",
    "UrlClickEvents",
];

/// Tables that grow a column for each type-suffixed field their sources send.
const OPEN_TABLES: &[&str] = &["AzureDiagnostics"];

static CATALOG: LazyLock<BTreeMap<String, TableSchema>> = LazyLock::new(|| {
    let mut tables: BTreeMap<String, TableSchema> = TABLES
        .lines()
        .filter(|line| !line.is_empty())
        .map(parse_line)
        .map(|schema| (schema.name.clone(), schema))
        .collect();
    for line in SUPPLEMENT.lines().filter(|line| !line.is_empty() && !line.starts_with('#')) {
        let mut fields = line.split('\t');
        let (Some(table), Some(column)) = (fields.next(), fields.next()) else { continue };
        let (name, type_name) = column.split_once(':').expect("column:type");
        let schema = tables.get_mut(table).expect("the supplement adds to documented tables");
        if schema.column(name).is_none() {
            schema.columns.push(KqlColumn::new(name, KqlType::from_name(type_name).expect("a known type")));
        }
    }
    tables
});

fn parse_line(line: &str) -> TableSchema {
    let mut fields = line.split('\t');
    let name = fields.next().expect("a table name").to_string();
    let mut columns: Vec<KqlColumn> = fields
        .map(|field| {
            let (column, type_name) = field.split_once(':').expect("column:type");
            KqlColumn::new(column, KqlType::from_name(type_name).expect("build.py writes known types"))
        })
        .collect();
    for (system, ty) in SYSTEM_COLUMNS {
        if !columns.iter().any(|c| c.name == system) {
            columns.push(KqlColumn::new(system, ty));
        }
    }
    if DEFENDER_TABLES.contains(&name.as_str()) && !columns.iter().any(|c| c.name == "Timestamp") {
        columns.push(KqlColumn::new("Timestamp", KqlType::DateTime));
    }
    let open = OPEN_TABLES.contains(&name.as_str()).then_some(OpenColumns::Suffixed);
    TableSchema { name, columns, open }
}

/// A standard table's schema.
pub fn table(name: &str) -> Option<&'static TableSchema> {
    CATALOG.get(name)
}

/// Every standard table, by name.
pub fn tables() -> impl Iterator<Item = &'static TableSchema> {
    CATALOG.values()
}

/// A schema given for a table that is also standard (a `--schema` file, a solution's table
/// JSON), as a workspace has it: the given columns, then the standard table's columns the given
/// schema leaves out, open if either is. A standard table does not lose columns because a
/// description of it lists fewer.
pub fn complete(schema: &TableSchema) -> TableSchema {
    let Some(standard) = table(&schema.name) else { return schema.clone() };
    let mut columns = schema.columns.clone();
    for column in &standard.columns {
        if !columns.iter().any(|c| c.name == column.name) {
            columns.push(column.clone());
        }
    }
    TableSchema { name: schema.name.clone(), columns, open: OpenColumns::merge(schema.open, standard.open) }
}

/// Whether a table is one of Defender XDR's, which keep `Timestamp` beside `TimeGenerated`:
/// rows that carry only one of them get the other.
pub fn has_defender_timestamp(table: &str) -> bool {
    DEFENDER_TABLES.contains(&table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_table_is_there_with_its_system_columns() {
        assert!(tables().count() >= 700);
        for schema in tables() {
            for (system, ty) in SYSTEM_COLUMNS {
                assert!(
                    schema.columns.iter().any(|c| c.name == system && c.ty == ty),
                    "{} lacks {system}",
                    schema.name
                );
            }
            let mut names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), schema.columns.len(), "{} repeats a column", schema.name);
        }
        let supplemented = table("SecurityEvent").and_then(|t| t.column("EventOriginId"));
        assert_eq!(supplemented.map(|c| c.ty), Some(KqlType::String));
        let syslog = table("Syslog").expect("Syslog");
        assert_eq!(syslog.column("SyslogMessage").map(|c| c.ty), Some(KqlType::String));
        assert_eq!(syslog.column("ProcessID").map(|c| c.ty), Some(KqlType::Int));
    }

    #[test]
    fn azure_diagnostics_is_open_and_has_the_columns_every_table_has() {
        let diagnostics = table("AzureDiagnostics").expect("AzureDiagnostics");
        assert_eq!(diagnostics.open, Some(OpenColumns::Suffixed));
        assert!(diagnostics.column("TimeGenerated").is_some() && diagnostics.column("ResourceProvider").is_some());
        assert_eq!(table("Syslog").unwrap().open, None);
    }

    #[test]
    fn a_shorter_description_of_a_standard_table_keeps_its_columns_and_openness() {
        let given = TableSchema::new(
            "DeviceEvents",
            vec![KqlColumn::new("TimeGenerated", KqlType::DateTime), KqlColumn::new("Extra", KqlType::Long)],
        );
        let completed = complete(&given);
        assert_eq!(completed.columns[..2], given.columns[..]);
        assert!(completed.column("Timestamp").is_some() && completed.column("DeviceName").is_some());
        let diagnostics = complete(&TableSchema::new("AzureDiagnostics", vec![]));
        assert_eq!(diagnostics.open, Some(OpenColumns::Suffixed));
        let custom = TableSchema::new("Custom_CL", vec![KqlColumn::new("TimeGenerated", KqlType::DateTime)]);
        assert_eq!(complete(&custom), custom);
    }

    #[test]
    fn defender_tables_have_timestamp_beside_time_generated() {
        let events = table("DeviceProcessEvents").expect("DeviceProcessEvents");
        assert!(has_defender_timestamp(&events.name));
        assert!(!has_defender_timestamp("SigninLogs"));
        assert!(has_defender_timestamp("AlertInfo"));
    }
}
