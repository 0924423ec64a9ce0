//! `.kqlt` files: KQL cases with their expected results, in the manner of sqllogictest.
//!
//! ```text
//! # A comment.
//! query [ordered]
//! datatable(x:long) [1, 2] | summarize sum(x)
//! ----
//! sum_x:long
//! 3
//!
//! error
//! print 1 +
//! ----
//! 1:10 expected an expression, found the end of the query
//! ```
//!
//! A `query` case expects a header of `name:type` columns then one line per row, cells
//! separated by ` | `; rows are compared in order only with `ordered`. An `error` case expects
//! the first diagnostic as `line:column message`. `--complete` rewrites the expectations from
//! what the engine produces.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vigil_kql::{Engine, MemoryCatalog, QueryError, QueryResult, RunOptions};

#[derive(Debug)]
struct Case {
    kind: Kind,
    line: usize,
    query: String,
    expected: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Query { ordered: bool },
    Error,
}

fn parse_file(text: &str) -> Result<Vec<Case>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cases = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let kind = match line {
            "query" => Kind::Query { ordered: false },
            "query ordered" => Kind::Query { ordered: true },
            "error" => Kind::Error,
            other => {
                return Err(format!("line {}: expected 'query', 'query ordered' or 'error', found '{other}'", i + 1));
            }
        };
        let start = i + 1;
        i += 1;
        let mut query = Vec::new();
        while i < lines.len() && lines[i].trim_end() != "----" {
            query.push(lines[i]);
            i += 1;
        }
        if i == lines.len() {
            return Err(format!("line {start}: the case has no '----' line"));
        }
        i += 1;
        let mut expected = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            expected.push(lines[i].trim_end().to_string());
            i += 1;
        }
        cases.push(Case { kind, line: start, query: query.join("\n"), expected });
    }
    Ok(cases)
}

/// The result as the expectation lines of a `query` case.
fn render(result: &QueryResult) -> Vec<String> {
    let Some(table) = result.tables.first() else { return vec![] };
    let mut lines =
        vec![table.columns.iter().map(|c| format!("{}:{}", c.name, c.ty.name())).collect::<Vec<_>>().join(" | ")];
    for row in table.rows() {
        lines.push(row.iter().map(cell).collect::<Vec<_>>().join(" | "));
    }
    lines
}

/// A cell on one line; null is `null` and the empty string `""`, so no row line is blank.
fn cell(value: &vigil_kql_functions::Value) -> String {
    if value.is_null() {
        return "null".into();
    }
    match vigil_kql::result::cell_text(value) {
        text if text.is_empty() => "\"\"".into(),
        text => text.replace('\n', "\\n"),
    }
}

fn render_error(error: &QueryError, query: &str) -> Vec<String> {
    match error {
        QueryError::Invalid(diagnostics) => diagnostics
            .iter()
            .take(1)
            .map(|d| {
                let at = vigil_kql_syntax::LineCol::of(query, d.span.start as usize);
                format!("{}:{} {}", at.line, at.column, d)
            })
            .collect(),
        other => vec![format!("execution: {other}")],
    }
}

async fn actual(engine: &Engine, case: &Case) -> Vec<String> {
    let catalog = Arc::new(MemoryCatalog::new());
    match engine.run(&case.query, catalog, RunOptions { now: Some(0), ..RunOptions::default() }).await {
        Ok(result) => render(&result),
        Err(error) => render_error(&error, &case.query),
    }
}

fn matches(kind: Kind, expected: &[String], actual: &[String]) -> bool {
    match kind {
        Kind::Query { ordered: true } | Kind::Error => expected == actual,
        Kind::Query { ordered: false } => {
            if expected.first() != actual.first() || expected.len() != actual.len() {
                return false;
            }
            let mut a: Vec<&String> = expected.iter().skip(1).collect();
            let mut b: Vec<&String> = actual.iter().skip(1).collect();
            a.sort();
            b.sort();
            a == b
        }
    }
}

pub async fn run(args: &[String]) -> Result<bool, String> {
    let complete = args.iter().any(|a| a == "--complete");
    let mut files: Vec<PathBuf> = args.iter().filter(|a| !a.starts_with("--")).map(PathBuf::from).collect();
    if files.is_empty() {
        files = default_files()?;
    }
    let engine = Engine::new();
    let (mut total, mut passed) = (0, 0);
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let cases = parse_file(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut completed = Vec::new();
        for case in &cases {
            total += 1;
            let actual = actual(&engine, case).await;
            if matches(case.kind, &case.expected, &actual) {
                passed += 1;
            } else if !complete {
                println!("  FAIL {}:{}", file.display(), case.line);
                println!("    query:    {}", case.query.replace('\n', "\n              "));
                println!("    expected: {}", case.expected.join("\n              "));
                println!("    actual:   {}", actual.join("\n              "));
            }
            completed.push(actual);
        }
        if complete {
            write_completed(file, &text, &cases, &completed)?;
        }
    }
    println!("kqlt: {passed}/{total} cases pass");
    Ok(complete || passed == total)
}

/// Rewrites a file's expectations, keeping its comments and queries.
fn write_completed(file: &Path, text: &str, cases: &[Case], actual: &[Vec<String>]) -> Result<(), String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    for (case, result) in cases.iter().zip(actual) {
        while i < case.line - 1 {
            out.push(lines[i].to_string());
            i += 1;
        }
        while lines[i].trim_end() != "----" {
            out.push(lines[i].to_string());
            i += 1;
        }
        out.push("----".into());
        i += 1;
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
        out.extend(result.iter().cloned());
    }
    out.extend(lines[i..].iter().map(|l| l.to_string()));
    std::fs::write(file, out.join("\n") + "\n").map_err(|e| format!("cannot write {}: {e}", file.display()))
}

fn default_files() -> Result<Vec<PathBuf>, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/kqlt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "kqlt"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cases() {
        let cases =
            parse_file("# c\nquery\nprint 1\n----\nprint_0:long\n1\n\nerror\nprint 1 +\n----\n1:10 x\n").unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].expected, ["print_0:long", "1"]);
        assert_eq!(cases[1].kind, Kind::Error);
        assert!(parse_file("query\nprint 1\n").is_err());
    }
}
