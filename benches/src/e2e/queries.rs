//! Queries: the completeness check (every sample stored, counted per host and time window)
//! and a fixed set of dashboard queries whose median latency is measured and whose answers
//! are compared with Prometheus's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

use super::load::{Load, instance};
use crate::http_client::{Client, encode_param};
use crate::node_exporter::SCRAPE_INTERVAL_MS;

/// How two answers are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// Label sets exactly, timestamps to the millisecond, values with a relative tolerance.
    Exact,
    /// The sorted values only (for `topk`, whose choice among equal values is unspecified).
    ValuesOnly,
}

/// One query of the dashboard set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Query {
    /// A short name for tables.
    pub name: String,
    /// The API below `/api/v1/`: `query`, `query_range`, `labels`, `label/<name>/values`,
    /// `series`.
    pub api: String,
    /// Query parameters.
    pub params: Vec<(String, String)>,
    /// How answers are compared.
    pub compare: Compare,
}

impl Query {
    /// The request path under `prefix`.
    pub fn path(&self, prefix: &str) -> String {
        let q: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{}={}", encode_param(k), encode_param(v)))
            .collect();
        format!("{prefix}/api/v1/{}?{}", self.api, q.join("&"))
    }
}

/// Milliseconds as the seconds parameter the APIs take (`1700000000.123`).
pub fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// Evaluation times of the dashboard: `(t, range_start, step)`, all at the load's safe
/// residue, `t` shortly before the newest sample, the range up to 1 h long and starting more
/// than 6 min after the oldest sample (so that no 5 m window holds the first sample of a
/// series: engines extrapolate `rate` differently there).
pub fn eval_times(load: &Load) -> (i64, i64, i64) {
    let duration = load.max_ts - load.min_ts;
    let before_end = (duration / 10).clamp(SCRAPE_INTERVAL_MS, 600_000);
    let t = load.safe_time_at_or_before(load.max_ts - before_end);
    let step = 60_000;
    let room = (t - load.min_ts - 360_000) / step * step;
    let range = room.clamp(step, 3_600_000);
    (t, t - range, step)
}

/// The dashboard: instant and range queries (`rate`, `sum by`, `topk`, ratios,
/// `max_over_time`, `count by (__name__)`) and label and series lookups, at fixed times.
pub fn dashboard(load: &Load) -> Vec<Query> {
    let (t, start, step) = eval_times(load);
    let instant = |name: &str, q: &str, compare| Query {
        name: name.to_owned(),
        api: "query".to_owned(),
        params: vec![("query".into(), q.into()), ("time".into(), secs(t))],
        compare,
    };
    let range = |name: &str, q: &str| Query {
        name: name.to_owned(),
        api: "query_range".to_owned(),
        params: vec![
            ("query".into(), q.into()),
            ("start".into(), secs(start)),
            ("end".into(), secs(t)),
            ("step".into(), secs(step)),
        ],
        compare: Compare::Exact,
    };
    let lookup = |name: &str, api: &str, matcher: Option<&str>| {
        let mut params = Vec::new();
        if let Some(m) = matcher {
            params.push(("match[]".to_owned(), m.to_owned()));
        }
        params.push(("start".into(), secs(start)));
        params.push(("end".into(), secs(t)));
        Query {
            name: name.to_owned(),
            api: api.to_owned(),
            params,
            compare: Compare::Exact,
        }
    };
    let one_host = instance(load.spec.hosts.saturating_sub(1) / 2);
    vec![
        range(
            "range: cpu busy by instance",
            r#"sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#,
        ),
        instant(
            "instant: cpu by mode",
            "sum by (mode) (rate(node_cpu_seconds_total[5m]))",
            Compare::Exact,
        ),
        range(
            "range: network receive rate",
            r#"rate(node_network_receive_bytes_total{device="eth0"}[5m])"#,
        ),
        instant(
            "instant: topk disk writes",
            r#"topk(5, rate(node_disk_written_bytes_total{device="vda"}[5m]))"#,
            Compare::Exact,
        ),
        range(
            "range: memory used ratio",
            "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
        ),
        instant(
            "instant: filesystem free ratio",
            "node_filesystem_avail_bytes / node_filesystem_size_bytes",
            Compare::Exact,
        ),
        instant(
            "instant: max_over_time load1 1h",
            "max_over_time(node_load1[1h])",
            Compare::Exact,
        ),
        range(
            "range: avg_over_time load5",
            "avg_over_time(node_load5[10m])",
        ),
        instant(
            "instant: increase cpu user 1h",
            r#"increase(node_cpu_seconds_total{mode="user"}[1h])"#,
            Compare::Exact,
        ),
        instant(
            "instant: count by __name__",
            r#"count by (__name__) ({__name__=~".+"})"#,
            Compare::Exact,
        ),
        range(
            "range: one host, all cpu rates",
            &format!(r#"rate(node_cpu_seconds_total{{instance="{one_host}"}}[5m])"#),
        ),
        lookup("labels", "labels", None),
        lookup("label values: instance", "label/instance/values", None),
        lookup("label values: __name__", "label/__name__/values", None),
        lookup("series: node_uname_info", "series", Some("node_uname_info")),
        lookup(
            "series: one host's cpu",
            "series",
            Some(&format!(
                r#"{{__name__="node_cpu_seconds_total",instance="{one_host}"}}"#
            )),
        ),
    ]
}

/// An answer in a comparable form.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// Series (vector, matrix; a scalar as one series named `scalar`): canonical label set
    /// → `(timestamp ms, value)` points.
    Series(BTreeMap<String, Vec<(i64, f64)>>),
    /// Label names, label values, or canonical label sets of `/series`, sorted.
    List(Vec<String>),
}

fn canonical_labels(m: &Value) -> String {
    let mut pairs: Vec<(String, String)> = m
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

fn number(v: &Value) -> f64 {
    match v.as_str() {
        Some("NaN") => f64::NAN,
        Some("+Inf") | Some("Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(s) => s.parse().unwrap_or(f64::NAN),
        None => v.as_f64().unwrap_or(f64::NAN),
    }
}

fn point(p: &Value) -> (i64, f64) {
    let t = p[0].as_f64().unwrap_or(f64::NAN);
    ((t * 1000.0).round() as i64, number(&p[1]))
}

/// Parses an API answer (`{"status":"success","data":...}`).
pub fn parse_answer(body: &[u8]) -> Result<Answer> {
    let v: Value = serde_json::from_slice(body).context("answer is not JSON")?;
    if v["status"] != "success" {
        bail!(
            "answer is not a success: {}",
            String::from_utf8_lossy(body)
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    let data = &v["data"];
    if let Some(items) = data.as_array() {
        let mut list: Vec<String> = items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => canonical_labels(other),
            })
            .collect();
        list.sort();
        return Ok(Answer::List(list));
    }
    let mut out = BTreeMap::new();
    match data["resultType"].as_str() {
        Some("scalar") => {
            out.insert("scalar".to_owned(), vec![point(&data["result"])]);
        }
        Some("vector") | Some("matrix") => {
            for s in data["result"].as_array().into_iter().flatten() {
                let points = if let Some(ps) = s["values"].as_array() {
                    ps.iter().map(point).collect()
                } else {
                    vec![point(&s["value"])]
                };
                out.insert(canonical_labels(&s["metric"]), points);
            }
        }
        other => bail!("unexpected resultType {other:?}"),
    }
    Ok(Answer::Series(out))
}

/// Values equal within a relative tolerance of 1e-9 (NaN equals NaN).
pub fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * (a.abs() + b.abs())
}

fn short<T: std::fmt::Debug>(x: &T) -> String {
    let s = format!("{x:?}");
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

/// The first difference between `ours` and `reference`, or `None` if they agree.
pub fn diff(ours: &Answer, reference: &Answer, compare: Compare) -> Option<String> {
    match (ours, reference) {
        (Answer::List(a), Answer::List(b)) => (a != b).then(|| {
            let only_a: Vec<_> = a.iter().filter(|x| !b.contains(x)).collect();
            let only_b: Vec<_> = b.iter().filter(|x| !a.contains(x)).collect();
            format!(
                "{} vs {} items; only here {}, only in the reference {}",
                a.len(),
                b.len(),
                short(&only_a),
                short(&only_b)
            )
        }),
        (Answer::Series(a), Answer::Series(b)) if compare == Compare::ValuesOnly => {
            let vals = |m: &BTreeMap<String, Vec<(i64, f64)>>| {
                let mut v: Vec<f64> = m.values().flatten().map(|p| p.1).collect();
                v.sort_by(f64::total_cmp);
                v
            };
            let (va, vb) = (vals(a), vals(b));
            (va.len() != vb.len() || va.iter().zip(&vb).any(|(x, y)| !close(*x, *y)))
                .then(|| format!("values differ: {} vs {}", short(&va), short(&vb)))
        }
        (Answer::Series(a), Answer::Series(b)) => {
            if a.keys().ne(b.keys()) {
                let only_a: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
                let only_b: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
                return Some(format!(
                    "{} vs {} series; only here {}, only in the reference {}",
                    a.len(),
                    b.len(),
                    short(&only_a),
                    short(&only_b)
                ));
            }
            for (k, pa) in a {
                let pb = &b[k];
                let same = pa.len() == pb.len()
                    && pa
                        .iter()
                        .zip(pb)
                        .all(|(x, y)| x.0 == y.0 && close(x.1, y.1));
                if !same {
                    let first = pa
                        .iter()
                        .zip(pb)
                        .find(|(x, y)| x.0 != y.0 || !close(x.1, y.1));
                    return Some(format!(
                        "{k}: {} vs {} points, first difference {}",
                        pa.len(),
                        pb.len(),
                        short(&first)
                    ));
                }
            }
            None
        }
        _ => Some("different answer kinds".to_owned()),
    }
}

/// One query's measurement on one system.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Timing {
    /// The query's name.
    pub name: String,
    /// Median latency of the timed runs, ms (`None` if it failed).
    pub median_ms: Option<f64>,
    /// Fastest run, ms.
    pub min_ms: Option<f64>,
    /// Slowest run, ms.
    pub max_ms: Option<f64>,
    /// Series or items in the answer.
    pub answer_size: usize,
    /// The error, if a run failed.
    pub error: Option<String>,
    /// Against Prometheus's answer: `None` if not compared, else the difference (`""` if
    /// equal).
    pub diff_vs_prometheus: Option<String>,
}

/// Runs each query once to warm up and `repeats` times timed, sequentially.
pub fn run_dashboard(
    client: &mut Client,
    prefix: &str,
    queries: &[Query],
    repeats: usize,
) -> (Vec<Timing>, Vec<Option<Answer>>) {
    let mut timings = Vec::new();
    let mut answers = Vec::new();
    for q in queries {
        let path = q.path(prefix);
        let mut t = Timing {
            name: q.name.clone(),
            ..Timing::default()
        };
        let mut answer = None;
        let mut ms = Vec::new();
        for run in 0..=repeats.max(1) {
            let started = Instant::now();
            let r = client.get(&path);
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            match r {
                Ok(r) if r.status == 200 => {
                    if run == 0 {
                        match parse_answer(&r.body) {
                            Ok(a) => answer = Some(a),
                            Err(e) => t.error = Some(format!("{e:#}")),
                        }
                    } else {
                        ms.push(elapsed);
                    }
                }
                Ok(r) => {
                    t.error = Some(format!(
                        "{}: {}",
                        r.status,
                        r.text().chars().take(300).collect::<String>()
                    ));
                    break;
                }
                Err(e) => {
                    t.error = Some(format!("GET {path}: {e}"));
                    break;
                }
            }
        }
        if t.error.is_none() && !ms.is_empty() {
            ms.sort_by(f64::total_cmp);
            t.median_ms = Some(median(&ms));
            t.min_ms = ms.first().copied();
            t.max_ms = ms.last().copied();
        }
        t.answer_size = match &answer {
            Some(Answer::Series(m)) => m.len(),
            Some(Answer::List(l)) => l.len(),
            None => 0,
        };
        timings.push(t);
        answers.push(answer);
    }
    (timings, answers)
}

/// The median of sorted values.
pub fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The completeness check's result.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CountCheck {
    /// The query used (with `{w}` for the window).
    pub query: String,
    /// Samples the data set holds.
    pub expected: u64,
    /// Samples counted.
    pub counted: u64,
    /// Samples missing: expected minus counted, per host and window, where positive.
    pub lost: u64,
    /// Samples counted beyond the expected, per host and window, where positive.
    pub extra: u64,
    /// Windows queried.
    pub windows: usize,
    /// Attempts until the counts were complete (or the last attempt).
    pub attempts: usize,
    /// The first few (host, window) mismatches.
    pub mismatches: Vec<String>,
    /// Wall time of the last attempt, s.
    pub wall_s: f64,
}

/// How the completeness check counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountMethod {
    /// `sum by (instance) (count_over_time({__name__=~".+"}[w]))`, one query per window.
    CountOverTime,
    /// The raw samples of `{instance="…"}[w]`, one query per host and window, counted by the
    /// tool. For Prometheus, whose `count_over_time` drops `__name__` and then refuses a
    /// result with two equal label sets ("vector cannot contain metrics with the same
    /// labelset") when several metrics are selected at once.
    RawSamples,
}

#[derive(serde::Deserialize)]
struct RawAnswer {
    data: RawData,
}

#[derive(serde::Deserialize)]
struct RawData {
    result: Vec<RawSeries>,
}

#[derive(serde::Deserialize)]
struct RawSeries {
    values: Vec<serde::de::IgnoredAny>,
}

fn get_ok(client: &mut Client, path: &str) -> Result<Vec<u8>> {
    let r = client.get(path).with_context(|| format!("GET {path}"))?;
    if r.status != 200 {
        bail!(
            "count check: GET {path}: {} {}",
            r.status,
            r.text().chars().take(500).collect::<String>()
        );
    }
    Ok(r.body)
}

/// Samples per host in the window `(to - w, to]`, by instance label (as `canonical_labels`
/// writes it).
fn counts_in_window(
    client: &mut Client,
    prefix: &str,
    load: &Load,
    method: CountMethod,
    w: i64,
    to: i64,
) -> Result<BTreeMap<String, u64>> {
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    let path = |query: String| {
        Query {
            name: "count".into(),
            api: "query".into(),
            params: vec![("query".into(), query), ("time".into(), secs(to))],
            compare: Compare::Exact,
        }
        .path(prefix)
    };
    match method {
        CountMethod::CountOverTime => {
            let q = format!(
                r#"sum by (instance) (count_over_time({{__name__=~".+"}}[{}s]))"#,
                w / 1000
            );
            let body = get_ok(client, &path(q))?;
            let Answer::Series(by_instance) = parse_answer(&body)? else {
                bail!("count check: not a vector");
            };
            for (labels, points) in by_instance {
                let n = points.first().map_or(0.0, |p| p.1);
                *got.entry(labels).or_default() += n as u64;
            }
        }
        CountMethod::RawSamples => {
            for h in 0..load.spec.hosts {
                let q = format!(r#"{{instance="{}"}}[{}s]"#, instance(h), w / 1000);
                let body = get_ok(client, &path(q))?;
                let a: RawAnswer =
                    serde_json::from_slice(&body).context("count check: raw samples answer")?;
                let n: usize = a.data.result.iter().map(|s| s.values.len()).sum();
                got.insert(format!("{{instance={:?}}}", instance(h)), n as u64);
            }
        }
    }
    Ok(got)
}

/// Counts every host's samples in windows of `window_ms` ending at edges that never fall on
/// a sample, and compares with the data set. Retries up to `attempts` times, 2 s apart,
/// while samples are missing (a system may make rows searchable with a delay).
pub fn count_check(
    client: &mut Client,
    prefix: &str,
    load: &Load,
    window_ms: i64,
    method: CountMethod,
    attempts: usize,
) -> Result<CountCheck> {
    let edges = load.check_edges(window_ms);
    let w = edges.get(1).map_or(window_ms, |e| e - edges[0]);
    let mut check = CountCheck::default();
    for attempt in 1..=attempts.max(1) {
        let started = Instant::now();
        check = CountCheck {
            query: match method {
                CountMethod::CountOverTime => {
                    r#"sum by (instance) (count_over_time({__name__=~".+"}[W]))"#.to_owned()
                }
                CountMethod::RawSamples => {
                    r#"{instance="…"}[W], samples counted by the tool"#.to_owned()
                }
            },
            expected: load.samples,
            windows: edges.len() - 1,
            attempts: attempt,
            ..CountCheck::default()
        };
        for pair in edges.windows(2) {
            let (from, to) = (pair[0], pair[1]);
            let mut got = counts_in_window(client, prefix, load, method, w, to)?;
            for h in 0..load.spec.hosts {
                let key = format!("{{instance={:?}}}", instance(h));
                let want = load.expected_in(h, from, to);
                let have = got.remove(&key).unwrap_or(0);
                check.counted += have;
                if have < want {
                    check.lost += want - have;
                } else {
                    check.extra += have - want;
                }
                if have != want && check.mismatches.len() < 10 {
                    check.mismatches.push(format!(
                        "{} in ({}, {}]: {have} of {want}",
                        instance(h),
                        secs(from),
                        secs(to)
                    ));
                }
            }
            for (labels, n) in got {
                check.counted += n;
                check.extra += n;
                if check.mismatches.len() < 10 {
                    check.mismatches.push(format!("unexpected {labels}: {n}"));
                }
            }
        }
        check.wall_s = started.elapsed().as_secs_f64();
        if check.lost == 0 && check.extra == 0 {
            break;
        }
        if attempt < attempts {
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_and_compare() {
        let a = parse_answer(br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"b":"2","a":"1"},"value":[1700000000.5,"1.5"]}]}}"#).unwrap();
        let b = parse_answer(br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1","b":"2"},"value":[1700000000.5,"1.5000000000001"]}]}}"#).unwrap();
        assert_eq!(diff(&a, &b, Compare::Exact), None);
        let c = parse_answer(br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1700000000.5,"1.5"]}]}}"#).unwrap();
        assert!(diff(&a, &c, Compare::Exact).is_some());
        assert_eq!(diff(&a, &c, Compare::ValuesOnly), None);
        let l1 = parse_answer(br#"{"status":"success","data":["b","a"]}"#).unwrap();
        let l2 = parse_answer(br#"{"status":"success","data":["a","b"]}"#).unwrap();
        assert_eq!(diff(&l1, &l2, Compare::Exact), None);
        assert!(parse_answer(br#"{"status":"error","error":"x"}"#).is_err());
        assert_eq!(secs(1_700_000_000_005), "1700000000.005");
        assert_eq!(median(&[1.0, 2.0, 10.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 10.0]), 3.0);
    }
}
