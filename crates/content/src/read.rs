//! What each file of a solution is, read into items to install, or skipped with a reason.
//!
//! A file's folder says what it is where the repository's layout gives one (`Analytic Rules`,
//! `Hunting Queries`, `Parsers`, `Workbooks`, `Watchlists`, `Data Connectors`, `Package`);
//! elsewhere its content does. A file that cannot be read at all (YAML or JSON that does not
//! parse, a watchlist whose CSV is broken) is an error that stops the import; a file that reads
//! but cannot be installed (a rule that fails validation, a connector Vigil does not run) is an
//! item skipped with its reason.

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use vigil_catalog::TableSchema;
use vigil_control::{NewWatchlist, SavedFunction};
use vigil_detect::{Rule, parse_rule};

use crate::arm;
use crate::parsers::{is_parser, parse_parser};
use crate::source::SourceFile;
use crate::{ContentError, Skipped};

/// Something a solution installs into a workspace.
#[derive(Debug, Clone)]
pub enum Content {
    /// A custom table, from Azure table JSON.
    Table {
        schema: TableSchema,
        json: String,
    },
    /// A classic custom log that a legacy connector of the solution writes: its columns arrive
    /// with its data.
    ClassicTable {
        name: String,
    },
    /// A custom table the solution's parsers read but nothing of the solution defines (its
    /// connector is not installable here): its schema is unknown.
    UnknownTable {
        name: String,
    },
    Dcr {
        name: String,
        json: String,
    },
    Function(SavedFunction),
    Watchlist(NewWatchlist),
    Rule {
        rule: Box<Rule>,
        text: String,
    },
    Hunting(HuntingQuery),
    Workbook {
        name: String,
        content: Json,
    },
}

impl Content {
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Table { .. } | Content::ClassicTable { .. } | Content::UnknownTable { .. } => "table",
            Content::Dcr { .. } => "dcr",
            Content::Function(_) => "function",
            Content::Watchlist(_) => "watchlist",
            Content::Rule { .. } => "rule",
            Content::Hunting(_) => "hunting query",
            Content::Workbook { .. } => "workbook",
        }
    }

    pub fn name(&self) -> String {
        match self {
            Content::Table { schema, .. } => schema.name.clone(),
            Content::ClassicTable { name }
            | Content::UnknownTable { name }
            | Content::Dcr { name, .. }
            | Content::Workbook { name, .. } => name.clone(),
            Content::Function(function) => function.name.clone(),
            Content::Watchlist(watchlist) => watchlist.alias.clone(),
            Content::Rule { rule, .. } => rule.name.clone(),
            Content::Hunting(query) => query.name.clone(),
        }
    }
}

/// One item and the file it came from.
#[derive(Debug, Clone)]
pub struct Item {
    pub file: String,
    pub content: Content,
}

/// A hunting query: a saved query with the tactics and techniques it hunts for.
#[derive(Debug, Clone, PartialEq)]
pub struct HuntingQuery {
    pub id: String,
    pub name: String,
    pub description: String,
    pub query: String,
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    pub data_types: Vec<String>,
}

/// What the files of a solution hold.
#[derive(Debug, Default)]
pub struct Reading {
    pub items: Vec<Item>,
    pub skipped: Vec<Skipped>,
}

impl Reading {
    pub(crate) fn skip(&mut self, file: &str, kind: &'static str, name: &str, reason: impl Into<String>) {
        self.skipped.push(Skipped { file: file.to_string(), kind, name: name.to_string(), reason: reason.into() });
    }

    pub(crate) fn add(&mut self, file: &str, content: Content) {
        self.items.push(Item { file: file.to_string(), content });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rule,
    Hunting,
    Parser,
    Workbook,
    Watchlist,
    Connector,
    Package,
    Unknown,
}

fn kind_of(file: &SourceFile) -> Kind {
    for folder in file.folders().collect::<Vec<_>>().into_iter().rev() {
        let folder = folder.to_ascii_lowercase();
        let kind = match folder.as_str() {
            "analytic rules" | "analytics rules" | "detections" => Kind::Rule,
            "hunting queries" => Kind::Hunting,
            "parsers" => Kind::Parser,
            "workbooks" => Kind::Workbook,
            "watchlists" => Kind::Watchlist,
            "data connectors" => Kind::Connector,
            "package" => Kind::Package,
            _ => continue,
        };
        return kind;
    }
    Kind::Unknown
}

/// Reads every file. `Err` lists every file that could not be read; nothing is installed then.
pub fn read(files: &[SourceFile]) -> Result<Reading, Vec<ContentError>> {
    let mut reading = Reading::default();
    let mut errors = Vec::new();
    let has_sources = files.iter().any(|f| !matches!(kind_of(f), Kind::Package | Kind::Unknown));
    for file in files {
        let outcome = match kind_of(file) {
            Kind::Package if file.name().eq_ignore_ascii_case("mainTemplate.json") && has_sources => {
                reading.skip(
                    &file.path,
                    "package",
                    file.name(),
                    "the solution's source files are imported; its package holds the same content",
                );
                Ok(())
            }
            Kind::Package if file.name().eq_ignore_ascii_case("mainTemplate.json") => {
                arm::read_template(&file.path, &file.text, &mut reading)
            }
            Kind::Package => Ok(()),
            kind => read_file(file, kind, &mut reading),
        };
        if let Err(error) = outcome {
            errors.push(error);
        }
    }
    if errors.is_empty() { Ok(reading) } else { Err(errors) }
}

fn read_file(file: &SourceFile, kind: Kind, reading: &mut Reading) -> Result<(), ContentError> {
    let extension = file.extension();
    let path = file.path.as_str();
    match extension.as_str() {
        "yaml" | "yml" => {
            let document: Yaml = serde_yaml_ng::from_str(&file.text).map_err(|e| ContentError::yaml(path, &e))?;
            let kind = match kind {
                Kind::Unknown => sniff_yaml(&document),
                Kind::Parser | Kind::Rule | Kind::Hunting if is_parser(&document) => Kind::Parser,
                kind => kind,
            };
            match kind {
                Kind::Parser => reading.add(path, Content::Function(parse_parser(path, &file.text)?)),
                Kind::Rule => read_rule(path, &file.text, &document, reading),
                Kind::Hunting => read_hunting(path, &document, reading)?,
                _ => {}
            }
            Ok(())
        }
        "json" => {
            let json: Json = serde_json::from_str(&file.text).map_err(|e| ContentError::json(path, &e))?;
            let kind = if kind == Kind::Unknown { sniff_json(&json) } else { kind };
            match kind {
                Kind::Workbook => read_workbook(path, file.stem(), json, reading),
                Kind::Watchlist | Kind::Connector | Kind::Package => arm::read_resources(path, &json, reading)?,
                _ => {}
            }
            Ok(())
        }
        "txt" | "kql" if kind == Kind::Parser => {
            reading.skip(path, "function", file.stem(), "the parser's KQL text; its YAML file defines the function");
            Ok(())
        }
        _ => Ok(()),
    }
}

fn sniff_yaml(document: &Yaml) -> Kind {
    if is_parser(document) {
        Kind::Parser
    } else if document.get("query").is_some() {
        let scheduled = ["queryFrequency", "triggerOperator", "severity"].iter().any(|k| document.get(*k).is_some());
        if scheduled { Kind::Rule } else { Kind::Hunting }
    } else {
        Kind::Unknown
    }
}

fn sniff_json(json: &Json) -> Kind {
    if json.get("version").and_then(Json::as_str) == Some("Notebook/1.0") {
        Kind::Workbook
    } else if json.get("resources").is_some()
        || json.pointer("/properties/schema").is_some()
        || json.pointer("/properties/dataFlows").is_some()
        || json.is_array()
    {
        Kind::Package
    } else {
        Kind::Unknown
    }
}

fn read_rule(path: &str, text: &str, document: &Yaml, reading: &mut Reading) {
    let name = document.get("name").and_then(Yaml::as_str).unwrap_or_default().to_string();
    match parse_rule(path, text) {
        Ok(rule) => reading.add(path, Content::Rule { rule: Box::new(rule), text: text.to_string() }),
        Err(error) => {
            let problems: Vec<String> = error.problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect();
            reading.skip(path, "rule", &name, problems.join("; "));
        }
    }
}

fn read_hunting(path: &str, document: &Yaml, reading: &mut Reading) -> Result<(), ContentError> {
    let text = |key: &str| document.get(key).and_then(Yaml::as_str).map(str::trim).unwrap_or_default().to_string();
    let list = |key: &str| -> Vec<String> {
        document
            .get(key)
            .and_then(Yaml::as_sequence)
            .map(|items| items.iter().filter_map(Yaml::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let query = text("query");
    if query.is_empty() {
        return Err(ContentError::new(path, "query", "is required"));
    }
    let name = text("name");
    if name.is_empty() {
        return Err(ContentError::new(path, "name", "is required"));
    }
    let data_types = document
        .get("requiredDataConnectors")
        .and_then(Yaml::as_sequence)
        .map(|connectors| {
            connectors
                .iter()
                .filter_map(|c| c.get("dataTypes").and_then(Yaml::as_sequence))
                .flatten()
                .filter_map(Yaml::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut techniques = list("relevantTechniques");
    techniques.extend(list("techniques"));
    let id = match text("id") {
        id if id.is_empty() => stable_id("hunting", &name),
        id => id,
    };
    reading.add(
        path,
        Content::Hunting(HuntingQuery {
            id,
            name,
            description: text("description").trim_matches('\'').trim().to_string(),
            query,
            tactics: list("tactics"),
            techniques,
            data_types,
        }),
    );
    Ok(())
}

/// The KQL of a hunting query file, if it has one.
pub fn hunting_query_text(text: &str) -> Option<String> {
    let document: Yaml = serde_yaml_ng::from_str(text).ok()?;
    document.get("query").and_then(Yaml::as_str).map(str::to_string)
}

/// An id for content that has none: `kind-` and a hash of its name, stable for the same name.
pub(crate) fn stable_id(kind: &str, name: &str) -> String {
    let hash = name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    format!("{kind}-{hash:016x}")
}

pub(crate) fn read_workbook(path: &str, name: &str, json: Json, reading: &mut Reading) {
    if is_workbooks_metadata(&json) {
        reading.skip(
            path,
            "package",
            name,
            "the packaging tool's description of the solution's workbooks (titles, logos, dependencies), not a workbook",
        );
        return;
    }
    if json.get("version").and_then(Json::as_str) != Some("Notebook/1.0") || !json["items"].is_array() {
        reading.skip(
            path,
            "workbook",
            name,
            "not an Azure Workbooks document (no \"version\": \"Notebook/1.0\" with items)",
        );
        return;
    }
    reading.add(path, Content::Workbook { name: name.to_string(), content: json });
}

/// `Workbooks/WorkbooksMetadata.json`: an array with one entry per workbook, keyed `workbookKey`.
fn is_workbooks_metadata(json: &Json) -> bool {
    json.as_array().is_some_and(|entries| !entries.is_empty() && entries.iter().all(|e| e.get("workbookKey").is_some()))
}

/// The `_CL` tables a rule or hunting query says its connectors write.
pub fn declared_custom_tables(content: &Content) -> Vec<String> {
    let data_types: Vec<String> = match content {
        Content::Rule { rule, .. } => {
            rule.required_data_connectors.iter().flat_map(|c| c.data_types.iter().cloned()).collect()
        }
        Content::Hunting(query) => query.data_types.clone(),
        _ => Vec::new(),
    };
    data_types.into_iter().filter(|t| is_custom_log_name(t)).collect()
}

/// A custom log's name: `Name_CL`, nothing else in it.
pub fn is_custom_log_name(name: &str) -> bool {
    name.len() > 3 && name.ends_with("_CL") && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile { path: path.to_string(), text: text.to_string() }
    }

    #[test]
    fn a_solutions_workbook_metadata_is_packaging_not_a_broken_workbook() {
        let files = [
            file("Solutions/X/Workbooks/WorkbooksMetadata.json", r#"[{"workbookKey": "XWorkbook", "version": "1.0"}]"#),
            file("Solutions/X/Workbooks/XWorkbook.json", r#"{"version": "Notebook/1.0", "items": []}"#),
            file("Solutions/X/Workbooks/Broken.json", r#"{"version": "Notebook/1.0"}"#),
        ];
        let reading = read(&files).expect("every file reads");
        let skipped: Vec<(&str, &str)> = reading.skipped.iter().map(|s| (s.kind, s.name.as_str())).collect();
        assert_eq!(skipped, [("package", "WorkbooksMetadata"), ("workbook", "Broken")]);
        assert!(
            matches!(&reading.items[..], [Item { content: Content::Workbook { name, .. }, .. }] if name == "XWorkbook")
        );
    }
}
