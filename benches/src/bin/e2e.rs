//! `e2e`: the end-to-end benchmark of our cluster against VictoriaMetrics and Prometheus.
//! Flags here; the work is in `benches::e2e`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use benches::e2e::load::LoadSpec;
use benches::e2e::report::Goals;
use benches::e2e::target::{Setup, System};
use benches::e2e::{self, Config, PerfConfig};
use clap::Parser;

/// End-to-end benchmark: the same node_exporter-like remote_write load against our cluster
/// (real release binaries: N vmstorage, one vminsert, one vmselect), VictoriaMetrics
/// single-node and Prometheus, one after the other, each from empty data directories.
///
/// Per system: ingestion rate (acknowledged samples / wall time of the send phase), a
/// completeness check by query (samples per host and 15 min window), disk bytes per sample
/// after flush and full merge, peak and steady RSS (sum over the system's processes), and the
/// median latency of a fixed set of dashboard queries, whose answers are compared with
/// Prometheus's. Prints one table with ratios against VictoriaMetrics; with --out, writes
/// NAME.json and NAME.md there.
#[derive(Parser, Debug)]
#[command(name = "e2e", version)]
struct Args {
    /// Scraped hosts, 507 series each. 84 hosts × 2 h = 20.4 M samples.
    #[arg(long, default_value_t = 84)]
    hosts: usize,

    /// Length of the data set (`2h`, `10m`, `90s`); one scrape per host every 15 s.
    #[arg(long, default_value = "2h", value_parser = parse_duration)]
    duration: Duration,

    /// End of the data set, ms since the epoch (default: now, so that Prometheus's head
    /// accepts every sample).
    #[arg(long)]
    end_ms: Option<i64>,

    /// Generator seed: the same seed gives byte-identical requests.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Host scrapes per remote_write request (1 = 507 samples per request, as Prometheus
    /// 2.42 batches with max_samples_per_send 500).
    #[arg(long, default_value_t = 1)]
    scrapes_per_request: usize,

    /// Concurrent connections of the send phase (16 saturates both our cluster and
    /// VictoriaMetrics on 2 cores; fewer leaves them waiting on the client).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,

    /// Retries of a request answered 5xx or 429, or failing with an I/O error (other 4xx are
    /// not retried: the samples count as rejected).
    #[arg(long, default_value_t = 50)]
    max_retries: u32,

    /// Systems to run, in order: ours, victoriametrics (vm), prometheus (prom). Missing
    /// binaries are skipped with a note.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ours,victoriametrics,prometheus"
    )]
    targets: Vec<System>,

    /// Rounds: every system runs once per round, one after the other, and the tables show
    /// the median of each figure over rounds (every round is in the JSON and in a table). On a
    /// shared machine, 3 rounds keep one noisy minute from deciding a ratio.
    #[arg(long, default_value_t = 1)]
    rounds: usize,

    /// Storage nodes of our cluster.
    #[arg(long, default_value_t = 2)]
    storage_nodes: usize,

    /// Replication factor of our cluster.
    #[arg(long, default_value_t = 1)]
    replication_factor: usize,

    /// Directory with the release builds of vmstorage, vminsert and vmselect (default: the
    /// directory of this binary).
    #[arg(long)]
    bin_dir: Option<PathBuf>,

    /// VictoriaMetrics single-node binary.
    #[arg(long, default_value = "/usr/bin/victoria-metrics")]
    victoria_metrics: PathBuf,

    /// Prometheus binary.
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus: PathBuf,

    /// Extra flag for every vmstorage (repeatable), e.g. `--storage-flag=-storage.walFsync`.
    #[arg(long, allow_hyphen_values = true)]
    storage_flag: Vec<String>,

    /// Extra flag for vminsert (repeatable).
    #[arg(long, allow_hyphen_values = true)]
    insert_flag: Vec<String>,

    /// Extra flag for vmselect (repeatable).
    #[arg(long, allow_hyphen_values = true)]
    select_flag: Vec<String>,

    /// Data directories and logs (one subdirectory per system; removed after each system
    /// unless --keep-data). Default: a new directory under the system's temp dir.
    #[arg(long)]
    work_dir: Option<PathBuf>,

    /// Keep the data directories and logs.
    #[arg(long)]
    keep_data: bool,

    /// Write NAME.json and NAME.md into this directory.
    #[arg(long)]
    out: Option<PathBuf>,

    /// Base name of the result files (default: e2e-<UTC date and time>).
    #[arg(long)]
    name: Option<String>,

    /// Window of the completeness check (a multiple of 15 s).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    check_window: Duration,

    /// Timed runs of each dashboard query (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 7)]
    query_repeats: usize,

    /// RSS sampling interval.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    rss_interval: Duration,

    /// Idle time after the queries before the steady RSS figure.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    settle: Duration,

    /// Record profiles with `perf record` into this directory: vminsert and vmstorage (or the
    /// single process) during ingestion, vmselect and vmstorage during the queries. The
    /// profiler costs CPU: don't use the figures of a profiled run.
    #[arg(long)]
    perf: Option<PathBuf>,

    /// The perf binary.
    #[arg(long, default_value = "perf")]
    perf_bin: PathBuf,

    /// Arguments after `perf record`, space-separated.
    #[arg(long, default_value = "-F 499 -g", allow_hyphen_values = true)]
    perf_args: String,

    /// Goal: our ingestion rate at least this many times VictoriaMetrics's.
    #[arg(long, default_value_t = 1.5)]
    goal_ingest: f64,

    /// Goal: our disk bytes per sample at most this many times VictoriaMetrics's.
    #[arg(long, default_value_t = 0.8)]
    goal_disk: f64,

    /// Goal: our peak RSS (all processes) at most this many times VictoriaMetrics's.
    #[arg(long, default_value_t = 1.0)]
    goal_rss: f64,

    /// Goal: our sum of query medians at most this many times VictoriaMetrics's.
    #[arg(long, default_value_t = 0.7)]
    goal_queries: f64,
}

/// `250ms`, `90s`, `10m`, `2h`, `1d`; a bare number is seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?}: want e.g. 90s, 10m, 2h"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => return Err(format!("bad duration unit in {s:?}: want ms, s, m, h or d")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let bin_dir = args.bin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_default()
    });
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("e2e-{}", std::process::id())));
    let started = e2e::now_ms();
    let cfg = Config {
        load: LoadSpec {
            seed: args.seed,
            hosts: args.hosts,
            duration_ms: args.duration.as_millis() as i64,
            end_ms: args.end_ms.unwrap_or(started),
            scrapes_per_request: args.scrapes_per_request,
        },
        concurrency: args.concurrency,
        max_retries: args.max_retries,
        targets: args.targets.clone(),
        rounds: args.rounds,
        setup: Setup {
            ours_bin_dir: bin_dir,
            victoria_metrics: args.victoria_metrics.clone(),
            prometheus: args.prometheus.clone(),
            storage_nodes: args.storage_nodes,
            replication_factor: args.replication_factor,
            extra_storage_flags: args.storage_flag.clone(),
            extra_insert_flags: args.insert_flag.clone(),
            extra_select_flags: args.select_flag.clone(),
        },
        work_dir: work_dir.clone(),
        keep_data: args.keep_data,
        check_window_ms: args.check_window.as_millis() as i64,
        query_repeats: args.query_repeats,
        rss_interval: args.rss_interval,
        settle: args.settle,
        perf: args.perf.clone().map(|dir| PerfConfig {
            perf: args.perf_bin.clone(),
            args: args
                .perf_args
                .split_whitespace()
                .map(String::from)
                .collect(),
            dir,
        }),
        goals: Goals {
            ingest_ratio: args.goal_ingest,
            disk_ratio: args.goal_disk,
            rss_ratio: args.goal_rss,
            query_ratio: args.goal_queries,
        },
        command,
    };
    let report = e2e::run(&cfg)?;
    if !cfg.keep_data {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    println!("{}", report.markdown());
    if let Some(out) = &args.out {
        let name = args
            .name
            .clone()
            .unwrap_or_else(|| format!("e2e-{}", e2e::utc(started).replace([':', '-'], "")));
        let paths = e2e::write_report(&report, out, &name).context("write the results")?;
        for p in paths {
            eprintln!("[e2e] wrote {}", p.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("2x").is_err());
        Args::try_parse_from(["e2e", "--targets", "ours,vm", "--hosts", "5"]).unwrap();
        assert!(Args::try_parse_from(["e2e", "--targets", "influx"]).is_err());
    }
}
