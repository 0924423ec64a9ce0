//! The content packs shipped with Vigil, embedded in the binary: one folder per pack under
//! `content/` with `pack.json`, `tables/`, `dcrs/`, `rules/` and `workbooks/` (see
//! `content/README.md`). `vigil content install` and the console's install button both go
//! through [`install`].

use std::path::Path;

use include_dir::{Dir, include_dir};
use serde_json::{Value as Json, json};
use vigil_control::{Control, Workspace};
use vigil_detect::{Detection, Rule, parse_rule, validate_query};
use vigil_kql::{Catalog, Engine, MemoryCatalog};

static CONTENT: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../content");

#[derive(Clone, Copy)]
pub struct Pack {
    dir: &'static Dir<'static>,
}

pub fn packs() -> impl Iterator<Item = Pack> {
    CONTENT.dirs().map(|dir| Pack { dir })
}

pub fn pack(name: &str) -> Result<Pack, String> {
    packs().find(|p| p.name() == name).ok_or_else(|| {
        let names: Vec<String> = packs().map(|p| p.name().to_string()).collect();
        format!("no content pack '{name}'; this build has {}", names.join(", "))
    })
}

impl Pack {
    pub fn name(&self) -> &'static str {
        self.dir.path().file_name().and_then(|n| n.to_str()).unwrap_or_default()
    }

    pub fn manifest(&self) -> Result<Json, String> {
        let file = self
            .dir
            .get_file(self.dir.path().join("pack.json"))
            .ok_or_else(|| format!("content pack {} has no pack.json", self.name()))?;
        serde_json::from_slice(file.contents()).map_err(|e| format!("{}: {e}", file.path().display()))
    }

    /// The files of one folder of the pack, sorted by name: `(path, text)`.
    pub fn files(&self, folder: &str, extensions: &[&str]) -> Result<Vec<(String, String)>, String> {
        let Some(dir) = self.dir.get_dir(self.dir.path().join(folder)) else {
            return Ok(Vec::new());
        };
        let mut files: Vec<(String, String)> = dir
            .files()
            .filter(|f| f.path().extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.contains(&e)))
            .map(|f| {
                let text = f.contents_utf8().ok_or_else(|| format!("{} is not UTF-8", f.path().display()))?;
                Ok((f.path().display().to_string(), text.to_string()))
            })
            .collect::<Result<_, String>>()?;
        files.sort();
        Ok(files)
    }

    fn tables(&self) -> Result<Vec<(String, String)>, String> {
        self.files("tables", &["json"])
    }
    fn dcrs(&self) -> Result<Vec<(String, String)>, String> {
        self.files("dcrs", &["json"])
    }
    fn rules(&self) -> Result<Vec<(String, String)>, String> {
        self.files("rules", &["yaml", "yml"])
    }
    fn workbooks(&self) -> Result<Vec<(String, String)>, String> {
        self.files("workbooks", &["json"])
    }

    /// The manifest's name, title, version and description, and what the pack holds by name.
    pub fn summary(&self) -> Result<Json, String> {
        let manifest = self.manifest()?;
        let table_names = self
            .tables()?
            .iter()
            .map(|(path, text)| {
                let table: Json = serde_json::from_str(text).map_err(|e| format!("{path}: {e}"))?;
                Ok(table.get("name").cloned().unwrap_or(Json::Null))
            })
            .collect::<Result<Vec<Json>, String>>()?;
        let rule_names = self
            .rules()?
            .iter()
            .map(|(path, text)| parse_rule(path, text).map(|r| json!(r.name)).map_err(|e| e.to_string()))
            .collect::<Result<Vec<Json>, String>>()?;
        Ok(json!({
            "name": manifest["name"],
            "title": manifest["title"],
            "version": manifest["version"],
            "description": manifest["description"],
            "tables": table_names,
            "dcrs": self.dcrs()?.iter().map(|(path, _)| json!(file_stem(path))).collect::<Vec<_>>(),
            "rules": rule_names,
            "workbooks": self.workbooks()?.iter().map(|(path, _)| json!(file_stem(path))).collect::<Vec<_>>(),
        }))
    }
}

fn file_stem(path: &str) -> String {
    Path::new(path).file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default()
}

/// The workspace's tables as the control database defines them (with the detection tables),
/// for binding rule queries before any row has arrived.
pub async fn workspace_catalog(control: &Control, workspace: &Workspace) -> Result<MemoryCatalog, String> {
    let mut catalog = MemoryCatalog::new();
    for table in control.tables(Some(&workspace.id)).await.map_err(|e| e.to_string())? {
        catalog.add_schema(&table.schema).map_err(|e| e.to_string())?;
    }
    for schema in [vigil_detect::SECURITY_ALERT_SCHEMA, vigil_detect::SECURITY_INCIDENT_SCHEMA] {
        let schema = vigil_kql::schema::parse_table_json(schema).map_err(|e| e.to_string())?;
        if catalog.table(&schema.name).is_none() {
            catalog.add_schema(&schema).map_err(|e| e.to_string())?;
        }
    }
    Ok(catalog)
}

/// Parses and validates rules; all problems of all files in one error.
pub fn checked_rules(sources: &[(String, String)], catalog: &MemoryCatalog) -> Result<Vec<Rule>, String> {
    let engine = Engine::new();
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in sources {
        match parse_rule(name, text).and_then(|rule| validate_query(&engine, &rule, catalog, name).map(|_| rule)) {
            Ok(rule) => rules.push(rule),
            Err(error) => errors.push(error.to_string()),
        }
    }
    if errors.is_empty() { Ok(rules) } else { Err(errors.join("\n")) }
}

/// Installs a pack into a workspace: tables first (DCRs and rules bind against them), then
/// DCRs, rules (all validated before any is saved) and workbooks. `origin` is where sources
/// reach the server, for the ingestion URLs in the answer.
pub async fn install(
    pack: Pack,
    control: &Control,
    detection: &Detection,
    workspace: &Workspace,
    origin: &str,
) -> Result<Json, String> {
    let tables = pack.tables()?;
    let dcrs = pack.dcrs()?;
    let rules = pack.rules()?;
    let workbooks = pack
        .workbooks()?
        .into_iter()
        .map(|(path, text)| {
            let content: Json = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
            Ok((file_stem(&path), content))
        })
        .collect::<Result<Vec<(String, Json)>, String>>()?;
    let mut table_names = Vec::new();
    for (path, text) in &tables {
        let table = control.put_table(&workspace.id, text).await.map_err(|e| format!("{path}: {e}"))?;
        table_names.push(table.schema.name);
    }
    let catalog = workspace_catalog(control, workspace).await?;
    let checked = checked_rules(&rules, &catalog)?;
    let mut dcr_summaries = Vec::new();
    for (path, text) in &dcrs {
        let dcr = control.put_dcr(&workspace.id, text).await.map_err(|e| format!("{path}: {e}"))?;
        for stream in dcr.definition.streams.keys() {
            dcr_summaries.push(json!({
                "name": dcr.definition.name,
                "immutableId": dcr.immutable_id,
                "stream": stream,
                "ingestionUrl": format!("{origin}/dataCollectionRules/{}/streams/{stream}?api-version=2023-01-01", dcr.immutable_id),
            }));
        }
    }
    let mut rule_summaries = Vec::new();
    for (rule, (_, text)) in checked.iter().zip(&rules) {
        detection.put_rule(&workspace.tenant_id, &workspace.id, rule, text, None).await.map_err(|e| e.to_string())?;
        rule_summaries.push(json!({"id": rule.id, "name": rule.name, "kind": rule.kind.as_str()}));
    }
    let mut workbook_names = Vec::new();
    for (name, content) in &workbooks {
        detection.put_workbook(&workspace.id, name, content).await.map_err(|e| e.to_string())?;
        workbook_names.push(name.clone());
    }
    Ok(json!({
        "pack": pack.name(),
        "workspace_id": workspace.id,
        "tables": table_names,
        "dcrs": dcr_summaries,
        "rules": rule_summaries,
        "workbooks": workbook_names,
    }))
}
