//! The vmstorage binary's command line: VictoriaMetrics-style flags are accepted with one dash or
//! two, documented in `--help`, and bad values are refused with a message naming the flag.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vmstorage"))
        .args(args)
        .output()
        .expect("binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn help_documents_every_flag_and_unknown_flags_are_refused() {
    let (ok, help) = run(&["--help"]);
    assert!(ok, "{help}");
    for flag in FLAGS {
        assert!(
            help.contains(&format!("--{flag}")),
            "--help does not mention --{flag}:\n{help}"
        );
    }
    let (ok, text) = run(&["-noSuchFlag=1"]);
    assert!(!ok);
    assert!(text.contains("noSuchFlag"), "{text}");
}

#[test]
fn bad_values_name_the_flag() {
    let (ok, text) = run(&[BAD_VALUE]);
    assert!(!ok, "{BAD_VALUE} was accepted");
    let flag = BAD_VALUE
        .trim_start_matches('-')
        .split('=')
        .next()
        .unwrap_or_default();
    assert!(text.contains(flag), "error does not name {flag}: {text}");
}

const FLAGS: &[&str] = &[
    "storageDataPath",
    "retentionPeriod",
    "dedup.minScrapeInterval",
    "httpListenAddr",
    "vminsertAddr",
    "vmselectAddr",
    "storage.minFreeDiskSpaceBytes",
    "storage.flushInterval",
    "storage.walFsync",
    "search.maxUniqueTimeseries",
    "search.maxQueryDuration",
    "shutdownTimeout",
];
const BAD_VALUE: &str = "-retentionPeriod=1h";
