//! `vigil-conformance sentinel`: Microsoft Sentinel's content as it ships, through Vigil's
//! own import. Each solution's rules are imported into a workspace of their own, with the
//! standard tables, the ASIM parsers, and what the solution brings (its tables, connectors'
//! tables, parsers and watchlists); every rule that imports runs once over the empty tables.
//! Hunting queries bind in the same workspaces. The outcome of every case is compared with
//! `data/sentinel-baseline.txt`: a failure not listed there, or a listed case that now passes,
//! fails the run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vigil_catalog::{MemoryCatalog, WorkspaceCatalog};
use vigil_content::{SourceFile, Status, Target};
use vigil_control::Control;
use vigil_detect::Detection;
use vigil_kql::{Engine, RunOptions};

use crate::baseline::Baseline;
use crate::corpus_dir;

/// Every case: `(kind, file)` → why it fails, or `None` when it passes.
type Outcomes = BTreeMap<(String, String), Option<String>>;

pub async fn run(args: &[String]) -> Result<bool, String> {
    let verbose = args.iter().any(|a| a == "--verbose");
    let dir = match args.iter().position(|a| a == "--dir").and_then(|i| args.get(i + 1)) {
        Some(dir) => PathBuf::from(dir),
        None => corpus_dir()?.join("sentinel"),
    };
    let scratch = std::env::temp_dir().join(format!("vigil-sentinel-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let outcome = run_in(&dir, &scratch, verbose).await;
    let _ = std::fs::remove_dir_all(&scratch);
    let outcomes = outcome?;
    Ok(report(&outcomes, &Baseline::parse(include_str!("../data/sentinel-baseline.txt"))))
}

/// A file of the flat folders (`rules/`, `parsers/`, `hunting/`) with its repository path
/// (`Solutions/X/Analytic Rules/Y.yaml`), and the solution it belongs to.
struct Flat {
    file: String,
    solution: Option<String>,
    source: SourceFile,
}

fn read_flat(dir: &Path, folder: &str) -> Result<Vec<Flat>, String> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir.join(folder)) else { return Ok(files) };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).map_err(|e| format!("{name}: {e}"))?;
        let path = name.replace("__", "/");
        let solution = path.strip_prefix("Solutions/").and_then(|rest| rest.split('/').next()).map(str::to_string);
        files.push(Flat {
            file: format!("{folder}/{name}"),
            solution,
            source: SourceFile { path, text: text.trim_start_matches('\u{feff}').to_string() },
        });
    }
    files.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(files)
}

async fn run_in(dir: &Path, scratch: &Path, verbose: bool) -> Result<Outcomes, String> {
    let rules = read_flat(dir, "rules")?;
    let hunting = read_flat(dir, "hunting")?;
    let parsers = read_flat(dir, "parsers")?;
    // A scratch data dir for this run only: its secrets need no key that outlives it.
    let seal = vigil_control::SealKey::generate();
    let control = Control::open(scratch, seal.clone()).await.map_err(|e| e.to_string())?;
    let bootstrap = control.bootstrap().await.map_err(|e| e.to_string())?.ok_or("a fresh data dir")?;
    let detection = Detection::open(&scratch.join("detection.db"), seal).await.map_err(|e| e.to_string())?;
    // This machine has no internet: documents the content reads with `externaldata` come from a
    // mirror folder that stands in for their web servers, with an empty document at each URL.
    let mirror = scratch.join("mirror");
    for flat in rules.iter().chain(&hunting) {
        for url in document_urls(&flat.source.text) {
            let Ok(parsed) = url::Url::parse(&url) else { continue };
            let Ok(path) = vigil_server::external_data::mirror_path(&mirror, &parsed) else { continue };
            // A URL that names a folder of another URL's path has no document of its own.
            if let Some(parent) = path.parent()
                && std::fs::create_dir_all(parent).is_ok()
                && !path.is_dir()
            {
                std::fs::write(&path, b"").map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    let documents = vigil_server::external_data::OutsideDocuments::new(
        vigil_server::external_data::ExternalDataConfig {
            mirror_dir: Some(mirror),
            internet: false,
            ..Default::default()
        },
        Default::default(),
    );
    let engine = Engine::new().with_external_data(Arc::new(documents));
    // The ASIM parsers every workspace has, as Sentinel's built-in parsers.
    let asim: Vec<SourceFile> = parsers.iter().filter(|p| p.solution.is_none()).map(|p| p.source.clone()).collect();

    let mut groups: BTreeMap<String, (Vec<&Flat>, Vec<&Flat>)> = BTreeMap::new();
    for rule in &rules {
        groups.entry(rule.solution.clone().unwrap_or_default()).or_default().0.push(rule);
    }
    for query in &hunting {
        groups.entry(query.solution.clone().unwrap_or_default()).or_default().1.push(query);
    }
    let mut outcomes = Outcomes::new();
    for (index, (solution, (group_rules, group_hunting))) in groups.iter().enumerate() {
        let workspace =
            control.create_workspace(&bootstrap.tenant.id, &format!("w{index}")).await.map_err(|e| e.to_string())?;
        // The solution's own folder when the set has it whole; else its parsers.
        let mut files = asim.clone();
        let whole = dir.join("solutions").join(solution);
        if !solution.is_empty() && whole.is_dir() {
            let solution_files = vigil_content::read_path(&whole).map_err(|e| e.to_string())?;
            files.extend(solution_files.into_iter().filter(|f| {
                let name = f.path.to_ascii_lowercase();
                !name.contains("analytic rules/") && !name.contains("hunting queries/")
            }));
        } else {
            files.extend(parsers.iter().filter(|p| p.solution.as_deref() == Some(solution)).map(|p| p.source.clone()));
        }
        let target = Target {
            control: &control,
            detection: &detection,
            workspace: &workspace,
            origin: "https://vigil.invalid",
            actor: "vigil-conformance",
            rules_enabled: Some(false),
        };
        if let Err(error) = vigil_content::import(&files, &target, false).await {
            for flat in group_rules.iter().chain(group_hunting.iter()) {
                outcomes.insert(kind_file(flat), Some(format!("the solution's content does not import: {error}")));
            }
            continue;
        }
        // Each rule is imported on its own, as a user imports one; then the hunting queries.
        let mut reports = Vec::new();
        for rule in group_rules {
            reports.push(vigil_content::import(std::slice::from_ref(&rule.source), &target, false).await);
        }
        let hunting_files: Vec<SourceFile> = group_hunting.iter().map(|h| h.source.clone()).collect();
        let hunting_import = vigil_content::import(&hunting_files, &target, false).await;
        if verbose {
            println!("== {}", if solution.is_empty() { "(no solution)" } else { solution });
            for report in reports.iter().chain(std::iter::once(&hunting_import)).flatten() {
                print!("{}", report.render());
            }
        }
        let definitions = Arc::new(control.definitions(&workspace.id).await.map_err(|e| e.to_string())?);
        let catalog: Arc<dyn vigil_catalog::Catalog> =
            Arc::new(WorkspaceCatalog::new(Arc::new(MemoryCatalog::new()), definitions));
        for (flat, report) in group_rules.iter().zip(&reports) {
            let report = match report {
                Ok(report) => report,
                Err(error) => {
                    outcomes.insert(kind_file(flat), Some(one_line(&error.to_string())));
                    continue;
                }
            };
            let line = report.lines.iter().find(|l| l.file == flat.source.path && l.kind == "rule");
            let outcome = match line {
                None => Some("the import did not report the rule".to_string()),
                Some(line) if line.status == Status::Skipped => Some(one_line(&line.detail)),
                Some(line) => {
                    let id = line.detail.rsplit(' ').next().unwrap_or_default();
                    match detection.rule(&workspace.id, id).await.map_err(|e| e.to_string())? {
                        None => Some("the rule was reported installed but is not saved".into()),
                        Some(record) => engine
                            .run(&record.rule.query, catalog.clone(), RunOptions::default())
                            .await
                            .err()
                            .map(|e| format!("runs into an error: {}", one_line(&e.render(&record.rule.query)))),
                    }
                }
            };
            outcomes.insert(kind_file(flat), outcome);
        }
        for flat in group_hunting {
            let query = vigil_content::read::hunting_query_text(&flat.source.text);
            let outcome = match query {
                None => Some("the file has no query".to_string()),
                Some(query) => {
                    let query = vigil_content::hunting::with_time_range(&query, 0, 86_400_000_000_000);
                    engine.check(&query, catalog.as_ref(), false).err().map(|e| one_line(&e.render(&query)))
                }
            };
            outcomes.insert(kind_file(flat), outcome);
        }
    }
    detection.close().await;
    Ok(outcomes)
}

fn kind_file(flat: &Flat) -> (String, String) {
    let kind = if flat.file.starts_with("rules/") { "rule" } else { "hunting" };
    (kind.to_string(), flat.file.clone())
}

/// A reason on one line: the first line of a rendered diagnostic says what and where.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut out = lines.first().copied().unwrap_or_default().to_string();
    if let Some(diagnostic) = lines.iter().skip(1).find(|l| l.starts_with("error[")) {
        out.push(' ');
        out.push_str(diagnostic);
    }
    if let Some(position) = lines.iter().find(|l| l.starts_with("-->")) {
        out.push_str(&format!(" ({})", position.trim_start_matches("-->").trim()));
    }
    out
}

/// The baseline: `kind<TAB>file<TAB>reason` per expected failure.
fn report(outcomes: &Outcomes, baseline: &Baseline) -> bool {
    for kind in ["rule", "hunting"] {
        let cases: Vec<_> = outcomes.iter().filter(|((k, _), _)| k == kind).collect();
        let passed = cases.iter().filter(|(_, outcome)| outcome.is_none()).count();
        let what = if kind == "rule" { "rules import as shipped and run" } else { "hunting queries bind" };
        println!(
            "sentinel: {passed}/{} {what} ({:.1}%)",
            cases.len(),
            passed as f64 / cases.len().max(1) as f64 * 100.0
        );
    }
    let keyed = outcomes.iter().map(|((kind, file), outcome)| (format!("{kind}\t{file}"), outcome.clone())).collect();
    baseline.check("sentinel", &keyed)
}

/// The URLs a query reads with `externaldata`: every `http(s)://` string literal in it.
fn document_urls(text: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("http") {
        let candidate = &rest[at..];
        if candidate.starts_with("https://") || candidate.starts_with("http://") {
            let end = candidate.find(['"', '\'', ']', ' ', '\n']).unwrap_or(candidate.len());
            urls.push(candidate[..end].to_string());
            rest = &candidate[end..];
        } else {
            rest = &candidate[4..];
        }
    }
    urls
}
