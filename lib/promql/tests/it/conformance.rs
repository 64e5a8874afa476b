//! Prometheus's own PromQL test scripts, run through `promql::promqltest`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use promql::promqltest::{EvalCmd, Report, run_script};
use promql::{Engine, EngineConfig};

/// Feature flags of `eval-index.tsv` whose evals are skipped, in the order used to name the
/// reason of a skip.
const SKIPPED_FLAGS: &[&str] = &[
    "native_histograms",
    "info_function",
    "experimental_functions",
    "extended_range_selectors",
    "fill_modifiers",
    "duration_expressions",
    "type_and_unit_labels",
    "start_timestamps",
];

/// The test data folder: `PROMQL_TESTDATA`, or `../shared/promql-testdata` beside the
/// workspace root.
pub fn testdata_dir() -> PathBuf {
    match std::env::var_os("PROMQL_TESTDATA") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/promql-testdata"),
    }
}

/// `(file, line) -> flags` from `eval-index.tsv`.
fn read_index(dir: &Path) -> HashMap<(String, usize), Vec<String>> {
    let path = dir.join("eval-index.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out = HashMap::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = l.split('\t').collect();
        if cols.len() < 4 {
            continue;
        }
        let line: usize = cols[1].parse().unwrap_or_else(|_| panic!("bad line number in {l:?}"));
        let flags = if cols[3] == "-" { Vec::new() } else { cols[3].split(',').map(str::to_string).collect() };
        out.insert((cols[0].to_string(), line), flags);
    }
    out
}

/// Runs every `.test` file of `dir`; returns the report per file.
fn run_set(dir: &Path) -> BTreeMap<String, Report> {
    assert!(dir.is_dir(), "PromQL test data not found at {} (set PROMQL_TESTDATA)", dir.display());
    let index = read_index(dir);
    let engine = Engine::new(EngineConfig { max_samples: None, ..EngineConfig::default() });
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "test")).collect();
    files.sort();
    let mut out = BTreeMap::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&f).unwrap();
        let skip = |ev: &EvalCmd| -> Option<String> {
            let flags = index.get(&(name.clone(), ev.line))?;
            SKIPPED_FLAGS.iter().find(|s| flags.iter().any(|f| f == *s)).map(|s| s.to_string())
        };
        let report = run_script(&engine, &text, &skip).unwrap_or_else(|e| panic!("{name}: {e}"));
        out.insert(name, report);
    }
    out
}

fn summarize(set: &str, reports: &BTreeMap<String, Report>) -> Report {
    let mut total = Report::default();
    for r in reports.values() {
        total.merge(r.clone());
    }
    println!("promql conformance {set}: {} passed, {} failed, {} skipped", total.passed, total.failures.len(), total.skipped_total());
    for (reason, n) in &total.skipped {
        println!("  skipped {reason}: {n}");
    }
    println!("  annotation expectations checked in {} passing evals", total.annotation_checks);
    for (file, r) in reports {
        for f in &r.failures {
            println!("  FAIL {file}:{} {}\n      {}", f.line, f.query, f.message);
        }
    }
    total
}

#[test]
fn prometheus_current() {
    let reports = run_set(&testdata_dir());
    let total = summarize("current", &reports);
    assert!(total.failures.is_empty(), "{} evals failed", total.failures.len());
}

/// Evals of v2.42.0 that fail because Prometheus 3 changed the semantics, with the reason.
const V2_ALLOWED_FAILURES: &[(&str, usize, &str)] = &[];

#[test]
fn prometheus_v2_42() {
    let reports = run_set(&testdata_dir().join("v2.42.0"));
    summarize("v2.42.0", &reports);
    let mut unexpected = Vec::new();
    for (file, r) in &reports {
        for f in &r.failures {
            if !V2_ALLOWED_FAILURES.iter().any(|(af, al, _)| af == file && *al == f.line) {
                unexpected.push(format!("{file}:{} {}", f.line, f.query));
            }
        }
    }
    let mut stale = Vec::new();
    for (af, al, why) in V2_ALLOWED_FAILURES {
        if reports.get(*af).is_some_and(|r| r.passed_lines.contains(al)) {
            stale.push(format!("{af}:{al} ({why}) now passes: remove it from the allow-list"));
        }
    }
    assert!(unexpected.is_empty(), "unexpected failures: {unexpected:#?}");
    assert!(stale.is_empty(), "{stale:#?}");
}
