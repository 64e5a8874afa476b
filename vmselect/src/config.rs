//! vmselect's flags, spelled as VictoriaMetrics spells them (one dash or two).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use service::flags::{parse_bytes, parse_duration, parse_listen_addr};

/// vmselect: the stateless query front end of the cluster.
#[derive(Parser, Debug, Clone)]
#[command(name = "vmselect", version, about, long_about = None)]
pub struct Config {
    /// HTTP address for the Prometheus query API, /health and /metrics.
    #[arg(long = "httpListenAddr", env = "VM_HTTP_LISTEN_ADDR", default_value = ":8481", value_parser = parse_listen_addr)]
    pub http_listen_addr: SocketAddr,

    /// Storage nodes' select addresses (`host:8401`); comma-separated or repeated.
    #[arg(
        long = "storageNode",
        env = "VM_STORAGE_NODE",
        value_delimiter = ',',
        required = false
    )]
    pub storage_node: Vec<String>,

    /// How many copies vminsert keeps of each series. With N, answers stay complete while
    /// fewer than N storage nodes fail.
    #[arg(
        long = "replicationFactor",
        env = "VM_REPLICATION_FACTOR",
        default_value_t = 1
    )]
    pub replication_factor: usize,

    /// Fail queries with 503 instead of answering `"isPartial": true` when a storage node that
    /// may hold data does not answer. A request can ask the same with `deny_partial_response=1`.
    #[arg(
        long = "search.denyPartialResponse",
        env = "VM_SEARCH_DENY_PARTIAL_RESPONSE",
        default_value_t = false
    )]
    pub deny_partial_response: bool,

    /// Longest time a query may run; a request may ask for less with `timeout`.
    #[arg(long = "search.maxQueryDuration", env = "VM_SEARCH_MAX_QUERY_DURATION", default_value = "30s", value_parser = parse_duration)]
    pub max_query_duration: Duration,

    /// The most series one query may select (0: no limit).
    #[arg(
        long = "search.maxUniqueTimeseries",
        env = "VM_SEARCH_MAX_UNIQUE_TIMESERIES",
        default_value_t = 300_000
    )]
    pub max_unique_timeseries: usize,

    /// The most series `/api/v1/series` and `/federate` return; `/api/v1/export` is bounded by
    /// -search.maxUniqueTimeseries.
    #[arg(
        long = "search.maxSeries",
        env = "VM_SEARCH_MAX_SERIES",
        default_value_t = 30_000
    )]
    pub max_series: usize,

    /// The most label names or label values the label APIs return.
    #[arg(
        long = "search.maxTagValues",
        env = "VM_SEARCH_MAX_TAG_VALUES",
        default_value_t = 100_000
    )]
    pub max_tag_values: usize,

    /// The most raw samples one query may load (0: no limit).
    #[arg(
        long = "search.maxSamplesPerQuery",
        env = "VM_SEARCH_MAX_SAMPLES_PER_QUERY",
        default_value_t = 1_000_000_000
    )]
    pub max_samples_per_query: usize,

    /// The most points per series a range query may return.
    #[arg(
        long = "search.maxPointsPerTimeseries",
        env = "VM_SEARCH_MAX_POINTS_PER_TIMESERIES",
        default_value_t = 30_000
    )]
    pub max_points_per_timeseries: usize,

    /// Memory one query may allocate for samples and intermediate results (0: no limit). The
    /// default keeps one hostile query from exhausting a typical vmselect pod.
    /// Accepts units: `1GB`, `512MiB`.
    #[arg(long = "search.maxMemoryPerQuery", env = "VM_SEARCH_MAX_MEMORY_PER_QUERY", default_value = "4GB", value_parser = parse_bytes)]
    pub max_memory_per_query: u64,

    /// Queries run at once; more wait in a queue.
    #[arg(
        long = "search.maxConcurrentRequests",
        env = "VM_SEARCH_MAX_CONCURRENT_REQUESTS",
        default_value_t = 8
    )]
    pub max_concurrent_requests: usize,

    /// How long a query may wait in the queue before it fails with 503.
    #[arg(long = "search.maxQueueDuration", env = "VM_SEARCH_MAX_QUEUE_DURATION", default_value = "10s", value_parser = parse_duration)]
    pub max_queue_duration: Duration,

    /// How far back an instant selector looks for a sample (Prometheus's lookback delta).
    #[arg(long = "search.lookbackDelta", env = "VM_SEARCH_LOOKBACK_DELTA", default_value = "5m", value_parser = parse_duration)]
    pub lookback_delta: Duration,

    /// De-duplicate samples of each series to one per interval at query time (0: only exact
    /// duplicates). Use the same value as vmstorage's.
    #[arg(long = "dedup.minScrapeInterval", env = "VM_DEDUP_MIN_SCRAPE_INTERVAL", default_value = "0s", value_parser = parse_duration)]
    pub dedup_min_scrape_interval: Duration,

    /// Ask storage nodes for compressed answers.
    #[arg(
        long = "rpc.disableCompression",
        env = "VM_RPC_DISABLE_COMPRESSION",
        default_value_t = false
    )]
    pub disable_compression: bool,

    /// Largest form body accepted by POST requests.
    #[arg(long = "search.maxRequestSize", env = "VM_SEARCH_MAX_REQUEST_SIZE", default_value = "1MB", value_parser = parse_bytes)]
    pub max_request_size: u64,

    /// Time allowed to finish queries in flight on SIGTERM/SIGINT.
    #[arg(long = "shutdownTimeout", env = "VM_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Check the flags, print the resulting configuration and exit without starting (for
    /// validating manifests and scripts).
    #[arg(long = "dryRun", env = "VM_DRY_RUN", default_value_t = false)]
    pub dry_run: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["vmselect"])
    }
}

impl Config {
    /// Checks what clap cannot: at least one storage node, a sensible replication factor.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.storage_node.is_empty() {
            anyhow::bail!("no storage nodes: set -storageNode=host:8401[,host:8401...]");
        }
        if self.replication_factor == 0 || self.replication_factor > self.storage_node.len() {
            anyhow::bail!(
                "-replicationFactor={} must be between 1 and the {} storage nodes given by -storageNode",
                self.replication_factor,
                self.storage_node.len()
            );
        }
        Ok(())
    }

    /// Parses the process arguments, accepting `-flag` as well as `--flag`.
    pub fn from_args() -> Self {
        Config::parse_from(service::flags::normalize_args(std::env::args()))
    }
}
