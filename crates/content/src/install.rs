//! Importing content into a workspace: read every file, check every item against the
//! workspace as it will be once the import's own tables, functions and watchlists are in it,
//! then write what passed. Nothing is written when a file cannot be read (or, with `strict`,
//! when anything is skipped).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value as Json, json};
use vigil_catalog::{Definitions, MemoryCatalog, OpenColumns, WatchlistSchema, WorkspaceCatalog};
use vigil_control::{Control, Workspace};
use vigil_detect::{Detection, validate_query};
use vigil_kql::Engine;

use crate::read::{Content, Item, declared_custom_tables, is_custom_log_name, read};
use crate::source::SourceFile;
use crate::{ContentError, Skipped, check_transform};

/// Where content is imported to, and who imports it.
pub struct Target<'a> {
    pub control: &'a Control,
    pub detection: &'a Detection,
    pub workspace: &'a Workspace,
    /// Where sources reach the server, for the ingestion URLs of DCRs.
    pub origin: &'a str,
    pub actor: &'a str,
    /// Rules are saved enabled or disabled; `None` keeps a replaced rule's state (new ones run).
    pub rules_enabled: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Installed,
    Skipped,
    /// Installed, with something the user should know.
    Note,
}

/// One line of an import's report: an item installed or skipped, and why.
#[derive(Debug, Clone, Serialize)]
pub struct ReportLine {
    pub status: Status,
    pub kind: String,
    pub name: String,
    pub file: String,
    pub detail: String,
    /// The item's own id, for the kinds that have one (rules, hunting queries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub lines: Vec<ReportLine>,
    /// The ingestion URL of each stream of each DCR installed.
    pub dcrs: Vec<Json>,
}

impl Report {
    pub fn installed(&self) -> usize {
        self.lines.iter().filter(|l| l.status == Status::Installed).count()
    }

    pub fn skipped(&self) -> usize {
        self.lines.iter().filter(|l| l.status == Status::Skipped).count()
    }

    /// One line per item, for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            let status = match line.status {
                Status::Installed => "installed",
                Status::Skipped => "skipped",
                Status::Note => "note",
            };
            let detail = if line.detail.is_empty() { String::new() } else { format!(": {}", line.detail) };
            out.push_str(&format!("{status:<9} {:<13} {} ({}){detail}\n", line.kind, line.name, line.file));
        }
        out.push_str(&format!("{} installed, {} skipped\n", self.installed(), self.skipped()));
        out
    }

    fn push(&mut self, status: Status, kind: &str, name: &str, file: &str, detail: impl Into<String>) {
        self.lines.push(ReportLine {
            status,
            kind: kind.to_string(),
            name: name.to_string(),
            file: file.to_string(),
            detail: detail.into(),
            id: None,
        });
    }

    /// Marks the line just pushed with its item's id.
    fn with_id(&mut self, id: &str) {
        if let Some(line) = self.lines.last_mut() {
            line.id = Some(id.to_string());
        }
    }
}

/// Why an import wrote nothing.
#[derive(Debug)]
pub enum ImportError {
    /// Files that cannot be read: each with its file, field and reason.
    Unreadable(Vec<ContentError>),
    /// A strict import with items that would be skipped.
    Skipped(Report),
    /// The pack's own files cannot be read (a defect of the build that embedded it).
    Pack(String),
    /// Reading the workspace's definitions or writing an item into the workspace failed.
    Workspace { item: String, source: WriteError },
}

/// What refused, or failed, to write an item.
#[derive(Debug)]
pub enum WriteError {
    Control(vigil_control::ControlError),
    Detection(vigil_detect::DetectionError),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Control(e) => write!(f, "{e}"),
            WriteError::Detection(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteError::Control(e) => Some(e),
            WriteError::Detection(e) => Some(e),
        }
    }
}

impl From<vigil_control::ControlError> for WriteError {
    fn from(error: vigil_control::ControlError) -> WriteError {
        WriteError::Control(error)
    }
}

impl From<vigil_detect::DetectionError> for WriteError {
    fn from(error: vigil_detect::DetectionError) -> WriteError {
        WriteError::Detection(error)
    }
}

/// How a failure to write `item` is reported.
fn failed<E: Into<WriteError>>(item: &Item) -> impl FnOnce(E) -> ImportError {
    let item = format!("{} '{}' ({})", item.content.kind(), item.content.name(), item.file);
    move |error| ImportError::Workspace { item, source: error.into() }
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Unreadable(errors) => {
                writeln!(f, "nothing was imported: {} file(s) cannot be read", errors.len())?;
                for error in errors {
                    writeln!(f, "  {error}")?;
                }
                Ok(())
            }
            ImportError::Skipped(report) => {
                write!(
                    f,
                    "nothing was imported: {} item(s) would be skipped (strict import)\n{}",
                    report.skipped(),
                    report.render()
                )
            }
            ImportError::Pack(message) => write!(f, "the pack cannot be read: {message}"),
            ImportError::Workspace { item, source } => write!(f, "{item}: {source}"),
        }
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImportError::Workspace { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The table JSON of a custom log the content reads without defining: a classic custom log
/// has the columns the HTTP Data Collector API gives every such table, and the rest come with
/// its data, named with their type's suffix; a table of unknown schema has only the columns
/// every table has.
fn inferred_table_json(name: &str, open: OpenColumns) -> String {
    let mut columns: Vec<(&str, &str)> =
        vec![("TimeGenerated", "datetime"), ("TenantId", "string"), ("Type", "string")];
    if open == OpenColumns::Suffixed {
        columns.extend([
            ("SourceSystem", "string"),
            ("Computer", "string"),
            ("RawData", "string"),
            ("ManagementGroupName", "string"),
            ("MG", "string"),
            ("_ResourceId", "string"),
        ]);
    }
    let columns: Vec<Json> = columns.iter().map(|(column, ty)| json!({"name": column, "type": ty})).collect();
    let mut schema = json!({"name": name, "columns": columns});
    match open {
        OpenColumns::Suffixed => schema["tableSubType"] = json!("Classic"),
        other => schema["vigilOpenColumns"] = json!(other.stored_name()),
    }
    json!({"name": name, "properties": {"schema": schema}}).to_string()
}

/// Imports content files into a workspace.
pub async fn import(files: &[SourceFile], target: &Target<'_>, strict: bool) -> Result<Report, ImportError> {
    let reading = read(files).map_err(ImportError::Unreadable)?;
    let mut report = Report::default();
    for Skipped { file, kind, name, reason } in &reading.skipped {
        report.push(Status::Skipped, kind, name, file, reason.clone());
    }
    let mut definitions = target
        .control
        .definitions(&target.workspace.id)
        .await
        .map_err(|e| ImportError::Workspace { item: "the workspace's definitions".to_string(), source: e.into() })?;
    let mut items = without_duplicates(reading.items, &mut report);
    add_classic_tables(&mut items, &definitions);

    // The workspace as it will be: the import's tables, functions and watchlists added.
    let mut accepted: Vec<Item> = Vec::new();
    let mut pending_tables: Vec<String> = Vec::new();
    for item in &items {
        let table = match &item.content {
            Content::Table { json, .. } => Some(json.clone()),
            Content::ClassicTable { name } => Some(inferred_table_json(name, OpenColumns::Suffixed)),
            Content::UnknownTable { name } => Some(inferred_table_json(name, OpenColumns::Unknown)),
            _ => None,
        };
        if let Some(json) = table {
            match target.control.check_table(&target.workspace.id, &json).await {
                Ok((schema, _)) => {
                    pending_tables.push(schema.name.clone());
                    definitions.tables.insert(schema.name.clone(), schema);
                    accepted.push(item.clone());
                }
                Err(error) => {
                    report.push(Status::Skipped, "table", &item.content.name(), &item.file, error.to_string())
                }
            }
        }
    }
    for item in &items {
        match &item.content {
            Content::Function(function) => {
                if let Err(problem) = crate::check_function(function) {
                    report.push(Status::Skipped, "function", &function.name, &item.file, problem);
                    continue;
                }
                for name in function.names() {
                    definitions.functions.insert(name.to_string(), Arc::new(function.as_function(name)));
                }
                accepted.push(item.clone());
            }
            Content::Watchlist(watchlist) => {
                let columns = vigil_control::parse_csv(
                    &watchlist.raw_content,
                    watchlist.lines_to_skip,
                    &watchlist.items_search_key,
                )
                .map(|(columns, _)| columns)
                .unwrap_or_default();
                let schema = WatchlistSchema {
                    alias: watchlist.alias.clone(),
                    search_key: watchlist.items_search_key.clone(),
                    columns,
                };
                definitions.watchlists.insert(watchlist.alias.clone(), Arc::new(schema));
                accepted.push(item.clone());
            }
            _ => {}
        }
    }
    let definitions = Arc::new(definitions);
    let catalog = WorkspaceCatalog::new(Arc::new(MemoryCatalog::new()), definitions.clone());
    let engine = Engine::new();
    let mut rule_ids: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in &items {
        match &item.content {
            Content::Dcr { json, name } => {
                match target.control.check_dcr(&target.workspace.id, json, &check_transform, &pending_tables).await {
                    Ok(_) => accepted.push(item.clone()),
                    Err(error) => report.push(Status::Skipped, "dcr", name, &item.file, error.to_string()),
                }
            }
            Content::Rule { rule, .. } => {
                if let Some(first) = rule_ids.get(&rule.id) {
                    report.push(
                        Status::Skipped,
                        "rule",
                        &rule.name,
                        &item.file,
                        format!("its id {} is already used by '{first}' in this import", rule.id),
                    );
                    continue;
                }
                match validate_query(&engine, rule, &catalog, &item.file) {
                    Ok(validated) => {
                        rule_ids.insert(rule.id.clone(), rule.name.clone());
                        let noticed =
                            validated.warnings.iter().map(|w| format!("{}: {}", w.field, w.message)).collect();
                        warnings.insert(item.file.clone(), noticed);
                        accepted.push(item.clone());
                    }
                    Err(error) => {
                        let problems: Vec<String> =
                            error.problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect();
                        report.push(Status::Skipped, "rule", &rule.name, &item.file, problems.join("; "));
                    }
                }
            }
            Content::Hunting(_) | Content::Workbook { .. } => accepted.push(item.clone()),
            _ => {}
        }
    }
    if strict && report.skipped() > 0 {
        return Err(ImportError::Skipped(report));
    }
    install(&accepted, target, &engine, &catalog, &definitions, &warnings, &mut report).await?;
    Ok(report)
}

/// The items with the first of each name kept: a solution may define a DCR both in its own
/// file and in a connector template. Two hunting queries that share an id but not a name (a
/// copy whose id was not changed) are both kept, the second under an id of its own.
fn without_duplicates(items: Vec<Item>, report: &mut Report) -> Vec<Item> {
    let mut kept: Vec<Item> = Vec::new();
    for mut item in items {
        if let Content::Hunting(query) = &mut item.content
            && let Some(first) = kept
                .iter()
                .find(|other| matches!(&other.content, Content::Hunting(o) if o.id == query.id && o.name != query.name))
        {
            let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("{}/{}", query.id, item.file).as_bytes());
            let detail = format!("its id {} is also {}'s; saved as {id}", query.id, first.file);
            query.id = id.to_string();
            report.push(Status::Note, "hunting query", &query.name, &item.file, detail);
        }
        let key = |i: &Item| match &i.content {
            Content::Rule { .. } => None,
            Content::Hunting(query) => Some(("hunting query", query.id.clone())),
            content => Some((content.kind(), content.name())),
        };
        match key(&item).and_then(|k| kept.iter().find(|other| key(other).as_ref() == Some(&k))) {
            Some(first) => {
                let detail = format!("also defined by {}, which is installed", first.file);
                report.push(Status::Skipped, item.content.kind(), &item.content.name(), &item.file, detail);
            }
            None => kept.push(item),
        }
    }
    kept
}

/// The classic custom logs the content needs and does not define: those its legacy connectors
/// write, and those its rules and hunting queries say their connectors write.
fn add_classic_tables(items: &mut Vec<Item>, definitions: &Definitions) {
    let mut defined: Vec<String> = Vec::new();
    for item in items.iter() {
        match &item.content {
            Content::Table { schema, .. } => defined.push(schema.name.clone()),
            Content::Dcr { json, .. } => {
                if let Ok(dcr) = vigil_control::parse_dcr(json) {
                    defined.extend(dcr.flows.iter().map(|flow| flow.table.clone()));
                }
            }
            _ => {}
        }
    }
    // Declared by a legacy connector or by a rule's data types: a classic custom log. Read by a
    // parser only: a table whose schema the content does not give.
    let mut wanted: Vec<(String, String, bool)> = Vec::new();
    for item in items.iter() {
        let (names, declared) = match &item.content {
            Content::ClassicTable { name } => (vec![name.clone()], true),
            Content::Function(function) => (custom_logs_named(&function.body), false),
            content => (declared_custom_tables(content), true),
        };
        for name in names {
            if defined.contains(&name) || definitions.table(&name).is_some() {
                continue;
            }
            match wanted.iter_mut().find(|(n, _, _)| *n == name) {
                Some(entry) => entry.2 |= declared,
                None => wanted.push((name, item.file.clone(), declared)),
            }
        }
    }
    items.retain(|item| !matches!(item.content, Content::ClassicTable { .. } | Content::UnknownTable { .. }));
    for (name, file, declared) in wanted.into_iter().rev() {
        let content = if declared { Content::ClassicTable { name } } else { Content::UnknownTable { name } };
        items.insert(0, Item { file, content });
    }
}

async fn install(
    accepted: &[Item],
    target: &Target<'_>,
    engine: &Engine,
    catalog: &WorkspaceCatalog,
    definitions: &Definitions,
    warnings: &BTreeMap<String, Vec<String>>,
    report: &mut Report,
) -> Result<(), ImportError> {
    let workspace = target.workspace;
    // Tables first: DCRs write to them and queries read them.
    for item in accepted {
        let (json, detail) = match &item.content {
            Content::Table { json, .. } => (json.clone(), String::new()),
            Content::ClassicTable { name } => (
                inferred_table_json(name, OpenColumns::Suffixed),
                "a classic custom log: its columns come with its data, named with their type's suffix".to_string(),
            ),
            Content::UnknownTable { name } => (
                inferred_table_json(name, OpenColumns::Unknown),
                "read by the solution's parsers, defined by none of its files: any column name reads as empty \
                 until data arrives"
                    .to_string(),
            ),
            _ => continue,
        };
        target.control.put_table(&workspace.id, &json).await.map_err(failed(item))?;
        report.push(Status::Installed, "table", &item.content.name(), &item.file, detail);
    }
    for item in accepted {
        match &item.content {
            Content::Function(function) => {
                target.control.put_function(&workspace.id, function).await.map_err(failed(item))?;
                let detail = if function.aliases.is_empty() {
                    String::new()
                } else {
                    format!("also called {}", function.aliases.join(", "))
                };
                report.push(Status::Installed, "function", &function.name, &item.file, detail);
            }
            Content::Watchlist(watchlist) => {
                let saved =
                    target.control.put_watchlist(&workspace.id, watchlist, target.actor).await.map_err(failed(item))?;
                report.push(
                    Status::Installed,
                    "watchlist",
                    &watchlist.alias,
                    &item.file,
                    format!(
                        "'{}', {} items, search key {}",
                        saved.display_name, saved.item_count, saved.items_search_key
                    ),
                );
            }
            _ => {}
        }
    }
    for item in accepted {
        let Content::Dcr { json, name } = &item.content else { continue };
        let dcr = target.control.put_dcr(&workspace.id, json, &check_transform).await.map_err(failed(item))?;
        let mut urls = Vec::new();
        for stream in dcr.definition.streams.keys() {
            let url = format!(
                "{}/dataCollectionRules/{}/streams/{stream}?api-version=2023-01-01",
                target.origin, dcr.immutable_id
            );
            report
                .dcrs
                .push(json!({"name": name, "immutableId": dcr.immutable_id, "stream": stream, "ingestionUrl": url}));
            urls.push(url);
        }
        report.push(Status::Installed, "dcr", name, &item.file, urls.join(" "));
    }
    for item in accepted {
        match &item.content {
            Content::Rule { rule, text } => {
                target
                    .detection
                    .put_rule(&workspace.tenant_id, &workspace.id, rule, text, target.rules_enabled)
                    .await
                    .map_err(failed(item))?;
                report.push(
                    Status::Installed,
                    "rule",
                    &rule.name,
                    &item.file,
                    format!("{} {}", rule.kind.as_str(), rule.id),
                );
                report.with_id(&rule.id);
                for warning in warnings.get(&item.file).into_iter().flatten() {
                    report.push(
                        Status::Note,
                        "rule",
                        &rule.name,
                        &item.file,
                        format!("{warning}: its alerts go without it"),
                    );
                }
                for alias in watchlists_read(&rule.query) {
                    if !definitions.watchlists.contains_key(&alias) {
                        report.push(
                            Status::Note,
                            "rule",
                            &rule.name,
                            &item.file,
                            format!(
                                "reads watchlist '{alias}', which the workspace does not have: it finds nothing until \
                             a watchlist with that alias is created"
                            ),
                        );
                    }
                }
            }
            Content::Hunting(query) => {
                let content = json!({
                    "name": query.name,
                    "query": query.query,
                    "description": query.description,
                    "category": "Hunting Queries",
                    "tactics": query.tactics,
                    "techniques": query.techniques,
                    "source": item.file,
                });
                target.detection.put_saved_query(&workspace.id, &query.id, &content).await.map_err(failed(item))?;
                let checked = crate::hunting::with_time_range(&query.query, 0, 0);
                match engine.check(&checked, catalog, false) {
                    Ok(_) => report.push(Status::Installed, "hunting query", &query.name, &item.file, ""),
                    Err(error) => report.push(
                        Status::Note,
                        "hunting query",
                        &query.name,
                        &item.file,
                        format!(
                            "installed, but it does not bind yet: {}",
                            error.to_string().lines().next().unwrap_or_default()
                        ),
                    ),
                }
                report.with_id(&query.id);
            }
            Content::Workbook { name, content } => {
                target.detection.put_workbook(&workspace.id, name, content).await.map_err(failed(item))?;
                report.push(Status::Installed, "workbook", name, &item.file, "");
            }
            _ => {}
        }
    }
    Ok(())
}

/// The custom log names (`X_CL`) a query names, in order, once each.
fn custom_logs_named(query: &str) -> Vec<String> {
    let (tokens, _) = vigil_kql_syntax::lexer::tokenize(query);
    let mut names: Vec<String> = Vec::new();
    for token in tokens.iter().filter(|t| t.kind == vigil_kql_syntax::lexer::TokenKind::Ident) {
        let name = &query[token.span.range()];
        if is_custom_log_name(name) && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// The watchlist aliases a query reads with `_GetWatchlist('alias')`.
pub fn watchlists_read(query: &str) -> Vec<String> {
    let mut aliases = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("_GetWatchlist") {
        rest = &rest[at + "_GetWatchlist".len()..];
        let after = rest.trim_start().strip_prefix('(').map(str::trim_start).unwrap_or("");
        let Some(quote) = after.chars().next().filter(|c| *c == '\'' || *c == '"') else { continue };
        if let Some(end) = after[1..].find(quote) {
            let alias = after[1..1 + end].to_string();
            if !aliases.contains(&alias) {
                aliases.push(alias);
            }
        }
    }
    aliases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchlists_a_query_reads_are_found() {
        let query = "let w = _GetWatchlist('VIP') | project SearchKey;\nT | join (_GetWatchlist( \"High Value\" )) on x\n| where y in (_GetWatchlist('VIP'))";
        assert_eq!(watchlists_read(query), ["VIP", "High Value"]);
        assert!(watchlists_read("_GetWatchlist(alias)").is_empty());
    }
}
