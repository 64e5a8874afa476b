//! vmstorage's flags, spelled as VictoriaMetrics spells them (one dash or two).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use service::flags::{parse_bytes, parse_duration, parse_listen_addr, parse_retention};

/// vmstorage: the stateful storage node of the cluster.
#[derive(Parser, Debug, Clone)]
#[command(name = "vmstorage", version, about, long_about = None)]
pub struct Config {
    /// Directory with all the data: series index, data parts, WAL, snapshots.
    #[arg(
        long = "storageDataPath",
        env = "VM_STORAGE_DATA_PATH",
        default_value = "vmstorage-data"
    )]
    pub storage_data_path: PathBuf,

    /// How long data is kept: a number of months (`1`), or a duration with a unit (`30d`,
    /// `2w`, `1y`). The minimum is 1d.
    #[arg(long = "retentionPeriod", env = "VM_RETENTION_PERIOD", default_value = "1", value_parser = parse_retention)]
    pub retention_period: Duration,

    /// Keep only the last sample of each series in every interval of this length (0: keep
    /// all, except exact duplicates). Set it to the scrape interval when replicated Prometheus
    /// pairs write the same series.
    #[arg(long = "dedup.minScrapeInterval", env = "VM_DEDUP_MIN_SCRAPE_INTERVAL", default_value = "0s", value_parser = parse_duration)]
    pub dedup_min_scrape_interval: Duration,

    /// HTTP address for /health, /metrics, snapshots and force flush/merge.
    #[arg(long = "httpListenAddr", env = "VM_HTTP_LISTEN_ADDR", default_value = ":8482", value_parser = parse_listen_addr)]
    pub http_listen_addr: SocketAddr,

    /// RPC address for inserts from vminsert.
    #[arg(long = "vminsertAddr", env = "VM_VMINSERT_ADDR", default_value = ":8400", value_parser = parse_listen_addr)]
    pub vminsert_addr: SocketAddr,

    /// RPC address for selects from vmselect.
    #[arg(long = "vmselectAddr", env = "VM_VMSELECT_ADDR", default_value = ":8401", value_parser = parse_listen_addr)]
    pub vmselect_addr: SocketAddr,

    /// When free disk space under -storageDataPath falls below this many bytes, the node turns
    /// read-only: inserts are refused so that vminsert sends the rows to other nodes.
    /// Accepts units: `10MB`, `1GiB`.
    #[arg(long = "storage.minFreeDiskSpaceBytes", env = "VM_STORAGE_MIN_FREE_DISK_SPACE_BYTES", default_value = "10MB", value_parser = parse_bytes)]
    pub min_free_disk_space_bytes: u64,

    /// Rows become durable in file parts at least this often; the WAL covers them until then.
    /// Shorter means fewer in-memory parts held (2 s instead of 5 s: ~80 -> ~63 MiB per node at
    /// 1 M rows/s in the end-to-end benchmark) at the cost of more, smaller file parts to merge.
    #[arg(long = "storage.flushInterval", env = "VM_STORAGE_FLUSH_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    pub flush_interval: Duration,

    /// Fsync the WAL before acknowledging a batch (group-committed), so that acknowledged rows
    /// survive a power loss. Without it they survive a crash or kill of the process.
    #[arg(
        long = "storage.walFsync",
        env = "VM_STORAGE_WAL_FSYNC",
        default_value_t = false
    )]
    pub wal_fsync: bool,

    /// The most series one search may select; more fails the query with a message naming this flag.
    #[arg(
        long = "search.maxUniqueTimeseries",
        env = "VM_SEARCH_MAX_UNIQUE_TIMESERIES",
        default_value_t = 300_000
    )]
    pub max_unique_timeseries: u64,

    /// Time a search may take unless vmselect asks for less.
    #[arg(long = "search.maxQueryDuration", env = "VM_SEARCH_MAX_QUERY_DURATION", default_value = "30s", value_parser = parse_duration)]
    pub max_query_duration: Duration,

    /// Time allowed to finish in-flight requests and flush on SIGTERM/SIGINT.
    #[arg(long = "shutdownTimeout", env = "VM_SHUTDOWN_TIMEOUT", default_value = "25s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Check the flags, print the resulting configuration and exit without starting (for
    /// validating manifests and scripts).
    #[arg(long = "dryRun", env = "VM_DRY_RUN", default_value_t = false)]
    pub dry_run: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["vmstorage"])
    }
}

impl Config {
    /// Checks what clap cannot: the three listen addresses differ.
    pub fn validate(&self) -> anyhow::Result<()> {
        let addrs = [
            self.http_listen_addr,
            self.vminsert_addr,
            self.vmselect_addr,
        ];
        if addrs[0] == addrs[1] || addrs[0] == addrs[2] || addrs[1] == addrs[2] {
            anyhow::bail!(
                "-httpListenAddr, -vminsertAddr and -vmselectAddr must differ, got {addrs:?}"
            );
        }
        Ok(())
    }

    /// Parses the process arguments, accepting `-flag` as well as `--flag`.
    pub fn from_args() -> Self {
        Config::parse_from(service::flags::normalize_args(std::env::args()))
    }
}
