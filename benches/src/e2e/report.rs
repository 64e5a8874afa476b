//! The results of a run: one structure serialised as JSON, and the markdown tables (one
//! summary with ratios against VictoriaMetrics and the goals, one per query).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::queries::{CountCheck, Query, Timing, median};
use super::rss::RssStats;
use super::send::SendStats;
use super::target::{Disk, System};

/// Everything a run measured.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Report {
    /// The command line.
    pub command: String,
    /// When the run started, UTC.
    pub started_at: String,
    /// The machine.
    pub machine: Machine,
    /// The load.
    pub load: LoadSummary,
    /// The goals the summary checks.
    pub goals: Goals,
    /// The dashboard queries.
    pub queries: Vec<Query>,
    /// One entry per system: the median over rounds of each figure (see [`aggregate`]).
    pub systems: Vec<SystemResult>,
    /// Every round's results, by system name, in run order.
    pub rounds: BTreeMap<String, Vec<SystemResult>>,
    /// Systems asked for but not run, with why.
    pub skipped: Vec<String>,
}

/// The machine the run was on.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Machine {
    /// Online CPUs.
    pub cpus: usize,
    /// `/proc/loadavg` at the start.
    pub load_average_at_start: String,
    /// `/proc/loadavg` at the end.
    pub load_average_at_end: String,
    /// Total memory, bytes.
    pub memory_bytes: u64,
}

/// The load, as generated.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LoadSummary {
    /// Generator seed.
    pub seed: u64,
    /// Hosts.
    pub hosts: usize,
    /// Duration of the data set, s.
    pub duration_s: f64,
    /// Series.
    pub series: u64,
    /// Samples.
    pub samples: u64,
    /// Requests.
    pub requests: usize,
    /// Host scrapes per request.
    pub scrapes_per_request: usize,
    /// Compressed bytes of all requests.
    pub body_bytes: u64,
    /// Uncompressed protobuf bytes of all requests.
    pub protobuf_bytes: u64,
    /// Oldest sample, ms.
    pub min_ts: i64,
    /// Newest sample, ms.
    pub max_ts: i64,
    /// Concurrent connections of the send phase.
    pub concurrency: usize,
    /// Time to generate and encode, s.
    pub generate_s: f64,
}

/// Goals, as ratios of ours to VictoriaMetrics.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Goals {
    /// Ingested samples/s at least this many times VictoriaMetrics's.
    pub ingest_ratio: f64,
    /// Disk bytes per sample at most this many times VictoriaMetrics's.
    pub disk_ratio: f64,
    /// Peak RSS (all processes) at most this many times VictoriaMetrics's.
    pub rss_ratio: f64,
    /// Sum of query medians at most this many times VictoriaMetrics's.
    pub query_ratio: f64,
}

impl Default for Goals {
    fn default() -> Self {
        Goals {
            ingest_ratio: 1.5,
            disk_ratio: 0.8,
            rss_ratio: 1.0,
            query_ratio: 0.7,
        }
    }
}

/// One system's results.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SystemResult {
    /// Which system (`None` only in a default value).
    pub system: Option<System>,
    /// Its version line.
    pub version: String,
    /// Its processes' command lines.
    pub command_lines: Vec<String>,
    /// The send phase.
    pub send: SendStats,
    /// The completeness check.
    pub check: Option<CountCheck>,
    /// Disk after flush and merge.
    pub disk: Option<Disk>,
    /// Allocated disk bytes per stored sample.
    pub bytes_per_sample: Option<f64>,
    /// Memory.
    pub rss: RssStats,
    /// The dashboard queries.
    pub timings: Vec<Timing>,
    /// Sum of the query medians, ms (`None` if a query failed).
    pub query_median_sum_ms: Option<f64>,
    /// Queries whose answer equals Prometheus's, of those compared.
    pub answers_equal_prometheus: Option<(usize, usize)>,
    /// Wall time of each phase, s.
    pub phases_s: BTreeMap<String, f64>,
    /// CPU time of all the system's processes in each phase, s (steadier than wall time on a
    /// shared machine).
    pub cpu_s_by_phase: BTreeMap<String, f64>,
    /// The same per phase and process.
    pub cpu_s_by_process: BTreeMap<String, BTreeMap<String, f64>>,
    /// Things worth knowing (exit statuses, retries).
    pub notes: Vec<String>,
    /// Why the run of this system stopped early, if it did.
    pub error: Option<String>,
}

impl SystemResult {
    /// Samples the check found missing, or all acknowledged-or-not samples when it did not run.
    pub fn lost(&self) -> Option<u64> {
        self.check.as_ref().map(|c| c.lost)
    }
}

/// A goal's verdict.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Verdict {
    /// What.
    pub goal: String,
    /// Ours / VictoriaMetrics (or ours' figure for the loss goal).
    pub value: Option<f64>,
    /// Met?
    pub met: Option<bool>,
    /// In words: `met (1.62× ≥ 1.5×)`, `missed by 23 %`.
    pub text: String,
}

type Getter = fn(&SystemResult) -> Option<f64>;

const MIB: f64 = 1024.0 * 1024.0;

fn rows() -> Vec<(&'static str, Getter, usize)> {
    vec![
        (
            "ingestion, samples/s",
            |s| Some(s.send.samples_per_s).filter(|v| *v > 0.0),
            0,
        ),
        ("send phase, s", |s| Some(s.send.wall_s), 1),
        (
            "non-2xx answers (retried or not)",
            |s| Some(s.send.non_2xx_total() as f64),
            0,
        ),
        (
            "samples rejected at send",
            |s| Some(s.send.samples_rejected as f64),
            0,
        ),
        (
            "samples lost (count check)",
            |s| s.lost().map(|v| v as f64),
            0,
        ),
        ("disk, bytes/sample", |s| s.bytes_per_sample, 3),
        (
            "disk, MiB (du)",
            |s| s.disk.as_ref().map(|d| d.allocated_bytes as f64 / MIB),
            1,
        ),
        (
            "peak RSS, MiB (sum of processes)",
            |s| Some(s.rss.peak_sum_bytes as f64 / MIB).filter(|v| *v > 0.0),
            0,
        ),
        (
            "peak RSS while ingesting, MiB",
            |s| {
                s.rss
                    .peak_sum_by_phase
                    .get("ingest")
                    .map(|v| *v as f64 / MIB)
            },
            0,
        ),
        (
            "sum of per-process RSS peaks (VmHWM), MiB",
            |s| Some(s.rss.hwm_sum_bytes as f64 / MIB).filter(|v| *v > 0.0),
            0,
        ),
        (
            "steady RSS after the run, MiB",
            |s| Some(s.rss.steady_sum_bytes as f64 / MIB).filter(|v| *v > 0.0),
            0,
        ),
        (
            "CPU s while sending (all processes)",
            |s| s.cpu_s_by_phase.get("send").copied(),
            1,
        ),
        (
            "CPU µs per ingested sample",
            |s| {
                let cpu = s.cpu_s_by_phase.get("send")?;
                Some(cpu * 1e6 / s.send.samples_acked.max(1) as f64)
            },
            2,
        ),
        ("sum of query medians, ms", |s| s.query_median_sum_ms, 1),
        (
            "CPU s during the queries (all processes)",
            |s| s.cpu_s_by_phase.get("queries").copied(),
            2,
        ),
    ]
}

fn fmt_num(v: Option<f64>, decimals: usize) -> String {
    match v {
        None => "–".to_owned(),
        Some(v) if v.abs() >= 10_000.0 && decimals == 0 => group_thousands(v.round() as i64),
        Some(v) => format!("{v:.decimals$}"),
    }
}

fn group_thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

impl Report {
    /// A system's result.
    pub fn get(&self, system: System) -> Option<&SystemResult> {
        self.systems.iter().find(|s| s.system == Some(system))
    }

    /// Geometric mean over queries of ours / VictoriaMetrics median latency.
    pub fn query_ratio_geomean(&self) -> Option<f64> {
        let (ours, vm) = (self.get(System::Ours)?, self.get(System::VictoriaMetrics)?);
        let logs: Vec<f64> = ours
            .timings
            .iter()
            .zip(&vm.timings)
            .filter_map(|(a, b)| Some((a.median_ms? / b.median_ms.filter(|v| *v > 0.0)?).ln()))
            .collect();
        (!logs.is_empty()).then(|| (logs.iter().sum::<f64>() / logs.len() as f64).exp())
    }

    /// The goals checked against VictoriaMetrics.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let (ours, vm) = (self.get(System::Ours), self.get(System::VictoriaMetrics));
        let ratio = |f: Getter| match (ours.and_then(f), vm.and_then(f)) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let mut out = Vec::new();
        let mut at_least = |goal: &str, r: Option<f64>, want: f64| {
            let (met, text) = match r {
                None => (None, "not measured".to_owned()),
                Some(r) if r >= want => (Some(true), format!("met ({r:.2}× ≥ {want}×)")),
                Some(r) => (
                    Some(false),
                    format!(
                        "missed: {r:.2}× < {want}× (short by {:.0} %)",
                        (1.0 - r / want) * 100.0
                    ),
                ),
            };
            out.push(Verdict {
                goal: goal.to_owned(),
                value: r,
                met,
                text,
            });
        };
        at_least(
            &format!("ingestion ≥ {}× VictoriaMetrics", self.goals.ingest_ratio),
            ratio(|s| Some(s.send.samples_per_s)),
            self.goals.ingest_ratio,
        );
        let mut at_most = |goal: &str, r: Option<f64>, want: f64| {
            let (met, text) = match r {
                None => (None, "not measured".to_owned()),
                Some(r) if r <= want => (Some(true), format!("met ({r:.2}× ≤ {want}×)")),
                Some(r) => (
                    Some(false),
                    format!(
                        "missed: {r:.2}× > {want}× (over by {:.0} %)",
                        (r / want - 1.0) * 100.0
                    ),
                ),
            };
            out.push(Verdict {
                goal: goal.to_owned(),
                value: r,
                met,
                text,
            });
        };
        at_most(
            &format!(
                "disk bytes/sample ≤ {}× VictoriaMetrics",
                self.goals.disk_ratio
            ),
            ratio(|s| s.bytes_per_sample),
            self.goals.disk_ratio,
        );
        at_most(
            &format!("peak RSS ≤ {}× VictoriaMetrics", self.goals.rss_ratio),
            ratio(|s| Some(s.rss.peak_sum_bytes as f64)),
            self.goals.rss_ratio,
        );
        at_most(
            &format!(
                "sum of query medians ≤ {}× VictoriaMetrics",
                self.goals.query_ratio
            ),
            ratio(|s| s.query_median_sum_ms),
            self.goals.query_ratio,
        );
        let lost = ours.and_then(SystemResult::lost);
        let rejected = ours.map(|o| o.send.samples_rejected);
        let (met, text) = match (lost, rejected) {
            (Some(0), Some(0)) => (Some(true), "met (0 lost, 0 rejected)".to_owned()),
            (Some(l), Some(r)) => (Some(false), format!("missed: {l} lost, {r} rejected")),
            _ => (None, "not measured".to_owned()),
        };
        out.push(Verdict {
            goal: "0 samples lost".to_owned(),
            value: lost.map(|l| l as f64),
            met,
            text,
        });
        out
    }

    /// The summary, the goals and the per-query table, in markdown.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let l = &self.load;
        let _ = writeln!(
            md,
            "Load: {} hosts × {:.0} min, {} series, **{} samples** in {} remote_write requests \
             ({} scrape(s) each, {:.1} MiB snappy, {:.1} MiB protobuf), seed {}, {} connections.\n",
            l.hosts,
            l.duration_s / 60.0,
            group_thousands(l.series as i64),
            group_thousands(l.samples as i64),
            group_thousands(l.requests as i64),
            l.scrapes_per_request,
            l.body_bytes as f64 / MIB,
            l.protobuf_bytes as f64 / MIB,
            l.seed,
            l.concurrency
        );
        let present: Vec<System> = System::ALL
            .into_iter()
            .filter(|s| self.get(*s).is_some())
            .collect();
        let title = |s: System| match s {
            System::Ours => "ours",
            System::VictoriaMetrics => "VictoriaMetrics",
            System::Prometheus => "Prometheus",
        };
        let ratio_col =
            self.get(System::Ours).is_some() && self.get(System::VictoriaMetrics).is_some();
        md.push_str("| metric |");
        for s in &present {
            let _ = write!(md, " {} |", title(*s));
        }
        if ratio_col {
            md.push_str(" ours / VM |");
        }
        md.push_str("\n| --- |");
        for _ in &present {
            md.push_str(" ---: |");
        }
        if ratio_col {
            md.push_str(" ---: |");
        }
        md.push('\n');
        for (name, get, decimals) in rows() {
            let _ = write!(md, "| {name} |");
            for s in &present {
                let v = self.get(*s).and_then(get);
                let _ = write!(md, " {} |", fmt_num(v, decimals));
            }
            if ratio_col {
                let a = self.get(System::Ours).and_then(get);
                let b = self.get(System::VictoriaMetrics).and_then(get);
                let r = match (a, b) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
                    _ => "–".to_owned(),
                };
                let _ = write!(md, " {r} |");
            }
            md.push('\n');
        }
        md.push_str("| answers equal to Prometheus's |");
        for s in &present {
            let v = self
                .get(*s)
                .and_then(|r| r.answers_equal_prometheus)
                .map_or("–".to_owned(), |(a, b)| format!("{a} / {b}"));
            let _ = write!(md, " {v} |");
        }
        if ratio_col {
            md.push_str(" |");
        }
        md.push('\n');

        if ratio_col && let Some(g) = self.query_ratio_geomean() {
            let _ = writeln!(
                md,
                "\nGeometric mean of the per-query ratios ours / VM: **{g:.2}×** (the sum of medians is \
                 dominated by the heaviest query; this weighs every query alike)."
            );
        }
        md.push_str("\n| goal | verdict |\n| --- | --- |\n");
        for v in self.verdicts() {
            let _ = writeln!(md, "| {} | {} |", v.goal, v.text);
        }

        md.push_str("\nQuery medians, ms");
        let _ = writeln!(
            md,
            " (each query once to warm up, then timed runs, one at a time):\n"
        );
        md.push_str("| query |");
        for s in &present {
            let _ = write!(md, " {} |", title(*s));
        }
        if ratio_col {
            md.push_str(" ours / VM |");
        }
        md.push_str(" ours = Prometheus |\n| --- |");
        for _ in &present {
            md.push_str(" ---: |");
        }
        if ratio_col {
            md.push_str(" ---: |");
        }
        md.push_str(" --- |\n");
        for (i, q) in self.queries.iter().enumerate() {
            let _ = write!(md, "| {} |", q.name);
            let med = |s: System| {
                self.get(s)
                    .and_then(|r| r.timings.get(i))
                    .and_then(|t| t.median_ms)
            };
            for s in &present {
                let _ = write!(md, " {} |", fmt_num(med(*s), 1));
            }
            if ratio_col {
                let r = match (med(System::Ours), med(System::VictoriaMetrics)) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
                    _ => "–".to_owned(),
                };
                let _ = write!(md, " {r} |");
            }
            let eq = self
                .get(System::Ours)
                .and_then(|r| r.timings.get(i))
                .and_then(|t| t.diff_vs_prometheus.as_deref())
                .map_or("–".to_owned(), |d| {
                    if d.is_empty() {
                        "yes".to_owned()
                    } else {
                        format!("**no**: {}", d.replace('|', "\\|"))
                    }
                });
            let _ = writeln!(md, " {eq} |");
        }
        let rounds = self.rounds.values().map(Vec::len).max().unwrap_or(0);
        if rounds > 1 {
            let _ = writeln!(
                md,
                "\nEach round, systems one after the other (the tables above hold the medians):\n\n\
                 | round | system | samples/s | CPU µs/sample | bytes/sample | peak RSS, MiB | sum of query medians, ms |\n\
                 | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
            );
            for round in 0..rounds {
                for s in System::ALL {
                    let Some(r) = self.rounds.get(s.name()).and_then(|v| v.get(round)) else {
                        continue;
                    };
                    let cpu = r
                        .cpu_s_by_phase
                        .get("send")
                        .map(|c| c * 1e6 / r.send.samples_acked.max(1) as f64);
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} | {} | {} |",
                        round + 1,
                        title(s),
                        fmt_num(Some(r.send.samples_per_s), 0),
                        fmt_num(cpu, 2),
                        fmt_num(r.bytes_per_sample, 3),
                        fmt_num(Some(r.rss.peak_sum_bytes as f64 / MIB), 0),
                        fmt_num(r.query_median_sum_ms, 1)
                    );
                }
            }
        }
        for s in &self.systems {
            let name = s.system.map_or("?", title);
            for phase in ["send", "queries"] {
                let Some(by) = s.cpu_s_by_process.get(phase).filter(|b| b.len() > 1) else {
                    continue;
                };
                let parts: Vec<String> = by.iter().map(|(p, v)| format!("{p} {v:.1} s")).collect();
                let _ = writeln!(
                    md,
                    "\n{name}, CPU by process while {}: {}.",
                    if phase == "send" {
                        "sending"
                    } else {
                        "querying"
                    },
                    parts.join(", ")
                );
            }
            if let Some(e) = &s.error {
                let _ = writeln!(md, "\n**{name} failed:** {e}");
            }
            for n in &s.notes {
                let _ = writeln!(md, "\n{name}: {n}");
            }
        }
        for s in &self.skipped {
            let _ = writeln!(md, "\nSkipped: {s}");
        }
        md
    }
}

fn median_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| median(&v))
}

/// One system's figures over several rounds: the median of each figure on its own (so the
/// figures of one aggregate may come from different rounds), the sum of non-2xx answers, the
/// worst completeness check, the fewest answers equal to Prometheus's, and the first
/// difference seen. One round is returned as it is.
pub fn aggregate(rounds: &[SystemResult]) -> SystemResult {
    let Some(first) = rounds.first() else {
        return SystemResult::default();
    };
    if rounds.len() == 1 {
        return first.clone();
    }
    let med = |f: &dyn Fn(&SystemResult) -> Option<f64>| median_of(rounds.iter().filter_map(f));
    let mut out = first.clone();
    out.send.samples_per_s = med(&|r| Some(r.send.samples_per_s)).unwrap_or(0.0);
    out.send.wall_s = med(&|r| Some(r.send.wall_s)).unwrap_or(0.0);
    out.send.retries = rounds.iter().map(|r| r.send.retries).sum();
    out.send.io_errors = rounds.iter().map(|r| r.send.io_errors).sum();
    out.send.samples_rejected = rounds
        .iter()
        .map(|r| r.send.samples_rejected)
        .max()
        .unwrap_or(0);
    out.send.non_2xx = BTreeMap::new();
    for r in rounds {
        for (k, v) in &r.send.non_2xx {
            *out.send.non_2xx.entry(*k).or_default() += v;
        }
    }
    out.check = rounds
        .iter()
        .filter_map(|r| r.check.clone())
        .max_by_key(|c| (c.lost, c.extra));
    out.bytes_per_sample = med(&|r| r.bytes_per_sample);
    let bytes = |f: fn(&RssStats) -> u64| med(&|r| Some(f(&r.rss) as f64)).unwrap_or(0.0) as u64;
    out.rss.peak_sum_bytes = bytes(|s| s.peak_sum_bytes);
    out.rss.hwm_sum_bytes = bytes(|s| s.hwm_sum_bytes);
    out.rss.steady_sum_bytes = bytes(|s| s.steady_sum_bytes);
    for k in first.rss.peak_sum_by_phase.keys() {
        let v = med(&|r| r.rss.peak_sum_by_phase.get(k).map(|v| *v as f64));
        out.rss
            .peak_sum_by_phase
            .insert(k.clone(), v.unwrap_or(0.0) as u64);
    }
    for k in first.cpu_s_by_phase.keys() {
        if let Some(v) = med(&|r| r.cpu_s_by_phase.get(k).copied()) {
            out.cpu_s_by_phase.insert(k.clone(), v);
        }
    }
    for (phase, procs) in &first.cpu_s_by_process {
        for p in procs.keys() {
            if let Some(v) = med(&|r| r.cpu_s_by_process.get(phase)?.get(p).copied()) {
                out.cpu_s_by_process
                    .entry(phase.clone())
                    .or_default()
                    .insert(p.clone(), v);
            }
        }
    }
    for (i, t) in out.timings.iter_mut().enumerate() {
        let each = || rounds.iter().filter_map(move |r| r.timings.get(i));
        t.median_ms = median_of(each().filter_map(|t| t.median_ms));
        t.min_ms = each().filter_map(|t| t.min_ms).reduce(f64::min);
        t.max_ms = each().filter_map(|t| t.max_ms).reduce(f64::max);
        t.error = each().find_map(|t| t.error.clone());
        if t.error.is_some() {
            t.median_ms = None;
        }
        t.diff_vs_prometheus = each()
            .filter_map(|t| t.diff_vs_prometheus.clone())
            .reduce(|a, b| if a.is_empty() { b } else { a });
    }
    out.query_median_sum_ms = out.timings.iter().map(|t| t.median_ms).sum();
    out.answers_equal_prometheus = rounds
        .iter()
        .filter_map(|r| r.answers_equal_prometheus)
        .min_by_key(|(equal, _)| *equal);
    for k in first.phases_s.keys() {
        if let Some(v) = med(&|r| r.phases_s.get(k).copied()) {
            out.phases_s.insert(k.clone(), v);
        }
    }
    out.notes = rounds.iter().flat_map(|r| r.notes.clone()).collect();
    out.error = rounds.iter().find_map(|r| r.error.clone());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(system: System, rate: f64, bps: f64, rss: u64, q: f64) -> SystemResult {
        SystemResult {
            system: Some(system),
            send: SendStats {
                samples_per_s: rate,
                wall_s: 10.0,
                samples_acked: 1000,
                ..SendStats::default()
            },
            check: Some(CountCheck::default()),
            bytes_per_sample: Some(bps),
            rss: RssStats {
                peak_sum_bytes: rss,
                ..RssStats::default()
            },
            timings: vec![Timing {
                name: "q".into(),
                median_ms: Some(q),
                diff_vs_prometheus: Some(String::new()),
                ..Timing::default()
            }],
            query_median_sum_ms: Some(q),
            ..SystemResult::default()
        }
    }

    #[test]
    fn table_has_ratios_and_verdicts() {
        let report = Report {
            queries: vec![Query {
                name: "q".into(),
                api: "query".into(),
                params: vec![],
                compare: super::super::queries::Compare::Exact,
            }],
            systems: vec![
                result(System::Ours, 3_000_000.0, 0.4, 300 * 1024 * 1024, 7.0),
                result(
                    System::VictoriaMetrics,
                    1_000_000.0,
                    0.8,
                    200 * 1024 * 1024,
                    10.0,
                ),
            ],
            ..Report::default()
        };
        let md = report.markdown();
        #[track_caller]
        fn has(md: &str, line: &str) {
            assert!(md.lines().any(|l| l == line), "no line {line:?} in\n{md}");
        }
        has(&md, "| metric | ours | VictoriaMetrics | ours / VM |");
        has(
            &md,
            "| ingestion, samples/s | 3,000,000 | 1,000,000 | 3.00× |",
        );
        has(&md, "| disk, bytes/sample | 0.400 | 0.800 | 0.50× |");
        has(
            &md,
            "| peak RSS, MiB (sum of processes) | 300 | 200 | 1.50× |",
        );
        has(
            &md,
            "| ingestion ≥ 1.5× VictoriaMetrics | met (3.00× ≥ 1.5×) |",
        );
        has(
            &md,
            "| disk bytes/sample ≤ 0.8× VictoriaMetrics | met (0.50× ≤ 0.8×) |",
        );
        has(
            &md,
            "| peak RSS ≤ 1× VictoriaMetrics | missed: 1.50× > 1× (over by 50 %) |",
        );
        has(
            &md,
            "| sum of query medians ≤ 0.7× VictoriaMetrics | met (0.70× ≤ 0.7×) |",
        );
        has(&md, "| 0 samples lost | met (0 lost, 0 rejected) |");
        has(&md, "| q | 7.0 | 10.0 | 0.70× | yes |");
        let v = report.verdicts();
        assert_eq!(v.iter().filter(|v| v.met == Some(true)).count(), 4);
    }

    #[test]
    fn rounds_aggregate_to_medians_and_worst_cases() {
        let mut a = result(System::Ours, 1.0, 0.5, 100, 9.0);
        let b = result(System::Ours, 5.0, 0.4, 300, 3.0);
        let c = result(System::Ours, 3.0, 0.6, 200, 5.0);
        a.check = Some(CountCheck {
            lost: 7,
            ..CountCheck::default()
        });
        a.timings[0].diff_vs_prometheus = Some("differs".into());
        let m = aggregate(&[a.clone(), b, c]);
        assert_eq!(m.send.samples_per_s, 3.0);
        assert_eq!(m.bytes_per_sample, Some(0.5));
        assert_eq!(m.rss.peak_sum_bytes, 200);
        assert_eq!(m.timings[0].median_ms, Some(5.0));
        assert_eq!(m.query_median_sum_ms, Some(5.0));
        assert_eq!(m.lost(), Some(7));
        assert_eq!(m.timings[0].diff_vs_prometheus.as_deref(), Some("differs"));
        assert_eq!(aggregate(std::slice::from_ref(&a)), a);
    }
}
