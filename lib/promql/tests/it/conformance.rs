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
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out = HashMap::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = l.split('\t').collect();
        if cols.len() < 4 {
            continue;
        }
        let line: usize = cols[1]
            .parse()
            .unwrap_or_else(|_| panic!("bad line number in {l:?}"));
        let flags = if cols[3] == "-" {
            Vec::new()
        } else {
            cols[3].split(',').map(str::to_string).collect()
        };
        out.insert((cols[0].to_string(), line), flags);
    }
    out
}

/// Runs every `.test` file of `dir` with `cfg`; returns the report per file.
fn run_set(dir: &Path, cfg: EngineConfig) -> BTreeMap<String, Report> {
    assert!(
        dir.is_dir(),
        "PromQL test data not found at {} (set PROMQL_TESTDATA)",
        dir.display()
    );
    let index = read_index(dir);
    let engine = Engine::new(cfg);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable test data folder")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let mut out = BTreeMap::new();
    for f in files {
        let name = f
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&f).expect("readable script");
        let skip = |ev: &EvalCmd| -> Option<String> {
            let flags = index.get(&(name.clone(), ev.line))?;
            SKIPPED_FLAGS
                .iter()
                .find(|s| flags.iter().any(|f| f == *s))
                .map(|s| s.to_string())
        };
        let report = run_script(&engine, &text, &skip).unwrap_or_else(|e| panic!("{name}: {e}"));
        out.insert(name, report);
    }
    out
}

/// Prints the summary line of a set and the failures `show` selects.
fn summarize(
    set: &str,
    reports: &BTreeMap<String, Report>,
    show: &dyn Fn(&str, usize) -> bool,
) -> Report {
    let mut total = Report::default();
    for r in reports.values() {
        total.merge(r.clone());
    }
    println!(
        "promql conformance {set}: {} passed, {} failed, {} skipped",
        total.passed,
        total.failures.len(),
        total.skipped_total()
    );
    for (reason, n) in &total.skipped {
        println!("  skipped {reason}: {n}");
    }
    println!(
        "  annotation expectations checked in {} passing evals",
        total.annotation_checks
    );
    for (file, r) in reports {
        for f in r.failures.iter().filter(|f| show(file, f.line)) {
            println!("  FAIL {file}:{} {}\n      {}", f.line, f.query, f.message);
        }
    }
    total
}

#[test]
fn prometheus_current() {
    let reports = run_set(&testdata_dir(), EngineConfig::default());
    let total = summarize("current", &reports, &|_, _| true);
    assert!(
        total.failures.is_empty(),
        "{} evals failed",
        total.failures.len()
    );
}

/// Prometheus 3 excludes the left boundary of range selector and lookback windows
/// (`(t-range, t]`); 2.42 included it, and these evals sample exactly on a boundary.
const LEFT_OPEN: &str = "left-open windows";
/// Prometheus 3 caps the zero-point cutoff of counter extrapolation at half a sample interval.
const ZERO_CUTOFF: &str = "rate extrapolation zero cutoff";
/// Prometheus 3 accepts any UTF-8 label name, so `label_replace` no longer rejects it.
const UTF8_NAMES: &str = "UTF-8 label names";
/// Prometheus 3 drops the metric name for `atan2` like for the other arithmetic operators.
const ATAN2_NAME: &str = "atan2 drops __name__";

/// Evals of v2.42.0 that fail because Prometheus 3 changed the semantics, by file, with the
/// reason. The test checks that each still fails, and that every `LEFT_OPEN` one passes when the
/// engine uses Prometheus 2's left-closed windows (`EngineConfig::left_closed_windows`).
const V2_ALLOWED_FAILURES: &[(&str, &[usize], &str)] = &[
    (
        "aggregators.test",
        &[300, 305, 315, 340, 346, 352, 359, 365],
        LEFT_OPEN,
    ),
    (
        "at_modifier.test",
        &[80, 87, 95, 101, 116, 139, 147, 151, 156, 160, 164],
        LEFT_OPEN,
    ),
    (
        "functions.test",
        &[
            8, 18, 31, 36, 41, 46, 51, 64, 76, 104, 108, 450, 461, 520, 523, 591, 601, 604, 612,
            615, 618, 640, 645, 650, 655, 790, 889, 894, 896, 951, 957, 961,
        ],
        LEFT_OPEN,
    ),
    (
        "functions.test",
        &[
            983, 987, 991, 995, 999, 1003, 1007, 1011, 1015, 1019, 1023, 1027, 1031, 1035,
        ],
        LEFT_OPEN,
    ),
    ("functions.test", &[137], ZERO_CUTOFF),
    ("functions.test", &[298], UTF8_NAMES),
    (
        "histograms.test",
        &[
            96, 100, 104, 128, 131, 135, 138, 142, 146, 151, 155, 160, 166, 173, 179, 208, 212,
            216, 225,
        ],
        LEFT_OPEN,
    ),
    (
        "operators.test",
        &[
            116, 311, 314, 317, 320, 324, 328, 334, 340, 344, 348, 354, 360, 364, 369, 377, 382,
        ],
        LEFT_OPEN,
    ),
    (
        "operators.test",
        &[390, 396, 402, 408, 414, 420, 435, 439, 442, 460, 463, 466],
        LEFT_OPEN,
    ),
    ("operators.test", &[479, 482], ATAN2_NAME),
    ("staleness.test", &[17, 32, 48], LEFT_OPEN),
    (
        "subquery.test",
        &[12, 17, 23, 51, 56, 60, 80, 83, 86, 89, 104, 112],
        LEFT_OPEN,
    ),
    (
        "trig_functions.test",
        &[
            8, 13, 18, 23, 28, 33, 38, 43, 48, 53, 58, 63, 68, 73, 78, 83, 88, 93,
        ],
        LEFT_OPEN,
    ),
];

fn allowed(file: &str, line: usize) -> Option<&'static str> {
    V2_ALLOWED_FAILURES
        .iter()
        .find(|(f, lines, _)| *f == file && lines.contains(&line))
        .map(|(_, _, why)| *why)
}

#[test]
fn prometheus_v2_42() {
    let dir = testdata_dir().join("v2.42.0");
    let reports = run_set(&dir, EngineConfig::default());
    let total = summarize("v2.42.0", &reports, &|file, line| {
        allowed(file, line).is_none()
    });
    let allowed_count: usize = V2_ALLOWED_FAILURES.iter().map(|(_, l, _)| l.len()).sum();
    println!(
        "  of the failures, {allowed_count} are allow-listed Prometheus 3 semantic changes (docs/promql.md)"
    );
    let mut problems = Vec::new();
    for (file, r) in &reports {
        for f in &r.failures {
            if allowed(file, f.line).is_none() {
                problems.push(format!(
                    "unexpected failure {file}:{} {}: {}",
                    f.line, f.query, f.message
                ));
            }
        }
    }
    // The allow-list stays honest: every entry still fails, and window-semantics entries pass
    // with Prometheus 2's windows.
    let legacy = run_set(
        &dir,
        EngineConfig {
            left_closed_windows: true,
            ..EngineConfig::default()
        },
    );
    for (file, lines, why) in V2_ALLOWED_FAILURES {
        for line in *lines {
            if reports
                .get(*file)
                .is_none_or(|r| !r.failures.iter().any(|f| f.line == *line))
            {
                problems.push(format!(
                    "{file}:{line} ({why}) does not fail any more: remove it from the allow-list"
                ));
            }
            if *why == LEFT_OPEN
                && legacy
                    .get(*file)
                    .is_none_or(|r| !r.passed_lines.contains(line))
            {
                problems.push(format!(
                    "{file}:{line} is listed as {why:?} but fails with left-closed windows too"
                ));
            }
        }
    }
    assert_eq!(total.failures.len(), allowed_count, "{problems:#?}");
    assert!(problems.is_empty(), "{problems:#?}");
}
