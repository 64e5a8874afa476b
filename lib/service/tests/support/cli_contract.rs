//! The command-line contract every binary's `tests/cli.rs` checks: VictoriaMetrics-style flags
//! are documented in `--help`, unknown flags are refused, and a bad value is refused with a
//! message naming its flag. Included by path (`#[path = ...] mod cli_contract;`), so that the
//! three binaries share one harness without a test-only crate.

use std::process::Command;

/// Runs `bin` with `args`; returns whether it succeeded and its stdout and stderr together.
pub fn run(bin: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin).args(args).output().expect("binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `--help` mentions every flag of `flags`, and an unknown flag is refused by name.
pub fn help_documents_every_flag_and_unknown_flags_are_refused(bin: &str, flags: &[&str]) {
    let (ok, help) = run(bin, &["--help"]);
    assert!(ok, "{help}");
    for flag in flags {
        assert!(
            help.contains(&format!("--{flag}")),
            "--help does not mention --{flag}:\n{help}"
        );
    }
    let (ok, text) = run(bin, &["-noSuchFlag=1"]);
    assert!(!ok);
    assert!(text.contains("noSuchFlag"), "{text}");
}

/// `bad_value` (`-flag=value`) is refused with an error that names the flag.
pub fn bad_values_name_the_flag(bin: &str, bad_value: &str) {
    let (ok, text) = run(bin, &[bad_value]);
    assert!(!ok, "{bad_value} was accepted");
    let flag = bad_value
        .trim_start_matches('-')
        .split('=')
        .next()
        .unwrap_or_default();
    assert!(text.contains(flag), "error does not name {flag}: {text}");
}
