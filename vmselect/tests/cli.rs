//! The vmselect binary's command line: VictoriaMetrics-style flags are accepted with one dash or
//! two, documented in `--help`, and bad values are refused with a message naming the flag.

#[path = "../../lib/service/tests/support/cli_contract.rs"]
mod cli_contract;

const BIN: &str = env!("CARGO_BIN_EXE_vmselect");

#[test]
fn help_documents_every_flag_and_unknown_flags_are_refused() {
    cli_contract::help_documents_every_flag_and_unknown_flags_are_refused(BIN, FLAGS);
}

#[test]
fn bad_values_name_the_flag() {
    cli_contract::bad_values_name_the_flag(BIN, BAD_VALUE);
}

const FLAGS: &[&str] = &[
    "httpListenAddr",
    "storageNode",
    "replicationFactor",
    "search.denyPartialResponse",
    "search.maxQueryDuration",
    "search.maxUniqueTimeseries",
    "search.maxSeries",
    "search.maxTagValues",
    "search.maxSamplesPerQuery",
    "search.maxPointsPerTimeseries",
    "search.maxMemoryPerQuery",
    "search.maxConcurrentRequests",
    "search.maxQueueDuration",
    "search.lookbackDelta",
    "dedup.minScrapeInterval",
    "rpc.disableCompression",
    "search.maxRequestSize",
    "shutdownTimeout",
];
const BAD_VALUE: &str = "-search.maxQueryDuration=soon";
