//! The systems under test as real processes on 127.0.0.1: our cluster (storage nodes, one
//! vminsert, one vmselect), VictoriaMetrics single-node and Prometheus; how to write to and
//! query each, flush and merge it, and measure its data directories.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::http_client::{Client, Response};
use crate::procs::{Proc, free_port, wait_http_ok};

/// A system under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    /// This repository's cluster.
    Ours,
    /// VictoriaMetrics single-node.
    VictoriaMetrics,
    /// Prometheus with the remote-write receiver.
    Prometheus,
}

impl System {
    /// Every system, in run order.
    pub const ALL: [System; 3] = [System::Ours, System::VictoriaMetrics, System::Prometheus];

    /// The name used in flags, files and tables.
    pub fn name(self) -> &'static str {
        match self {
            System::Ours => "ours",
            System::VictoriaMetrics => "victoriametrics",
            System::Prometheus => "prometheus",
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for System {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ours" | "cluster" => Ok(System::Ours),
            "victoriametrics" | "vm" => Ok(System::VictoriaMetrics),
            "prometheus" | "prom" => Ok(System::Prometheus),
            _ => Err(format!(
                "unknown target {s:?}: want ours, victoriametrics (vm) or prometheus (prom)"
            )),
        }
    }
}

/// Where the binaries are and how to run our cluster.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Directory with `vmstorage`, `vminsert`, `vmselect` (release builds).
    pub ours_bin_dir: PathBuf,
    /// The VictoriaMetrics single-node binary.
    pub victoria_metrics: PathBuf,
    /// The Prometheus binary.
    pub prometheus: PathBuf,
    /// Storage nodes of our cluster.
    pub storage_nodes: usize,
    /// Replication factor of our cluster.
    pub replication_factor: usize,
    /// Extra flags for every vmstorage / vminsert / vmselect.
    pub extra_storage_flags: Vec<String>,
    /// See `extra_storage_flags`.
    pub extra_insert_flags: Vec<String>,
    /// See `extra_storage_flags`.
    pub extra_select_flags: Vec<String>,
}

impl Setup {
    /// Whether the binaries `system` needs exist.
    pub fn available(&self, system: System) -> Result<(), String> {
        let need: Vec<PathBuf> = match system {
            System::Ours => ["vmstorage", "vminsert", "vmselect"]
                .iter()
                .map(|b| self.ours_bin_dir.join(b))
                .collect(),
            System::VictoriaMetrics => vec![self.victoria_metrics.clone()],
            System::Prometheus => vec![self.prometheus.clone()],
        };
        match need.iter().find(|p| !p.is_file()) {
            Some(p) => Err(format!("{} not found", p.display())),
            None => Ok(()),
        }
    }
}

/// What a process does in its system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// vmstorage.
    Storage,
    /// vminsert.
    Insert,
    /// vmselect.
    Select,
    /// A single-process system (VictoriaMetrics single-node, Prometheus).
    Single,
}

impl Role {
    /// Whether the process works during ingestion.
    pub fn ingests(self) -> bool {
        self != Role::Select
    }

    /// Whether the process works during queries.
    pub fn queries(self) -> bool {
        self != Role::Insert
    }
}

/// One process of a system.
#[derive(Debug)]
pub struct Member {
    /// What it does.
    pub role: Role,
    /// The process.
    pub proc_: Proc,
    /// Its HTTP address.
    pub http: String,
    /// Its data directory, if it has one.
    pub data: Option<PathBuf>,
}

/// A running system.
#[derive(Debug)]
pub struct Target {
    /// Which one.
    pub system: System,
    /// Its processes.
    pub members: Vec<Member>,
    /// `host:port` remote_write goes to.
    pub write_addr: String,
    /// The remote_write path.
    pub write_path: String,
    /// `host:port` queries go to.
    pub query_addr: String,
    /// Prefix of the Prometheus API paths (`/select/0/prometheus` for ours), before `/api/v1/`.
    pub query_prefix: String,
    /// The version line it reports.
    pub version: String,
    /// Flags it was started with, per process, for the report.
    pub command_lines: Vec<String>,
}

const READY: Duration = Duration::from_secs(60);

fn version_of(bin: &Path, flag: &str) -> String {
    Command::new(bin)
        .arg(flag)
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// The version of the Debian package that installed `bin`, for binaries built without their
/// version string (Debian's VictoriaMetrics reports an empty one).
fn package_version(bin: &Path) -> Option<String> {
    let out = Command::new("dpkg-query")
        .arg("-S")
        .arg(bin)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let package = text.split(':').next()?.trim().to_owned();
    let v = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", &package])
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&v.stdout).trim().to_owned();
    (!package.is_empty() && !v.is_empty()).then(|| format!("{package} {v} (Debian package)"))
}

fn addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

impl Target {
    /// Starts `system` with its data and logs under `dir`, and waits until it is ready.
    pub fn start(system: System, setup: &Setup, dir: &Path) -> Result<Target> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        setup.available(system).map_err(anyhow::Error::msg)?;
        match system {
            System::Ours => start_ours(setup, dir),
            System::VictoriaMetrics => start_victoria_metrics(setup, dir),
            System::Prometheus => start_prometheus(setup, dir),
        }
    }

    /// `(name, pid)` of every running process.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.members
            .iter()
            .filter_map(|m| Some((m.proc_.name.clone(), m.proc_.pid()?)))
            .collect()
    }

    /// Makes everything written searchable (VictoriaMetrics and ours buffer recent rows).
    pub fn flush(&self) -> Result<()> {
        match self.system {
            System::Prometheus => Ok(()),
            System::Ours | System::VictoriaMetrics => {
                for m in self.members.iter().filter(|m| m.data.is_some()) {
                    get_ok(&m.http, "/internal/force_flush", Duration::from_secs(300))?;
                    // The node's counters after the send phase, beside its data directory
                    // (kept with --keep-data): what the storage did, for profiling notes.
                    if let Some(data) = &m.data {
                        let text = get_ok(&m.http, "/metrics", Duration::from_secs(30))?.body;
                        let path = data.with_extension("metrics.txt");
                        std::fs::write(&path, text)
                            .with_context(|| format!("writing {}", path.display()))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Flushes and fully merges every node's data, waits until merges finish, and measures
    /// the data on disk. For Prometheus, whose head stays in memory and in its WAL until it
    /// spans 3 h, a snapshot writes the head as a persistent block and that block is measured
    /// (the live directory is reported beside it).
    pub fn flush_merge_measure(&self, min_ts: i64, max_ts: i64) -> Result<Disk> {
        self.flush()?;
        let mut measured = Vec::new();
        match self.system {
            System::Ours => {
                for m in self.members.iter().filter(|m| m.data.is_some()) {
                    get_ok(&m.http, "/internal/force_merge", Duration::from_secs(1800))?;
                }
                for m in &self.members {
                    if let Some(d) = &m.data {
                        measured.push((m.proc_.name.clone(), d.clone()));
                    }
                }
                wait_stable(&measured)?;
            }
            System::VictoriaMetrics => {
                let m = &self.members[0];
                for prefix in month_prefixes(min_ts, max_ts) {
                    get_ok(
                        &m.http,
                        &format!("/internal/force_merge?partition_prefix={prefix}"),
                        Duration::from_secs(60),
                    )?;
                }
                // The forced merge runs in the background: wait for it and for any other merge.
                let deadline = Instant::now() + Duration::from_secs(1800);
                let mut idle = 0;
                while idle < 3 {
                    std::thread::sleep(Duration::from_millis(500));
                    let text = get_ok(&m.http, "/metrics", Duration::from_secs(30))?.text();
                    let busy = metric_sum(&text, "vm_active_force_merges")
                        + metric_sum(&text, "vm_active_merges");
                    idle = if busy == 0.0 { idle + 1 } else { 0 };
                    if Instant::now() > deadline {
                        bail!("VictoriaMetrics merges did not finish within 30 min");
                    }
                }
                if let Some(d) = &m.data {
                    measured.push((m.proc_.name.clone(), d.clone()));
                }
                wait_stable(&measured)?;
            }
            System::Prometheus => {
                let m = &self.members[0];
                let r = Client::new(m.http.clone(), Duration::from_secs(600))
                    .post("/api/v1/admin/tsdb/snapshot", &[], b"")
                    .context("Prometheus snapshot")?;
                if r.status != 200 {
                    bail!("Prometheus snapshot: {} {}", r.status, r.text());
                }
                let v: serde_json::Value =
                    serde_json::from_slice(&r.body).context("Prometheus snapshot answer")?;
                let name = v["data"]["name"]
                    .as_str()
                    .context("no data.name in the snapshot answer")?;
                let data = m.data.clone().context("Prometheus has no data directory")?;
                measured.push(("snapshot".to_owned(), data.join("snapshots").join(name)));
            }
        }
        let mut disk = Disk::default();
        for (name, d) in &measured {
            for (part, usage) in usage_by_child(d)? {
                disk.allocated_bytes += usage.allocated;
                disk.apparent_bytes += usage.apparent;
                disk.parts.push(DiskPart {
                    path: format!("{name}/{part}"),
                    allocated_bytes: usage.allocated,
                    apparent_bytes: usage.apparent,
                });
            }
        }
        if self.system == System::Prometheus
            && let Some(d) = &self.members[0].data
        {
            for (part, usage) in usage_by_child(d)? {
                if part != "snapshots" {
                    disk.unmeasured.push(DiskPart {
                        path: format!("live/{part}"),
                        allocated_bytes: usage.allocated,
                        apparent_bytes: usage.apparent,
                    });
                }
            }
        }
        Ok(disk)
    }

    /// Stops every process (SIGTERM, then SIGKILL after `grace`), query front ends first.
    pub fn stop(&mut self, grace: Duration) -> Vec<String> {
        let mut notes = Vec::new();
        // vmselect and vminsert before the storage nodes, as an operator would.
        self.members.sort_by_key(|m| m.role == Role::Storage);
        for m in &mut self.members {
            match m.proc_.terminate(grace) {
                Some(s) if s.success() => {}
                Some(s) => notes.push(format!("{} exited with {s}", m.proc_.name)),
                None => notes.push(format!(
                    "{} did not stop within {grace:?} of SIGTERM and was killed",
                    m.proc_.name
                )),
            }
        }
        notes
    }
}

fn start_ours(setup: &Setup, dir: &Path) -> Result<Target> {
    let bin = |b: &str| setup.ours_bin_dir.join(b);
    let mut members = Vec::new();
    let mut command_lines = Vec::new();
    let (mut inserts, mut selects) = (Vec::new(), Vec::new());
    for i in 0..setup.storage_nodes.max(1) {
        let (http, ins, sel) = (addr(), addr(), addr());
        let data = dir.join(format!("vmstorage-{i}"));
        let mut args = vec![
            format!("-storageDataPath={}", data.display()),
            format!("-httpListenAddr={http}"),
            format!("-vminsertAddr={ins}"),
            format!("-vmselectAddr={sel}"),
            "-retentionPeriod=100y".to_owned(),
            "-storage.minFreeDiskSpaceBytes=0".to_owned(),
        ];
        args.extend(setup.extra_storage_flags.iter().cloned());
        command_lines.push(format!("vmstorage {}", args.join(" ")));
        let name = format!("vmstorage-{i}");
        let proc_ = Proc::start(
            &name,
            &bin("vmstorage"),
            &args,
            &dir.join(format!("{name}.log")),
        )
        .context("start vmstorage")?;
        inserts.push(ins);
        selects.push(sel);
        members.push(Member {
            role: Role::Storage,
            proc_,
            http,
            data: Some(data),
        });
    }
    for m in &mut members {
        wait_http_ok(&mut m.proc_, &m.http, "/health", READY).map_err(anyhow::Error::msg)?;
    }
    let (insert_http, select_http) = (addr(), addr());
    let mut iargs = vec![
        format!("-httpListenAddr={insert_http}"),
        format!("-storageNode={}", inserts.join(",")),
        format!("-replicationFactor={}", setup.replication_factor),
    ];
    iargs.extend(setup.extra_insert_flags.iter().cloned());
    let mut sargs = vec![
        format!("-httpListenAddr={select_http}"),
        format!("-storageNode={}", selects.join(",")),
        format!("-replicationFactor={}", setup.replication_factor),
        "-search.maxQueryDuration=300s".to_owned(),
    ];
    sargs.extend(setup.extra_select_flags.iter().cloned());
    command_lines.push(format!("vminsert {}", iargs.join(" ")));
    command_lines.push(format!("vmselect {}", sargs.join(" ")));
    for (role, name, args, http) in [
        (Role::Insert, "vminsert", iargs, insert_http.clone()),
        (Role::Select, "vmselect", sargs, select_http.clone()),
    ] {
        let mut proc_ = Proc::start(name, &bin(name), &args, &dir.join(format!("{name}.log")))
            .with_context(|| format!("start {name}"))?;
        wait_http_ok(&mut proc_, &http, "/health", READY).map_err(anyhow::Error::msg)?;
        members.push(Member {
            role,
            proc_,
            http,
            data: None,
        });
    }
    Ok(Target {
        system: System::Ours,
        members,
        write_addr: insert_http,
        write_path: "/insert/0/prometheus/api/v1/write".to_owned(),
        query_addr: select_http,
        query_prefix: "/select/0/prometheus".to_owned(),
        version: version_of(&bin("vmstorage"), "--version"),
        command_lines,
    })
}

/// VictoriaMetrics flags: `-search.latencyOffset=0s` so that the newest samples are visible
/// to the completeness check; `-search.disableCache` so that repeated queries measure the
/// engine, not the rollup result cache (it also stops aligning range queries to the step);
/// no dedup (the default).
fn start_victoria_metrics(setup: &Setup, dir: &Path) -> Result<Target> {
    let http = addr();
    let data = dir.join("victoria-metrics-data");
    let args = vec![
        format!("-storageDataPath={}", data.display()),
        format!("-httpListenAddr={http}"),
        "-retentionPeriod=100y".to_owned(),
        "-search.latencyOffset=0s".to_owned(),
        "-search.disableCache".to_owned(),
        "-loggerLevel=WARN".to_owned(),
    ];
    let mut proc_ = Proc::start(
        "victoria-metrics",
        &setup.victoria_metrics,
        &args,
        &dir.join("victoria-metrics.log"),
    )
    .context("start victoria-metrics")?;
    wait_http_ok(&mut proc_, &http, "/health", READY).map_err(anyhow::Error::msg)?;
    Ok(Target {
        system: System::VictoriaMetrics,
        command_lines: vec![format!("victoria-metrics {}", args.join(" "))],
        members: vec![Member {
            role: Role::Single,
            proc_,
            http: http.clone(),
            data: Some(data),
        }],
        write_addr: http.clone(),
        write_path: "/api/v1/write".to_owned(),
        query_addr: http,
        query_prefix: String::new(),
        version: Some(version_of(&setup.victoria_metrics, "-version"))
            .filter(|v| !v.is_empty())
            .or_else(|| package_version(&setup.victoria_metrics))
            .unwrap_or_default(),
    })
}

/// Prometheus 2.42: the remote-write receiver and the admin API (for the snapshot) on, and an
/// out-of-order window of 3 h in the config file (`storage.tsdb.out_of_order_time_window`,
/// since 2.39): concurrent connections may deliver a host's scrapes slightly out of order,
/// which Prometheus would otherwise refuse with 400. The data set ends near now, so every
/// sample is inside the head's appendable range.
fn start_prometheus(setup: &Setup, dir: &Path) -> Result<Target> {
    let http = addr();
    let data = dir.join("prometheus-data");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 15s\nstorage:\n  tsdb:\n    out_of_order_time_window: 3h\n",
    )
    .context("write prometheus.yml")?;
    let args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", data.display()),
        format!("--web.listen-address={http}"),
        "--web.enable-remote-write-receiver".to_owned(),
        "--web.enable-admin-api".to_owned(),
        "--storage.tsdb.retention.time=100y".to_owned(),
        "--log.level=warn".to_owned(),
    ];
    let mut proc_ = Proc::start(
        "prometheus",
        &setup.prometheus,
        &args,
        &dir.join("prometheus.log"),
    )
    .context("start prometheus")?;
    wait_http_ok(&mut proc_, &http, "/-/ready", READY).map_err(anyhow::Error::msg)?;
    Ok(Target {
        system: System::Prometheus,
        command_lines: vec![format!("prometheus {}", args.join(" "))],
        members: vec![Member {
            role: Role::Single,
            proc_,
            http: http.clone(),
            data: Some(data),
        }],
        write_addr: http.clone(),
        write_path: "/api/v1/write".to_owned(),
        query_addr: http,
        query_prefix: String::new(),
        version: version_of(&setup.prometheus, "--version"),
    })
}

fn get_ok(addr: &str, path: &str, timeout: Duration) -> Result<Response> {
    let r = Client::new(addr.to_owned(), timeout)
        .get(path)
        .with_context(|| format!("GET http://{addr}{path}"))?;
    if !(200..300).contains(&r.status) {
        bail!("GET http://{addr}{path}: {} {}", r.status, r.text());
    }
    Ok(r)
}

/// The sum of every sample of metric `name` (any labels) in a Prometheus text exposition.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// VictoriaMetrics partition names (`YYYY_MM`, UTC) the data set spans.
pub fn month_prefixes(min_ts: i64, max_ts: i64) -> Vec<String> {
    let month = |ts: i64| {
        let (y, m, _) = civil_from_days(ts.div_euclid(86_400_000));
        (y, m)
    };
    let (mut y, mut m) = month(min_ts);
    let end = month(max_ts);
    let mut out = Vec::new();
    loop {
        out.push(format!("{y:04}_{m:02}"));
        if (y, m) >= end {
            break;
        }
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    out
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Bytes on disk: allocated blocks (what `du` reports) and file lengths (`du -b`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Allocated blocks × 512.
    pub allocated: u64,
    /// Sum of file lengths.
    pub apparent: u64,
}

/// Usage of a whole directory tree (symlinks not followed).
pub fn usage(path: &Path) -> Result<Usage> {
    use std::os::unix::fs::MetadataExt;
    let meta =
        std::fs::symlink_metadata(path).with_context(|| format!("stat {}", path.display()))?;
    let mut u = Usage {
        allocated: meta.blocks() * 512,
        apparent: if meta.is_file() { meta.len() } else { 0 },
    };
    if meta.is_dir() {
        for e in std::fs::read_dir(path).with_context(|| format!("read {}", path.display()))? {
            let e = e.with_context(|| format!("read {}", path.display()))?;
            // Files vanish while merges run; a file gone since the listing uses no space.
            match usage(&e.path()) {
                Ok(c) => {
                    u.allocated += c.allocated;
                    u.apparent += c.apparent;
                }
                Err(_) if !e.path().exists() => {}
                Err(err) => return Err(err),
            }
        }
    }
    Ok(u)
}

/// Usage of each child of `dir`, by name.
fn usage_by_child(dir: &Path) -> Result<Vec<(String, Usage)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let e = e.with_context(|| format!("read {}", dir.display()))?;
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            usage(&e.path())?,
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Waits until the total size of `dirs` stays the same for two seconds (background cleanups
/// after a merge), at most a minute.
fn wait_stable(dirs: &[(String, PathBuf)]) -> Result<()> {
    let total = || -> Result<Usage> {
        let mut t = Usage::default();
        for (_, d) in dirs {
            let u = usage(d)?;
            t.allocated += u.allocated;
            t.apparent += u.apparent;
        }
        Ok(t)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = total()?;
    let mut same = 0;
    while same < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = total()?;
        same = if now == last { same + 1 } else { 0 };
        last = now;
    }
    Ok(())
}

/// Data on disk after flush and merge.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Disk {
    /// Allocated bytes (`du`) over every measured directory.
    pub allocated_bytes: u64,
    /// File lengths (`du -b`) over every measured directory.
    pub apparent_bytes: u64,
    /// The measured directories' children, per process.
    pub parts: Vec<DiskPart>,
    /// Directories reported but not counted (Prometheus's live WAL and head chunks).
    pub unmeasured: Vec<DiskPart>,
}

/// One directory's share.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct DiskPart {
    /// `process/child`.
    pub path: String,
    /// Allocated bytes.
    pub allocated_bytes: u64,
    /// File lengths.
    pub apparent_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_metrics() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        // 2024-01-31T23:00Z .. 2024-02-01T01:00Z spans two partitions.
        let t = 19_754 * 86_400_000 - 3_600_000;
        assert_eq!(month_prefixes(t, t + 7_200_000), ["2024_01", "2024_02"]);
        assert_eq!(month_prefixes(t, t), ["2024_01"]);
        let text = "# HELP x\nvm_active_merges{type=\"a\"} 2\nvm_active_merges{type=\"b\"} 1\nvm_active_merges_total 9\n";
        assert_eq!(metric_sum(text, "vm_active_merges"), 3.0);
        assert_eq!("vm".parse::<System>(), Ok(System::VictoriaMetrics));
        assert!("x".parse::<System>().is_err());
    }
}
