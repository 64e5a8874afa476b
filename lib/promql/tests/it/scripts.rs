//! Our own `.test` scripts (MetricsQL extensions and named regressions), run by the same
//! runner as Prometheus's scripts, with nothing skipped.

use std::path::Path;

use promql::promqltest::{EvalCmd, run_script};
use promql::{Engine, EngineConfig};

#[test]
fn own_scripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let engine = Engine::new(EngineConfig::default());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata folder")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let (mut passed, mut failed) = (0, 0);
    for f in files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
    {
        let text = std::fs::read_to_string(f).expect("readable script");
        let report = run_script(&engine, &text, &|_: &EvalCmd| None)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for fl in &report.failures {
            println!(
                "FAIL {}:{} {}\n    {}",
                f.display(),
                fl.line,
                fl.query,
                fl.message
            );
        }
        assert!(report.passed > 0, "{} ran no eval", f.display());
        passed += report.passed;
        failed += report.failures.len();
    }
    println!("promql own scripts: {passed} passed, {failed} failed, 0 skipped");
    assert_eq!(failed, 0);
}
