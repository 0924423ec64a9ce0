//! Conformance runners. Each prints its pass counts and exits non-zero when a case fails that
//! its baseline does not list, or a listed case passes (realworld: below its bar):
//!
//! - `docs`: the KQL reference's examples of the shared corpus, each run and compared with the
//!   page's output table; `reference`: the rest of the reference's runnable examples, kept here;
//! - `realworld`: real hunting queries, the share that parses, and the share that binds and
//!   plans against the documented schemas of Sentinel and Defender tables;
//! - `sentinel`: Sentinel's rules, parsers and hunting queries imported and run as shipped,
//!   against a baseline of expected failures;
//! - `kqlt`: this repository's own cases (`tests/kqlt/*.kqlt`), including the diagnostics of
//!   broken queries, with `--complete` to write their expectations.

mod baseline;
mod compare;
mod kqlt;
mod sentinel;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use vigil_kql::{Engine, MemoryCatalog, QueryError, RunOptions};

use crate::baseline::Baseline;

const USAGE: &str = "usage: vigil-conformance docs [--case ID] [--corpus FILE] [--outcomes FILE] [--verbose]
       vigil-conformance reference [--case ID] [--outcomes FILE] [--verbose]
       vigil-conformance realworld [--verbose]
       vigil-conformance kqlt [--complete] [FILE...]
       vigil-conformance sentinel [--verbose] [--dir DIR]
The shared corpora are found through $VIGIL_CONFORMANCE_DIR, else ../shared/conformance
from the working directory or an ancestor of it.";

/// The share of real hunting queries that must parse and bind.
const PARSE_BAR: f64 = 0.98;
const BIND_BAR: f64 = 0.90;

/// No single example should take this long; one that does counts as a failure.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 * 1024 * 1024)
        .build()
        .expect("a runtime");
    let outcome = match args.first().map(String::as_str) {
        Some("docs") => runtime.block_on(docs(&args[1..])),
        Some("reference") => runtime.block_on(reference(&args[1..])),
        Some("realworld") => realworld(&args[1..]),
        Some("kqlt") => runtime.block_on(kqlt::run(&args[1..])),
        Some("sentinel") => runtime.block_on(sentinel::run(&args[1..])),
        _ => Err(USAGE.to_string()),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

/// The shared conformance folder.
fn corpus_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("VIGIL_CONFORMANCE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let start = std::env::current_dir().map_err(|e| e.to_string())?;
    for dir in start.ancestors() {
        let candidate = dir.join("../shared/conformance");
        if candidate.is_dir() {
            return Ok(candidate);
        }
        let candidate = dir.join("shared/conformance");
        if candidate.is_dir() {
            return Ok(candidate);
        }
    }
    Err("cannot find the shared conformance corpora; set VIGIL_CONFORMANCE_DIR".into())
}

fn read_cases(path: &Path) -> Result<Vec<Json>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Why a reference example cannot be compared with its printed output, if it cannot.
fn ineligible(query: &str) -> Option<&'static str> {
    let lower = query.to_ascii_lowercase();
    let call = |name: &str| {
        lower.match_indices(name).any(|(i, _)| {
            let before_ok =
                i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric() && lower.as_bytes()[i - 1] != b'_';
            let rest = lower[i + name.len()..].trim_start();
            before_ok && rest.starts_with('(')
        })
    };
    if ["now", "ago", "rand", "new_guid"].iter().any(|f| call(f))
        || lower.contains("| sample")
        || lower.contains("sample-distinct")
    {
        return Some("nondeterministic (now, ago, rand, new_guid, sample)");
    }
    if lower.contains("geo_") {
        return Some("spatial (geo_*)");
    }
    let graph = ["make-graph", "graph-match", "graph-shortest-paths", "graph-mark-components", "graph-to-table"];
    if lower.contains("ai_")
        || lower.contains("_request")
        || graph.iter().any(|g| lower.contains(g))
        || lower.contains("evaluate python")
        || lower.contains("evaluate r(")
    {
        return Some("external (ai_*, *_request, graph, evaluate python/r)");
    }
    None
}

/// Reference examples whose printed column names are wrong: their values are still compared.
fn load_name_errata() -> Baseline {
    Baseline::parse(include_str!("../data/docs-column-errata.txt"))
}

fn is_ordered(query: &str) -> bool {
    let compact: String = query.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
    ["| sort by", "| order by", "| top ", "|sort by", "|order by", "|top "].iter().any(|p| compact.contains(p))
}

/// The expected table of a case: its column names and its rows, every cell as printed.
fn expected_table(case: &Json) -> (Vec<String>, Vec<Vec<String>>) {
    let text = |v: &Json| v.as_str().unwrap_or_default().to_string();
    let columns = case["expected"]["columns"].as_array().map(|a| a.iter().map(text).collect()).unwrap_or_default();
    let rows = case["expected"]["rows"]
        .as_array()
        .map(|rows| {
            rows.iter().map(|r| r.as_array().map(|c| c.iter().map(text).collect()).unwrap_or_default()).collect()
        })
        .unwrap_or_default();
    (columns, rows)
}

/// Runs one example and compares its first table with the printed one.
async fn run_example(
    engine: &Engine,
    catalog: &Arc<MemoryCatalog>,
    case: &Json,
    name_errata: bool,
) -> Result<(), String> {
    let query = case["query"].as_str().unwrap_or_default();
    let (columns, rows) = expected_table(case);
    let run = tokio::time::timeout(CASE_TIMEOUT, engine.run(query, catalog.clone(), RunOptions::default())).await;
    match run {
        Err(_) => Err(format!("timed out after {CASE_TIMEOUT:?}")),
        Ok(Err(QueryError::Invalid(diagnostics))) => {
            Err(diagnostics.iter().map(|d| d.render(query)).collect::<Vec<_>>().join("\n"))
        }
        Ok(Err(error)) => Err(error.to_string()),
        Ok(Ok(result)) => match result.tables.first() {
            Some(table) => match compare::compare(table, &columns, &rows, is_ordered(query), !name_errata) {
                None => Ok(()),
                Some(difference) => Err(difference),
            },
            None => Err("no result table".into()),
        },
    }
}

/// The shared development corpus of the reference's examples. With `--corpus FILE`, another set
/// of examples in the same shape is scored (no baseline).
async fn docs(args: &[String]) -> Result<bool, String> {
    let path = match option(args, "--corpus") {
        Some(path) => PathBuf::from(path),
        None => corpus_dir()?.join("kql/kql-docs-examples.dev.json"),
    };
    let cases = read_cases(&path)?;
    let baseline = Baseline::parse(include_str!("../data/docs-baseline.txt"));
    run_examples(&path.display().to_string(), &cases, &baseline, args).await
}

/// The rest of the reference's runnable examples, extracted by `reference/extract.py` and kept
/// in this repository, against their own baseline.
async fn reference(args: &[String]) -> Result<bool, String> {
    let cases: Vec<Json> = serde_json::from_str(include_str!("../reference/kql-reference-examples.json"))
        .map_err(|e| format!("reference/kql-reference-examples.json: {e}"))?;
    let baseline = Baseline::parse(include_str!("../reference/baseline.txt"));
    run_examples("crates/conformance/reference/kql-reference-examples.json", &cases, &baseline, args).await
}

fn option(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// Runs examples and compares them with their printed tables. Without `--corpus` or `--case`,
/// the cases must fail exactly as the baseline says.
async fn run_examples(label: &str, cases: &[Json], baseline: &Baseline, args: &[String]) -> Result<bool, String> {
    let verbose = args.iter().any(|a| a == "--verbose");
    let only = option(args, "--case");
    let other_corpus = option(args, "--corpus");
    let errata = load_name_errata();
    let engine = Engine::new();
    let catalog: Arc<MemoryCatalog> = Arc::new(MemoryCatalog::new());
    let mut ineligible_count: BTreeMap<&str, usize> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, Option<String>> = BTreeMap::new();
    for case in cases {
        let id = case["id"].as_str().unwrap_or_default().to_string();
        if only.as_ref().is_some_and(|o| *o != id) {
            continue;
        }
        let query = case["query"].as_str().unwrap_or_default();
        if let Some(reason) = ineligible(query) {
            *ineligible_count.entry(reason).or_default() += 1;
            continue;
        }
        let outcome = run_example(&engine, &catalog, case, errata.reason(&id).is_some()).await;
        outcomes.insert(id, outcome.err());
    }
    println!("KQL reference examples ({label}):");
    println!("  {} cases; not comparable by rule: {}", cases.len(), ineligible_count.values().sum::<usize>());
    for (reason, count) in &ineligible_count {
        println!("    {count:3}  {reason}");
    }
    for (id, failure) in outcomes.iter().filter_map(|(id, o)| o.as_ref().map(|f| (id, f))) {
        let failure = if verbose {
            failure.clone()
        } else {
            failure.lines().next().unwrap_or_default().chars().take(160).collect()
        };
        match baseline.reason(id) {
            Some(reason) if other_corpus.is_none() && !verbose => println!("  expected {id}: {reason}"),
            _ => println!("  FAIL {id}: {failure}"),
        }
    }
    if let Some(file) = option(args, "--outcomes") {
        let text = serde_json::to_string_pretty(&outcomes).map_err(|e| e.to_string())?;
        std::fs::write(&file, text).map_err(|e| format!("cannot write {file}: {e}"))?;
    }
    let passed = outcomes.values().filter(|o| o.is_none()).count();
    println!(
        "examples: {passed}/{} comparable examples pass ({:.1}%)",
        outcomes.len(),
        passed as f64 / outcomes.len().max(1) as f64 * 100.0
    );
    if other_corpus.is_some() || only.is_some() {
        return Ok(outcomes.values().all(Option::is_none) || other_corpus.is_some());
    }
    Ok(baseline.check("examples", &outcomes))
}

fn realworld(args: &[String]) -> Result<bool, String> {
    let verbose = args.iter().any(|a| a == "--verbose");
    let dir = corpus_dir()?;
    let cases = read_cases(&dir.join("kql/realworld-queries.dev.json"))?;
    // The standard tables every workspace has, with the corpus's own schemas over them.
    let schemas = vigil_catalog::load_schemas(&dir.join("schemas")).map_err(|e| e.to_string())?;
    let mut catalog = MemoryCatalog::new();
    catalog.add_standard_tables();
    for schema in &schemas {
        catalog.add_schema(schema);
    }
    let engine = Engine::new();
    let (mut parsed, mut bound) = (0, 0);
    let mut unparsed = Vec::new();
    let mut unbound: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap_or_default();
        let query = case["query"].as_str().unwrap_or_default();
        match engine.check(query, &catalog, true) {
            Ok(_) => parsed += 1,
            Err(error) => {
                unparsed.push(format!("{id}: {}", first_line(&error, query)));
                continue;
            }
        }
        match engine.check(query, &catalog, false) {
            Ok(_) => bound += 1,
            Err(error) => {
                let message = first_line(&error, query);
                let key = message.split('\'').next().unwrap_or(&message).to_string();
                unbound.entry(key).or_default().push(format!("{id}: {message}"));
            }
        }
    }
    let total = cases.len().max(1) as f64;
    for failure in &unparsed {
        println!("  PARSE {failure}");
    }
    for (kind, failures) in &unbound {
        println!("  BIND {} x {kind}", failures.len());
        if verbose {
            for failure in failures {
                println!("      {failure}");
            }
        }
    }
    println!(
        "realworld: {parsed}/{} parse ({:.1}%; bar {:.0}%)",
        cases.len(),
        parsed as f64 / total * 100.0,
        PARSE_BAR * 100.0
    );
    println!(
        "realworld: {bound}/{} bind and plan against the standard tables ({:.1}%; bar {:.0}%)",
        cases.len(),
        bound as f64 / total * 100.0,
        BIND_BAR * 100.0
    );
    Ok(parsed as f64 / total >= PARSE_BAR && bound as f64 / total >= BIND_BAR)
}

fn first_line(error: &QueryError, query: &str) -> String {
    match error {
        QueryError::Invalid(diagnostics) => diagnostics
            .first()
            .map(|d| {
                let at = vigil_kql_syntax::LineCol::of(query, d.span.start as usize);
                format!("{}:{} {}", at.line, at.column, d)
            })
            .unwrap_or_default(),
        other => other.to_string(),
    }
}
