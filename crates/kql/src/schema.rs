//! Table schemas in Azure's table JSON (`{"name", "properties": {"schema": {"columns": [...]}}}`),
//! the format of Log Analytics' table API and of Sentinel solutions.

use std::path::Path;

use serde_json::Value as Json;
use vigil_kql_functions::{KqlColumn, KqlType};

/// A table's name and columns.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub name: String,
    pub columns: Vec<KqlColumn>,
}

impl TableSchema {
    /// Other names for columns. Defender's advanced hunting calls the event time `Timestamp`
    /// where Sentinel's copies of its tables have `TimeGenerated`; hunting queries written for
    /// Defender work here because `Timestamp` resolves to `TimeGenerated` in those tables.
    pub fn aliases(&self) -> Vec<(String, String)> {
        let has = |name: &str| self.columns.iter().any(|c| c.name == name);
        if is_defender_table(&self.name) && has("TimeGenerated") && !has("Timestamp") {
            vec![("Timestamp".to_string(), "TimeGenerated".to_string())]
        } else {
            Vec::new()
        }
    }
}

/// Tables that Microsoft Defender XDR's advanced hunting has, and Sentinel receives from it.
fn is_defender_table(name: &str) -> bool {
    ["Device", "Email", "Identity", "Alert", "Behavior"].iter().any(|prefix| name.starts_with(prefix))
        || ["CloudAppEvents", "UrlClickEvents", "AADSignInEventsBeta", "AADSpnSignInEventsBeta"].contains(&name)
}

/// Reads one table schema from Azure table JSON; errors say which part is wrong.
pub fn parse_table_json(text: &str) -> Result<TableSchema, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let schema = json.pointer("/properties/schema").or_else(|| json.get("schema")).unwrap_or(&json);
    let name = schema
        .get("name")
        .or_else(|| json.get("name"))
        .and_then(Json::as_str)
        .ok_or("the table has no \"name\"")?
        .to_string();
    let columns = schema.get("columns").and_then(Json::as_array).ok_or("the table schema has no \"columns\" array")?;
    let mut result = Vec::with_capacity(columns.len());
    for (index, column) in columns.iter().enumerate() {
        let column_name = column.get("name").and_then(Json::as_str).ok_or(format!("column {index} has no \"name\""))?;
        let type_name =
            column.get("type").and_then(Json::as_str).ok_or(format!("column '{column_name}' has no \"type\""))?;
        let ty =
            KqlType::from_name(type_name).ok_or(format!("column '{column_name}' has unknown type '{type_name}'"))?;
        result.push(KqlColumn::new(column_name, ty));
    }
    Ok(TableSchema { name, columns: result })
}

/// Reads a schema file, or every `.json` file of a folder.
pub fn load_schemas(path: &Path) -> Result<Vec<TableSchema>, String> {
    let files: Vec<std::path::PathBuf> = if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            parse_table_json(&text).map_err(|e| format!("{}: {e}", file.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_azure_table_json() {
        let schema = parse_table_json(r#"{"name":"T_CL","properties":{"schema":{"name":"T_CL","columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"Data","type":"dynamic"}]}}}"#).unwrap();
        assert_eq!(schema.name, "T_CL");
        assert_eq!(schema.columns[1], KqlColumn::new("Data", KqlType::Dynamic));
    }

    #[test]
    fn defender_tables_answer_to_timestamp() {
        let schema = |name: &str| TableSchema {
            name: name.into(),
            columns: vec![KqlColumn::new("TimeGenerated", KqlType::DateTime)],
        };
        assert_eq!(schema("DeviceLogonEvents").aliases(), [("Timestamp".to_string(), "TimeGenerated".to_string())]);
        assert!(schema("SigninLogs").aliases().is_empty());
    }

    #[test]
    fn says_what_is_wrong() {
        assert!(parse_table_json("{").unwrap_err().contains("not valid JSON"));
        assert!(
            parse_table_json(r#"{"name":"T","properties":{"schema":{"columns":[{"name":"x","type":"varchar"}]}}}"#)
                .unwrap_err()
                .contains("unknown type 'varchar'")
        );
    }
}
