//! Table schemas in Azure's table JSON (`{"name", "properties": {"schema": {"columns": [...]}}}`),
//! the format of Log Analytics' table API and of Sentinel solutions.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use vigil_kql_functions::{KqlColumn, KqlType};

use crate::open::OpenColumns;

/// A table's name and columns.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub name: String,
    pub columns: Vec<KqlColumn>,
    /// Columns the table has without listing them: a classic custom log or `AzureDiagnostics`
    /// gets a column for every type-suffixed field a source sends.
    pub open: Option<OpenColumns>,
}

impl TableSchema {
    pub fn new(name: impl Into<String>, columns: Vec<KqlColumn>) -> TableSchema {
        TableSchema { name: name.into(), columns, open: None }
    }

    pub fn column(&self, name: &str) -> Option<&KqlColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Why a table schema could not be read.
#[derive(Debug)]
pub enum SchemaError {
    Json(serde_json::Error),
    NoName,
    NoColumns,
    ColumnWithoutName { index: usize },
    ColumnWithoutType { column: String },
    UnknownType { column: String, type_name: String },
    Read { path: PathBuf, source: std::io::Error },
    InFile { path: PathBuf, source: Box<SchemaError> },
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaError::Json(e) => write!(f, "not valid JSON: {e}"),
            SchemaError::NoName => f.write_str("the table has no \"name\""),
            SchemaError::NoColumns => f.write_str("the table schema has no \"columns\" array"),
            SchemaError::ColumnWithoutName { index } => write!(f, "column {index} has no \"name\""),
            SchemaError::ColumnWithoutType { column } => write!(f, "column '{column}' has no \"type\""),
            SchemaError::UnknownType { column, type_name } => {
                write!(f, "column '{column}' has unknown type '{type_name}'")
            }
            SchemaError::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            SchemaError::InFile { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for SchemaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SchemaError::Json(e) => Some(e),
            SchemaError::Read { source, .. } => Some(source),
            SchemaError::InFile { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// Reads one table schema from Azure table JSON; errors say which part is wrong. A table whose
/// `tableSubType` is `Classic` (a custom log of the HTTP Data Collector API) is open to
/// type-suffixed columns.
pub fn parse_table_json(text: &str) -> Result<TableSchema, SchemaError> {
    let json: Json = serde_json::from_str(text).map_err(SchemaError::Json)?;
    table_from_json(&json)
}

/// The schema of a parsed Azure table resource (or of its `properties.schema` alone).
pub fn table_from_json(json: &Json) -> Result<TableSchema, SchemaError> {
    let schema = json.pointer("/properties/schema").or_else(|| json.get("schema")).unwrap_or(json);
    let name = schema.get("name").or_else(|| json.get("name")).and_then(Json::as_str).ok_or(SchemaError::NoName)?;
    let columns = schema.get("columns").and_then(Json::as_array).ok_or(SchemaError::NoColumns)?;
    let mut result = Vec::with_capacity(columns.len());
    for (index, column) in columns.iter().enumerate() {
        let column_name = column.get("name").and_then(Json::as_str).ok_or(SchemaError::ColumnWithoutName { index })?;
        let type_name = column
            .get("type")
            .and_then(Json::as_str)
            .ok_or_else(|| SchemaError::ColumnWithoutType { column: column_name.to_string() })?;
        let ty = KqlType::from_name(type_name).ok_or_else(|| SchemaError::UnknownType {
            column: column_name.to_string(),
            type_name: type_name.to_string(),
        })?;
        result.push(KqlColumn::new(column_name, ty));
    }
    // A classic custom log (the HTTP Data Collector API's) is open to type-suffixed columns;
    // `vigilOpenColumns` records Vigil's own openness of a table (`unknown`: schema not given).
    let classic = schema.get("tableSubType").and_then(Json::as_str).is_some_and(|t| t.eq_ignore_ascii_case("Classic"));
    let open = schema
        .get("vigilOpenColumns")
        .and_then(Json::as_str)
        .and_then(OpenColumns::from_stored_name)
        .or(classic.then_some(OpenColumns::Suffixed));
    Ok(TableSchema { name: name.to_string(), columns: result, open })
}

/// Reads a schema file, or every `.json` file of a folder.
pub fn load_schemas(path: &Path) -> Result<Vec<TableSchema>, SchemaError> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let read = |source| SchemaError::Read { path: path.to_path_buf(), source };
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(read)?
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
            let text =
                std::fs::read_to_string(file).map_err(|source| SchemaError::Read { path: file.clone(), source })?;
            parse_table_json(&text).map_err(|e| SchemaError::InFile { path: file.clone(), source: Box::new(e) })
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
        assert_eq!(schema.open, None);
    }

    #[test]
    fn classic_custom_logs_are_open_to_suffixed_columns() {
        let schema = parse_table_json(r#"{"properties":{"schema":{"name":"Old_CL","tableSubType":"Classic","columns":[{"name":"TimeGenerated","type":"datetime"}]}}}"#).unwrap();
        assert_eq!(schema.open, Some(OpenColumns::Suffixed));
    }

    #[test]
    fn says_what_is_wrong() {
        assert!(parse_table_json("{").unwrap_err().to_string().contains("not valid JSON"));
        let error =
            parse_table_json(r#"{"name":"T","properties":{"schema":{"columns":[{"name":"x","type":"varchar"}]}}}"#)
                .unwrap_err();
        assert_eq!(error.to_string(), "column 'x' has unknown type 'varchar'");
        assert!(matches!(parse_table_json(r#"{"properties":{"schema":{"columns":[]}}}"#), Err(SchemaError::NoName)));
    }
}
