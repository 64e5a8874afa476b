//! vminsert's flags, spelled as VictoriaMetrics spells them (one dash or two).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use service::flags::{parse_bytes, parse_duration, parse_listen_addr};

/// vminsert: the stateless write front end of the cluster.
#[derive(Parser, Debug, Clone)]
#[command(name = "vminsert", version, about, long_about = None)]
pub struct Config {
    /// HTTP address for the write endpoints, /health and /metrics.
    #[arg(long = "httpListenAddr", env = "VM_HTTP_LISTEN_ADDR", default_value = ":8480", value_parser = parse_listen_addr)]
    pub http_listen_addr: SocketAddr,

    /// Storage nodes' insert addresses (`host:8400`); comma-separated or repeated. Every
    /// vminsert must list the same nodes in any order: placement hashes the addresses.
    #[arg(
        long = "storageNode",
        env = "VM_STORAGE_NODE",
        value_delimiter = ',',
        required = false
    )]
    pub storage_node: Vec<String>,

    /// Copies of each series, on distinct storage nodes. A write is acknowledged only when
    /// every copy is stored; with fewer available nodes than this it fails with 503.
    #[arg(
        long = "replicationFactor",
        env = "VM_REPLICATION_FACTOR",
        default_value_t = 1
    )]
    pub replication_factor: usize,

    /// Largest request body; larger requests get 413. Accepts units: `32MB`, `64MiB`.
    #[arg(long = "maxInsertRequestSize", env = "VM_MAX_INSERT_REQUEST_SIZE", default_value = "32MB", value_parser = parse_bytes)]
    pub max_insert_request_size: u64,

    /// Most labels per series (`__name__` included); more fails the request with 400.
    #[arg(
        long = "maxLabelsPerTimeseries",
        env = "VM_MAX_LABELS_PER_TIMESERIES",
        default_value_t = 30
    )]
    pub max_labels_per_timeseries: usize,

    /// Longest label name in bytes.
    #[arg(
        long = "maxLabelNameLen",
        env = "VM_MAX_LABEL_NAME_LEN",
        default_value_t = 256
    )]
    pub max_label_name_len: usize,

    /// Longest label value in bytes.
    #[arg(long = "maxLabelValueLen", env = "VM_MAX_LABEL_VALUE_LEN", default_value_t = 16 * 1024)]
    pub max_label_value_len: usize,

    /// Drop (and count in vm_rows_invalid_total) remote_write series with invalid names or
    /// labels instead of failing the request with 400, as Prometheus's own receiver does.
    #[arg(
        long = "remoteWrite.skipInvalidSeries",
        env = "VM_REMOTE_WRITE_SKIP_INVALID_SERIES",
        default_value_t = false
    )]
    pub skip_invalid_series: bool,

    /// Requests parsed and routed at once; more wait in a queue (bounds memory).
    #[arg(
        long = "maxConcurrentInserts",
        env = "VM_MAX_CONCURRENT_INSERTS",
        default_value_t = 16
    )]
    pub max_concurrent_inserts: usize,

    /// How long a request may wait for a slot before it fails with 503.
    #[arg(long = "insert.maxQueueDuration", env = "VM_INSERT_MAX_QUEUE_DURATION", default_value = "1m", value_parser = parse_duration)]
    pub max_queue_duration: Duration,

    /// Time a storage node has to acknowledge a batch before it counts as failed and its rows
    /// go elsewhere.
    #[arg(long = "rpc.insertTimeout", env = "VM_RPC_INSERT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub insert_timeout: Duration,

    /// Most batches in flight per storage node. A second batch goes out beside one in flight
    /// only once it holds 1 MiB of rows; smaller ones wait and go out together.
    #[arg(
        long = "rpc.sendersPerNode",
        env = "VM_RPC_SENDERS_PER_NODE",
        default_value_t = 2
    )]
    pub senders_per_node: usize,

    /// Send row batches uncompressed (saves CPU when storage nodes are on the same host).
    #[arg(
        long = "rpc.disableCompression",
        env = "VM_RPC_DISABLE_COMPRESSION",
        default_value_t = false
    )]
    pub disable_compression: bool,

    /// Time allowed to finish requests in flight on SIGTERM/SIGINT.
    #[arg(long = "shutdownTimeout", env = "VM_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Check the flags, print the resulting configuration and exit without starting (for
    /// validating manifests and scripts).
    #[arg(long = "dryRun", env = "VM_DRY_RUN", default_value_t = false)]
    pub dry_run: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["vminsert"])
    }
}

impl Config {
    /// Checks what clap cannot: at least one storage node, a feasible replication factor.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.storage_node.is_empty() {
            anyhow::bail!("no storage nodes: set -storageNode=host:8400[,host:8400...]");
        }
        if self.replication_factor == 0 {
            anyhow::bail!("-replicationFactor must be at least 1");
        }
        if self.replication_factor > self.storage_node.len() {
            anyhow::bail!(
                "-replicationFactor={} exceeds the {} storage nodes given by -storageNode",
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
