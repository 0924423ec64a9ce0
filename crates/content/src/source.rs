//! The files of content to import: a folder laid out as the Azure-Sentinel repository lays out a
//! solution, a single file, or a pack embedded in the binary. Paths are relative to the root,
//! with `/` separators, so that the folder a file is in says what it is.

use std::path::{Path, PathBuf};

use include_dir::Dir;

use crate::ContentError;

/// Files larger than this are not content (a solution's largest, its package, is a few MB).
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// More files than any solution has.
pub const MAX_FILES: usize = 20_000;

/// One file of the content: its path below the root and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

impl SourceFile {
    /// The file's folders below the root, outermost first.
    pub fn folders(&self) -> impl Iterator<Item = &str> {
        let mut parts: Vec<&str> = self.path.split('/').collect();
        parts.pop();
        parts.into_iter()
    }

    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    pub fn extension(&self) -> String {
        self.name().rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default()
    }

    pub fn stem(&self) -> &str {
        let name = self.name();
        name.rsplit_once('.').map(|(stem, _)| stem).unwrap_or(name)
    }
}

/// The files under `path`, or `path` itself (named with its folder, so that
/// `Analytic Rules/x.yaml` is still known for a rule). Only text content is read: YAML, JSON,
/// CSV and KQL text; byte-order marks are dropped.
pub fn read_path(path: &Path) -> Result<Vec<SourceFile>, ContentError> {
    let shown = path.display().to_string();
    let metadata =
        std::fs::metadata(path).map_err(|e| ContentError::new(&shown, "(file)", &format!("cannot be read: {e}")))?;
    if metadata.is_file() {
        let folder = path.parent().and_then(Path::file_name).map(|f| f.to_string_lossy().to_string());
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let relative = match folder {
            Some(folder) if !folder.is_empty() => format!("{folder}/{name}"),
            _ => name,
        };
        return Ok(vec![read_file(path, relative)?]);
    }
    let mut files = Vec::new();
    let mut pending: Vec<PathBuf> = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| ContentError::new(&dir.display().to_string(), "(folder)", &format!("cannot be read: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| ContentError::new(&dir.display().to_string(), "(folder)", &e.to_string()))?;
            let child = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            let kind = entry.file_type().map_err(|e| ContentError::new(&name, "(file)", &e.to_string()))?;
            if kind.is_dir() {
                pending.push(child);
            } else if kind.is_file() && is_text_content(&name) {
                let relative = child
                    .strip_prefix(path)
                    .unwrap_or(&child)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().to_string())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push(read_file(&child, relative)?);
                if files.len() > MAX_FILES {
                    return Err(ContentError::new(&shown, "(folder)", &format!("holds more than {MAX_FILES} files")));
                }
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The files of a pack embedded in the binary.
pub fn read_embedded(dir: &Dir<'_>) -> Result<Vec<SourceFile>, ContentError> {
    let mut files = Vec::new();
    let mut pending = vec![dir];
    while let Some(current) = pending.pop() {
        pending.extend(current.dirs());
        for file in current.files() {
            let path = file.path().strip_prefix(dir.path()).unwrap_or(file.path());
            let relative = path.components().map(|c| c.as_os_str().to_string_lossy().to_string()).collect::<Vec<_>>();
            let relative = relative.join("/");
            if !is_text_content(&relative) {
                continue;
            }
            let text = file
                .contents_utf8()
                .ok_or_else(|| ContentError::new(&relative, "(file)", "is not UTF-8 text"))?
                .trim_start_matches('\u{feff}')
                .to_string();
            files.push(SourceFile { path: relative, text });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn is_text_content(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".yaml", ".yml", ".json", ".csv", ".txt", ".kql"].iter().any(|e| lower.ends_with(e))
}

fn read_file(path: &Path, relative: String) -> Result<SourceFile, ContentError> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_FILE_BYTES {
        return Err(ContentError::new(
            &relative,
            "(file)",
            &format!("is {size} bytes; at most {MAX_FILE_BYTES} are read"),
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| ContentError::new(&relative, "(file)", &format!("cannot be read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        ContentError::new(&relative, "(file)", &format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
    })?;
    Ok(SourceFile { path: relative, text: text.trim_start_matches('\u{feff}').to_string() })
}
