//! Content: what a SOC brings to a workspace, as Microsoft Sentinel ships it. A solution of the
//! Azure-Sentinel repository (its folders, or its package's ARM template), parser files,
//! rules, hunting queries, workbooks and watchlists are read ([`read`]), checked against the
//! workspace as it will be, and installed ([`install::import`]), each item reported as
//! installed or skipped with its reason. Vigil's own packs, embedded in the binary, are
//! solutions too ([`packs`]).
//!
//! Architecture invariant: nothing is written when a file cannot be read; an import either
//! writes every item it accepted or says which write failed.

mod arm;
pub mod hunting;
pub mod install;
pub mod packs;
mod parsers;
pub mod read;
pub mod source;

use std::fmt;

use vigil_kql::Engine;
use vigil_kql_functions::KqlColumn;

pub use install::{ImportError, Report, ReportLine, Status, Target, WriteError, import};
pub use packs::{Pack, pack, packs};
pub use parsers::parse_parser;
pub use source::{SourceFile, read_embedded, read_path};

/// A file that cannot be read as the content it is: the file, the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError {
    pub file: String,
    pub field: String,
    pub message: String,
}

impl ContentError {
    pub fn new(file: &str, field: &str, message: &str) -> ContentError {
        ContentError { file: file.to_string(), field: field.to_string(), message: message.to_string() }
    }

    pub(crate) fn yaml(file: &str, error: &serde_yaml_ng::Error) -> ContentError {
        let location =
            error.location().map(|l| format!(" at line {} column {}", l.line(), l.column())).unwrap_or_default();
        ContentError::new(file, "(document)", &format!("is not valid YAML{location}: {error}"))
    }

    pub(crate) fn json(file: &str, error: &serde_json::Error) -> ContentError {
        ContentError::new(
            file,
            "(document)",
            &format!("is not valid JSON at line {} column {}: {error}", error.line(), error.column()),
        )
    }
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.field, self.message)
    }
}

impl std::error::Error for ContentError {}

/// An item of content not installed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub file: String,
    pub kind: &'static str,
    pub name: String,
    pub reason: String,
}

/// Checks that a function's KQL parses, as Log Analytics does before it saves a function.
pub fn check_function(function: &vigil_control::SavedFunction) -> Result<(), String> {
    let (text, body_offset) = function.as_function(&function.name).as_let_statement();
    let parsed = vigil_kql_syntax::parse(&text);
    let Some(problem) = parsed.diagnostics.first() else { return Ok(()) };
    let body = function.body.trim_end().trim_end_matches(';');
    let body_end = body_offset + body.len();
    let start = problem.span.start as usize;
    let (at, message) = if start >= body_end {
        // The statement around the body ends it; what the parser met there is not the user's.
        (body_end, "the body ends where more is needed".to_string())
    } else {
        (start.max(body_offset), problem.message.clone())
    };
    let before = &text[body_offset..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Err(format!("function '{}' does not parse: line {line}, column {column} of its body: {message}", function.name))
}

/// Checks a DCR's `transformKql` over its stream's columns, as the control plane asks of
/// every DCR before storing it.
pub fn check_transform(transform: &str, columns: &[KqlColumn]) -> Result<(), String> {
    Engine::new().check_transform(transform, columns)
}
