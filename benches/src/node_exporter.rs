//! A node_exporter-like data set, deterministic by seed, sized by hosts × duration.
//!
//! Series come from a real node_exporter scrape (`benches/data/node_exporter.prom`, 507 series
//! per host). Each host is scraped every 15 s at its own offset within the interval (as
//! Prometheus spreads targets), with the scrape timestamp jittered by up to ±5 ms; every series
//! of one scrape shares its timestamp, as in Prometheus. Values evolve by kind:
//! - counters (`TYPE counter`, `_total`, `_count`, `_sum`, and untyped `netstat`/`vmstat`
//!   counters) grow at a per-host rate with ±30 % noise per scrape, rounded to the precision
//!   the scrape prints (integers stay integers, `12.34` keeps two decimals); about half of the
//!   counters that start at 0 stay idle;
//! - gauges: about a third constant (info, limits, sizes), a third changing on one scrape in
//!   ten, a third wandering by up to 0.5 % of their magnitude every scrape, at the scrape's
//!   precision.

use std::fmt::Write as _;

/// The scrape the data set is built from.
pub const NODE_EXPORTER_PROM: &str = include_str!("../data/node_exporter.prom");
/// Scrape interval, ms.
pub const SCRAPE_INTERVAL_MS: i64 = 15_000;
/// Largest scrape timestamp jitter, ms (either way).
pub const JITTER_MS: i64 = 5;

/// A label set: `__name__` first, then the series' labels, `instance` and `job`.
pub type Labels = Vec<(String, String)>;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Counter { rate_per_s: f64 },
    Constant,
    RareGauge,
    Gauge,
}

#[derive(Clone, Debug)]
struct Template {
    name: String,
    labels: Vec<(String, String)>,
    v0: f64,
    decimals: u32,
    kind: Kind,
}

/// One scrape of one host: the series (label sets) and their values at one timestamp.
#[derive(Debug)]
pub struct Scrape<'a> {
    /// Host index, `0..hosts`.
    pub host: usize,
    /// Scrape timestamp, ms.
    pub timestamp: i64,
    /// Global index of the first series of this host (series `i` of the scrape is
    /// `first_series + i`).
    pub first_series: usize,
    /// Label sets of the host's series.
    pub labels: &'a [Labels],
    /// Values, one per label set.
    pub values: &'a [f64],
}

impl Scrape<'_> {
    /// The samples as `(labels, timestamp, value)`.
    pub fn samples(&self) -> impl Iterator<Item = (&Labels, i64, f64)> + '_ {
        self.labels
            .iter()
            .zip(self.values)
            .map(move |(l, v)| (l, self.timestamp, *v))
    }
}

/// The generator: iterate with [`NodeExporter::next_scrape`].
#[derive(Debug)]
pub struct NodeExporter {
    templates: Vec<Template>,
    hosts: usize,
    start_ms: i64,
    steps: i64,
    step: i64,
    host: usize,
    labels: Vec<Labels>,
    state: Vec<f64>,
    host_rate: Vec<f64>,
    host_offset: Vec<i64>,
    rng: u64,
}

/// splitmix64: a small deterministic generator.
fn mix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(x: &mut u64) -> f64 {
    (mix(x) >> 11) as f64 / (1u64 << 53) as f64
}

fn round_to(v: f64, decimals: u32) -> f64 {
    if decimals == 0 {
        return v.round();
    }
    let p = 10f64.powi(decimals as i32);
    (v * p).round() / p
}

/// Parses `name{a="b",...} value` lines; returns templates with kinds drawn from `seed`.
fn parse(text: &str, seed: u64) -> Vec<Template> {
    let mut types = std::collections::HashMap::new();
    let mut out = Vec::new();
    let mut rng = seed ^ 0x5eed;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut f = rest.split_whitespace();
            if let (Some(n), Some(t)) = (f.next(), f.next()) {
                types.insert(n.to_owned(), t.to_owned());
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v0) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, parse_labels(l.trim_end_matches('}'))),
            None => (series, Vec::new()),
        };
        let decimals = if value.contains(['e', 'E']) || v0.fract() == 0.0 {
            0
        } else {
            value
                .split_once('.')
                .map_or(0, |(_, f)| f.len() as u32)
                .min(6)
        };
        let base = name
            .trim_end_matches("_total")
            .trim_end_matches("_count")
            .trim_end_matches("_sum");
        let typ = types
            .get(name)
            .or_else(|| types.get(base))
            .map_or("untyped", String::as_str);
        let counter = typ == "counter"
            || name.ends_with("_total")
            || name.ends_with("_count")
            || name.ends_with("_sum")
            || (typ == "untyped" && (name.contains("netstat") || name.contains("vmstat")));
        let r = unit(&mut rng);
        let kind = if counter {
            if v0 == 0.0 && r < 0.5 {
                Kind::Constant
            } else {
                // Rates: seconds counters up to 0.5/s, integer counters in proportion to
                // their size (bytes counters move fast, error counters slowly).
                let u = unit(&mut rng);
                let rate = if decimals > 0 {
                    0.001 + 0.5 * u
                } else {
                    (v0.abs().max(10.0) * 1e-4 * (0.1 + u)).max(0.02)
                };
                Kind::Counter { rate_per_s: rate }
            }
        } else if name.ends_with("_info") || r < 0.35 {
            Kind::Constant
        } else if r < 0.7 {
            Kind::RareGauge
        } else {
            Kind::Gauge
        };
        out.push(Template {
            name: name.to_owned(),
            labels,
            v0,
            decimals,
            kind,
        });
    }
    out
}

fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some((name, after)) = rest.split_once("=\"") {
        let Some(end) = after.find('"') else { break };
        out.push((
            name.trim_start_matches(',').to_owned(),
            after[..end].to_owned(),
        ));
        rest = &after[end + 1..];
    }
    out
}

impl NodeExporter {
    /// A data set of `hosts` hosts scraped from `start_ms` for `duration_ms`.
    pub fn new(seed: u64, hosts: usize, start_ms: i64, duration_ms: i64) -> Self {
        let templates = parse(NODE_EXPORTER_PROM, seed);
        let mut rng = seed;
        let mut labels = Vec::with_capacity(hosts * templates.len());
        let mut state = Vec::with_capacity(hosts * templates.len());
        let mut host_rate = Vec::with_capacity(hosts);
        let mut host_offset = Vec::with_capacity(hosts);
        for h in 0..hosts {
            let mut instance = String::new();
            let _ = write!(instance, "host-{h:04}:9100");
            host_rate.push(0.5 + unit(&mut rng));
            host_offset.push((mix(&mut rng) % SCRAPE_INTERVAL_MS as u64) as i64);
            for t in &templates {
                let mut l = Vec::with_capacity(t.labels.len() + 3);
                l.push(("__name__".to_owned(), t.name.clone()));
                l.extend(t.labels.iter().cloned());
                l.push(("instance".to_owned(), instance.clone()));
                l.push(("job".to_owned(), "node".to_owned()));
                labels.push(l);
                state.push(t.v0);
            }
        }
        NodeExporter {
            templates,
            hosts,
            start_ms,
            steps: (duration_ms / SCRAPE_INTERVAL_MS).max(0),
            step: 0,
            host: 0,
            labels,
            state,
            host_rate,
            host_offset,
            rng,
        }
    }

    /// Series per host.
    pub fn series_per_host(&self) -> usize {
        self.templates.len()
    }

    /// All series (hosts × series per host).
    pub fn series_count(&self) -> usize {
        self.labels.len()
    }

    /// Label sets of every series, by global index.
    pub fn labels(&self) -> &[Labels] {
        &self.labels
    }

    /// Samples the whole data set holds.
    pub fn samples_count(&self) -> u64 {
        self.steps as u64 * self.labels.len() as u64
    }

    /// The next scrape (in time order across hosts), or `None` at the end.
    pub fn next_scrape(&mut self) -> Option<Scrape<'_>> {
        if self.step >= self.steps || self.hosts == 0 {
            return None;
        }
        let h = self.host;
        let n = self.templates.len();
        let jitter = (mix(&mut self.rng) % (2 * JITTER_MS as u64 + 1)) as i64 - JITTER_MS;
        let timestamp =
            self.start_ms + self.step * SCRAPE_INTERVAL_MS + self.host_offset[h] + jitter;
        if self.step > 0 {
            let dt = SCRAPE_INTERVAL_MS as f64 / 1000.0;
            for (i, t) in self.templates.iter().enumerate() {
                let v = &mut self.state[h * n + i];
                match t.kind {
                    Kind::Constant => {}
                    Kind::Counter { rate_per_s } => {
                        let noise = 0.7 + 0.6 * unit(&mut self.rng);
                        let inc = rate_per_s * self.host_rate[h] * dt * noise;
                        *v = round_to(*v + inc, t.decimals);
                    }
                    Kind::RareGauge => {
                        if unit(&mut self.rng) < 0.1 {
                            let step = (v.abs().max(1.0)) * 0.01 * (unit(&mut self.rng) - 0.5);
                            *v = round_to(*v + step, t.decimals);
                        }
                    }
                    Kind::Gauge => {
                        let step = (t.v0.abs().max(1.0)) * 0.01 * (unit(&mut self.rng) - 0.5);
                        *v = round_to(*v + step, t.decimals);
                    }
                }
            }
        }
        let range = h * n..(h + 1) * n;
        self.host += 1;
        if self.host == self.hosts {
            self.host = 0;
            self.step += 1;
        }
        Some(Scrape {
            host: h,
            timestamp,
            first_series: range.start,
            labels: &self.labels[range.clone()],
            values: &self.state[range],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_sized_and_realistic() {
        let collect = |seed| {
            let mut g = NodeExporter::new(seed, 3, 1_700_000_000_000, 10 * SCRAPE_INTERVAL_MS);
            let mut out = Vec::new();
            while let Some(s) = g.next_scrape() {
                out.extend(
                    s.samples()
                        .map(|(l, t, v)| (l[0].1.clone(), t, v.to_bits())),
                );
            }
            (g.series_count(), out)
        };
        let (series, a) = collect(1);
        assert_eq!(series, 3 * 507);
        assert_eq!(a.len(), 10 * 3 * 507);
        assert_eq!(a, collect(1).1);
        assert_ne!(a, collect(2).1);
        let g = NodeExporter::new(1, 2, 0, SCRAPE_INTERVAL_MS);
        let l = &g.labels()[507];
        assert_eq!(
            l[0],
            ("__name__".to_owned(), "go_gc_duration_seconds".to_owned())
        );
        assert_eq!(l[1], ("quantile".to_owned(), "0".to_owned()));
        assert_eq!(l[l.len() - 2].1, "host-0001:9100");
    }

    #[test]
    fn counters_never_decrease_and_scrapes_are_jittered_around_15s() {
        let mut g = NodeExporter::new(7, 1, 0, 100 * SCRAPE_INTERVAL_MS);
        let names: Vec<String> = g.labels().iter().map(|l| l[0].1.clone()).collect();
        let mut prev: Option<(i64, Vec<f64>)> = None;
        while let Some(s) = g.next_scrape() {
            if let Some((pt, pv)) = &prev {
                assert!((s.timestamp - pt - SCRAPE_INTERVAL_MS).abs() <= 2 * JITTER_MS);
                for (i, (a, b)) in pv.iter().zip(s.values).enumerate() {
                    if names[i].ends_with("_total") {
                        assert!(b >= a, "{} went from {a} to {b}", names[i]);
                    }
                }
            }
            prev = Some((s.timestamp, s.values.to_vec()));
        }
    }
}

/// Writes the data set in the Prometheus text format with timestamps (one line per sample),
/// e.g. to load the same data into another database for comparison.
pub fn write_prometheus_text(
    g: &mut NodeExporter,
    out: &mut impl std::io::Write,
) -> std::io::Result<u64> {
    let mut n = 0;
    let mut line = String::new();
    while let Some(s) = g.next_scrape() {
        for (labels, ts, v) in s.samples() {
            line.clear();
            line.push_str(&labels[0].1);
            line.push('{');
            for (i, (k, val)) in labels[1..].iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let _ = write!(line, "{k}=\"{val}\"");
            }
            let _ = writeln!(line, "}} {v} {ts}");
            out.write_all(line.as_bytes())?;
            n += 1;
        }
    }
    Ok(n)
}

/// Writes `$NODE_EXPORTER_TEXT_OUT` (hosts and hours from `$NODE_EXPORTER_HOSTS`,
/// `$NODE_EXPORTER_HOURS`, defaults 1 and 24), for the comparison in `docs/benchmarks.md`:
/// `NODE_EXPORTER_TEXT_OUT=/tmp/ne.txt cargo test --release -p benches --lib export_text -- --ignored`
#[test]
#[ignore = "writes a large file; run by hand"]
fn export_text() {
    let Some(path) = std::env::var_os("NODE_EXPORTER_TEXT_OUT") else {
        return;
    };
    let env = |k: &str, d: i64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let hosts = env("NODE_EXPORTER_HOSTS", 1) as usize;
    let hours = env("NODE_EXPORTER_HOURS", 24);
    let mut g = NodeExporter::new(42, hosts, 1_700_000_000_000, hours * 3_600_000);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create output"));
    let n = write_prometheus_text(&mut g, &mut f).expect("write output");
    eprintln!("{n} samples");
}
