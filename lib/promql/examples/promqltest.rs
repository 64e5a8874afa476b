//! Runs one Prometheus `.test` script and prints each failure:
//! `cargo run -p promql --example promqltest -- path/to/file.test [line]`.

use promql::promqltest::{EvalCmd, run_script};
use promql::{Engine, EngineConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: promqltest FILE.test [LINE]");
        std::process::exit(2);
    };
    let only: Option<usize> = args.get(2).and_then(|l| l.parse().ok());
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let engine = Engine::new(EngineConfig {
        max_samples: None,
        ..EngineConfig::default()
    });
    let skip = |ev: &EvalCmd| {
        only.filter(|l| *l != ev.line)
            .map(|_| "not selected".to_string())
    };
    let report = run_script(&engine, &text, &skip).unwrap_or_else(|e| panic!("{path}: {e}"));
    for f in &report.failures {
        println!("FAIL line {}: {}\n    {}", f.line, f.query, f.message);
    }
    println!(
        "{} passed, {} failed, {} skipped",
        report.passed,
        report.failures.len(),
        report.skipped_total()
    );
}
