//! The end-to-end benchmark (`cargo run --release -p benches --bin e2e -- --help`): the same
//! node_exporter-like load against our cluster, VictoriaMetrics and Prometheus, one system
//! after the other, each as real processes on 127.0.0.1.
//!
//! For each system: start it with empty data; post the pre-encoded remote_write requests over
//! N connections (ingestion rate = acknowledged samples / wall time of the send phase); flush
//! and count every host's samples per time window by query (the completeness check); force a
//! full merge and measure the data directories; run the dashboard queries (median latency,
//! answers kept for the comparison with Prometheus); sample the resident memory of every
//! process throughout; stop it. Then compare answers with Prometheus's and write the report.

pub mod load;
pub mod profile;
pub mod queries;
pub mod report;
pub mod rss;
pub mod send;
pub mod target;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::http_client::Client;
use load::{Load, LoadSpec};
use queries::{Answer, Query};
use report::{Goals, LoadSummary, Machine, Report, SystemResult};
use rss::RssSampler;
use send::SendOptions;
use target::{Setup, System, Target};

/// `perf record` during the ingestion phase (every process but vmselect) and the query phase
/// (every process but vminsert).
#[derive(Clone, Debug)]
pub struct PerfConfig {
    /// The `perf` binary.
    pub perf: PathBuf,
    /// Arguments after `perf record` (before `-p PID -o FILE`).
    pub args: Vec<String>,
    /// Where the `*.perf.data` files go.
    pub dir: PathBuf,
}

/// A run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The data set.
    pub load: LoadSpec,
    /// Concurrent connections of the send phase.
    pub concurrency: usize,
    /// Retries of a request answered 5xx/429 or failing with an I/O error.
    pub max_retries: u32,
    /// Systems to run, in order.
    pub targets: Vec<System>,
    /// Times to run every system (one after the other in each round); figures are medians
    /// over rounds.
    pub rounds: usize,
    /// Binaries and cluster shape.
    pub setup: Setup,
    /// Data directories and logs go under it (one directory per system).
    pub work_dir: PathBuf,
    /// Keep the data directories afterwards.
    pub keep_data: bool,
    /// Window of the completeness check, ms.
    pub check_window_ms: i64,
    /// Timed runs of each dashboard query.
    pub query_repeats: usize,
    /// RSS sampling interval.
    pub rss_interval: Duration,
    /// Idle time before the steady RSS figure.
    pub settle: Duration,
    /// Profiling, if asked for.
    pub perf: Option<PerfConfig>,
    /// Goals of the summary.
    pub goals: Goals,
    /// The command line, for the report.
    pub command: String,
}

fn say(msg: impl AsRef<str>) {
    eprintln!("[e2e] {}", msg.as_ref());
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> Machine {
    let mem_kb: u64 = read_trim("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average_at_start: read_trim("/proc/loadavg"),
        load_average_at_end: String::new(),
        memory_bytes: mem_kb * 1024,
    }
}

/// Now, ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2024-01-31T23:00:00Z`.
pub fn utc(ms: i64) -> String {
    let (y, m, d) = target::civil_from_days(ms.div_euclid(86_400_000));
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Runs every system and returns the report (failures of one system are recorded in its
/// result, and the others still run).
pub fn run(cfg: &Config) -> Result<Report> {
    let mut report = Report {
        command: cfg.command.clone(),
        started_at: utc(now_ms()),
        machine: machine(),
        goals: cfg.goals.clone(),
        ..Report::default()
    };
    say(format!(
        "generating {} hosts × {} s (seed {})",
        cfg.load.hosts,
        cfg.load.duration_ms / 1000,
        cfg.load.seed
    ));
    let started = Instant::now();
    let load = Load::generate(&cfg.load);
    report.load = LoadSummary {
        seed: cfg.load.seed,
        hosts: cfg.load.hosts,
        duration_s: cfg.load.duration_ms as f64 / 1000.0,
        series: load.series,
        samples: load.samples,
        requests: load.requests.len(),
        scrapes_per_request: cfg.load.scrapes_per_request,
        body_bytes: load.body_bytes(),
        protobuf_bytes: load.protobuf_bytes,
        min_ts: load.min_ts,
        max_ts: load.max_ts,
        concurrency: cfg.concurrency,
        generate_s: started.elapsed().as_secs_f64(),
    };
    say(format!(
        "{} samples, {} series, {} requests ({:.1} MiB) in {:.1} s; data from {} to {}",
        load.samples,
        load.series,
        load.requests.len(),
        load.body_bytes() as f64 / 1048576.0,
        report.load.generate_s,
        utc(load.min_ts),
        utc(load.max_ts)
    ));
    report.queries = queries::dashboard(&load);
    let mut results: BTreeMap<System, Vec<SystemResult>> = BTreeMap::new();
    let mut answers: BTreeMap<System, Vec<Vec<Option<Answer>>>> = BTreeMap::new();
    for &system in &cfg.targets {
        if let Err(why) = cfg.setup.available(system) {
            say(format!("skipping {system}: {why}"));
            report.skipped.push(format!("{system}: {why}"));
        }
    }
    for round in 0..cfg.rounds.max(1) {
        for &system in &cfg.targets {
            if cfg.setup.available(system).is_err() {
                continue;
            }
            say(format!(
                "--- {system}, round {} of {} ---",
                round + 1,
                cfg.rounds.max(1)
            ));
            let (result, a) = run_system(system, cfg, &load, &report.queries);
            if let Some(e) = &result.error {
                say(format!("{system} failed: {e}"));
            }
            answers.entry(system).or_default().push(a);
            results.entry(system).or_default().push(result);
        }
    }
    if let Some(reference) = answers.get(&System::Prometheus).cloned() {
        for (system, rounds) in &mut results {
            if *system == System::Prometheus {
                continue;
            }
            for (round, r) in rounds.iter_mut().enumerate() {
                let (Some(mine), Some(theirs)) = (
                    answers.get(system).and_then(|a| a.get(round)),
                    reference.get(round).or(reference.first()),
                ) else {
                    continue;
                };
                compare_answers(&report.queries, r, mine, theirs);
            }
        }
    }
    for (system, rounds) in &results {
        report.systems.push(report::aggregate(rounds));
        report
            .rounds
            .insert(system.name().to_owned(), rounds.clone());
    }
    report.machine.load_average_at_end = read_trim("/proc/loadavg");
    Ok(report)
}

/// Compares one round's answers with Prometheus's, query by query, into `r`.
fn compare_answers(
    queries: &[Query],
    r: &mut SystemResult,
    mine: &[Option<Answer>],
    theirs: &[Option<Answer>],
) {
    let (mut equal, mut compared) = (0, 0);
    for (i, q) in queries.iter().enumerate() {
        let (Some(Some(a)), Some(Some(b))) = (mine.get(i), theirs.get(i)) else {
            continue;
        };
        compared += 1;
        let d = queries::diff(a, b, q.compare).unwrap_or_default();
        if d.is_empty() {
            equal += 1;
        }
        if let Some(t) = r.timings.get_mut(i) {
            t.diff_vs_prometheus = Some(d);
        }
    }
    r.answers_equal_prometheus = Some((equal, compared));
}

fn run_system(
    system: System,
    cfg: &Config,
    load: &Load,
    queries: &[Query],
) -> (SystemResult, Vec<Option<Answer>>) {
    let mut result = SystemResult {
        system: Some(system),
        ..SystemResult::default()
    };
    let dir = cfg.work_dir.join(system.name());
    if dir.exists() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mut answers = Vec::new();
    let mut target = match Target::start(system, &cfg.setup, &dir) {
        Ok(t) => t,
        Err(e) => {
            result.error = Some(format!("start: {e:#}"));
            return (result, answers);
        }
    };
    result.version = target.version.clone();
    result.command_lines = target.command_lines.clone();
    let sampler = RssSampler::start(target.pids(), cfg.rss_interval, "ingest");
    if let Err(e) = measure(
        cfg,
        load,
        queries,
        &target,
        &sampler,
        &mut result,
        &mut answers,
    ) {
        result.error = Some(format!("{e:#}"));
    }
    result.rss = sampler.finish(cfg.settle);
    result.notes.extend(target.stop(Duration::from_secs(60)));
    if !cfg.keep_data {
        let _ = std::fs::remove_dir_all(&dir);
    }
    (result, answers)
}

fn perf_phase(cfg: &Config, target: &Target, phase: &str) -> Result<Option<profile::Recording>> {
    let Some(p) = &cfg.perf else { return Ok(None) };
    let pids: Vec<(String, u32)> = target
        .members
        .iter()
        .filter(|m| {
            if phase == "ingest" {
                m.role.ingests()
            } else {
                m.role.queries()
            }
        })
        .filter_map(|m| {
            Some((
                format!("{}-{}", target.system, m.proc_.name),
                m.proc_.pid()?,
            ))
        })
        .collect();
    profile::Recording::start(&p.perf, &p.args, &p.dir, phase, &pids).map(Some)
}

fn timed<T>(result: &mut SystemResult, phase: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    result
        .phases_s
        .insert(phase.to_owned(), started.elapsed().as_secs_f64());
    out
}

fn measure(
    cfg: &Config,
    load: &Load,
    queries: &[Query],
    target: &Target,
    sampler: &RssSampler,
    result: &mut SystemResult,
    answers: &mut Vec<Option<Answer>>,
) -> Result<()> {
    let system = target.system;
    let pids = target.pids();
    let perf = perf_phase(cfg, target, "ingest")?;
    let each = |pids: &[(String, u32)]| -> Vec<f64> {
        pids.iter()
            .map(|(_, p)| rss::cpu_seconds_of(*p).unwrap_or(0.0))
            .collect()
    };
    let mut cpu_mark = each(&pids);
    let mut cpu_phase = |result: &mut SystemResult, phase: &str| {
        let now = each(&pids);
        let used: Vec<f64> = now.iter().zip(&cpu_mark).map(|(a, b)| a - b).collect();
        result
            .cpu_s_by_phase
            .insert(phase.to_owned(), used.iter().sum());
        let by_process = result.cpu_s_by_process.entry(phase.to_owned()).or_default();
        for ((name, _), u) in pids.iter().zip(used) {
            by_process.insert(name.clone(), u);
        }
        cpu_mark = now;
    };
    let opts = SendOptions {
        addr: target.write_addr.clone(),
        path: target.write_path.clone(),
        concurrency: cfg.concurrency,
        max_retries: cfg.max_retries,
        timeout: Duration::from_secs(120),
    };
    say(format!(
        "{system}: sending {} requests over {} connections",
        load.requests.len(),
        cfg.concurrency
    ));
    result.send = send::send_all(&load.requests, &opts);
    result.phases_s.insert("send".into(), result.send.wall_s);
    cpu_phase(result, "send");
    if let Some(p) = perf {
        p.stop();
    }
    say(format!(
        "{system}: {:.0} samples/s ({} acked, {} rejected, {} non-2xx, {} I/O errors) in {:.1} s, {:.1} CPU s",
        result.send.samples_per_s,
        result.send.samples_acked,
        result.send.samples_rejected,
        result.send.non_2xx_total(),
        result.send.io_errors,
        result.send.wall_s,
        result.cpu_s_by_phase.get("send").copied().unwrap_or(0.0)
    ));
    for e in &result.send.errors {
        say(format!("{system}: send error: {e}"));
    }

    sampler.phase("check");
    let mut client = Client::new(target.query_addr.clone(), Duration::from_secs(600));
    timed(result, "flush", || target.flush())?;
    let check = timed(result, "check", || {
        queries::count_check(
            &mut client,
            &target.query_prefix,
            load,
            cfg.check_window_ms,
            match system {
                System::Prometheus => queries::CountMethod::RawSamples,
                _ => queries::CountMethod::CountOverTime,
            },
            5,
        )
    })?;
    cpu_phase(result, "check");
    say(format!(
        "{system}: count check: {} of {} samples, {} lost, {} extra ({} windows, attempt {})",
        check.counted, check.expected, check.lost, check.extra, check.windows, check.attempts
    ));
    for m in &check.mismatches {
        say(format!("{system}:   {m}"));
    }
    result.check = Some(check);

    sampler.phase("merge");
    let disk = timed(result, "flush_merge", || {
        target.flush_merge_measure(load.min_ts, load.max_ts)
    })?;
    cpu_phase(result, "flush_merge");
    let stored = result.check.as_ref().map_or(load.samples, |c| c.counted);
    result.bytes_per_sample = Some(disk.allocated_bytes as f64 / stored.max(1) as f64);
    say(format!(
        "{system}: disk {} bytes (du), {} bytes of files, {:.3} bytes/sample",
        disk.allocated_bytes,
        disk.apparent_bytes,
        result.bytes_per_sample.unwrap_or(0.0)
    ));
    result.disk = Some(disk);

    sampler.phase("queries");
    let perf = perf_phase(cfg, target, "queries")?;
    cpu_phase(result, "idle_before_queries");
    let (timings, a) = timed(result, "queries", || {
        queries::run_dashboard(
            &mut client,
            &target.query_prefix,
            queries,
            cfg.query_repeats,
        )
    });
    cpu_phase(result, "queries");
    if let Some(p) = perf {
        p.stop();
    }
    for t in &timings {
        match (&t.median_ms, &t.error) {
            (_, Some(e)) => say(format!("{system}: {}: error {e}", t.name)),
            (Some(m), None) => say(format!(
                "{system}: {}: median {m:.1} ms ({} items)",
                t.name, t.answer_size
            )),
            (None, None) => {}
        }
    }
    result.query_median_sum_ms = timings.iter().map(|t| t.median_ms).sum::<Option<f64>>();
    result.timings = timings;
    *answers = a;
    Ok(())
}

/// Writes `report.json` and `report.md` (and a copy named after the run's start) into `dir`.
pub fn write_report(report: &Report, dir: &Path, name: &str) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report).context("serialise the report")?;
    let mut md = format!("# End-to-end run {}\n\n", report.started_at);
    let _ = std::fmt::Write::write_fmt(
        &mut md,
        format_args!(
            "Command: `{}`\n\nMachine: {} CPUs, {:.1} GiB; load average at start {}, at end {}.\n\n",
            report.command,
            report.machine.cpus,
            report.machine.memory_bytes as f64 / (1u64 << 30) as f64,
            report.machine.load_average_at_start,
            report.machine.load_average_at_end
        ),
    );
    md.push_str(&report.markdown());
    md.push_str("\nVersions and command lines:\n\n");
    for s in &report.systems {
        let _ = std::fmt::Write::write_fmt(
            &mut md,
            format_args!(
                "- {}: `{}`\n",
                s.system.map_or("?", System::name),
                s.version
            ),
        );
        for c in &s.command_lines {
            let _ = std::fmt::Write::write_fmt(&mut md, format_args!("  - `{c}`\n"));
        }
    }
    let paths = vec![
        dir.join(format!("{name}.json")),
        dir.join(format!("{name}.md")),
    ];
    std::fs::write(&paths[0], json).with_context(|| format!("write {}", paths[0].display()))?;
    std::fs::write(&paths[1], md).with_context(|| format!("write {}", paths[1].display()))?;
    Ok(paths)
}
