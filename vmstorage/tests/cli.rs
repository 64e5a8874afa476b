//! The vmstorage binary's command line: VictoriaMetrics-style flags are accepted with one dash or
//! two, documented in `--help`, and bad values are refused with a message naming the flag.

#[path = "../../lib/service/tests/support/cli_contract.rs"]
mod cli_contract;

const BIN: &str = env!("CARGO_BIN_EXE_vmstorage");

#[test]
fn help_documents_every_flag_and_unknown_flags_are_refused() {
    cli_contract::help_documents_every_flag_and_unknown_flags_are_refused(BIN, FLAGS);
}

#[test]
fn bad_values_name_the_flag() {
    cli_contract::bad_values_name_the_flag(BIN, BAD_VALUE);
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
