//! Vigil's own content packs, embedded in the binary: one folder per pack under `content/`,
//! laid out as a Sentinel solution (`Data Connectors/`, `Analytic Rules/`, `Workbooks/`...)
//! with a `pack.json` that names and describes it. Installing a pack is importing it.

use include_dir::{Dir, include_dir};
use serde_json::{Value as Json, json};

use crate::install::{ImportError, Report, Status, Target, import};
use crate::read::read;
use crate::source::{SourceFile, read_embedded};

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

    /// The pack's files, as an import reads them (without `pack.json`).
    pub fn files(&self) -> Result<Vec<SourceFile>, String> {
        let files = read_embedded(self.dir).map_err(|e| e.to_string())?;
        Ok(files.into_iter().filter(|f| f.path != "pack.json").collect())
    }

    /// The manifest's name, title, version and description, and what the pack holds by name.
    pub fn summary(&self) -> Result<Json, String> {
        let manifest = self.manifest()?;
        let reading = read(&self.files()?)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
        let names = |kind: &str| -> Vec<String> {
            reading.items.iter().filter(|i| i.content.kind() == kind).map(|i| i.content.name()).collect()
        };
        Ok(json!({
            "name": manifest["name"],
            "title": manifest["title"],
            "version": manifest["version"],
            "description": manifest["description"],
            "tables": names("table"),
            "dcrs": names("dcr"),
            "rules": names("rule"),
            "workbooks": names("workbook"),
            "functions": names("function"),
            "watchlists": names("watchlist"),
            "huntingQueries": names("hunting query"),
        }))
    }

    /// Installs the pack: an import that must install every item.
    pub async fn install(&self, target: &Target<'_>) -> Result<Report, ImportError> {
        let files = self.files().map_err(ImportError::Pack)?;
        import(&files, target, true).await
    }
}

/// The report of a pack's install as the REST API and the CLI answer it: what was made, by
/// kind (rules with their ids, DCRs with their ingestion URLs), and every report line.
pub fn install_summary(pack: &Pack, workspace_id: &str, report: &Report) -> Json {
    let installed = |kind: &str| -> Vec<&str> {
        report
            .lines
            .iter()
            .filter(|l| l.kind == kind && l.status == Status::Installed)
            .map(|l| l.name.as_str())
            .collect()
    };
    let rules: Vec<Json> = report
        .lines
        .iter()
        .filter(|l| l.kind == "rule" && l.status == Status::Installed)
        .map(|l| json!({"id": l.id, "name": l.name}))
        .collect();
    json!({
        "pack": pack.name(),
        "workspace_id": workspace_id,
        "tables": installed("table"),
        "dcrs": report.dcrs,
        "rules": rules,
        "workbooks": installed("workbook"),
        "functions": installed("function"),
        "watchlists": installed("watchlist"),
        "items": report.lines,
    })
}
