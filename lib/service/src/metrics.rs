//! Self-metrics: counters, gauges and histograms, rendered in the Prometheus text format on
//! `/metrics`.
//!
//! A metric is registered once under its full name with labels, e.g.
//! `vm_rows_inserted_total{type="promremotewrite"}`, and updated through an `Arc` handle with
//! relaxed atomics: no lock on the hot path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Adds `d` (negative to subtract).
    pub fn add(&self, d: i64) {
        self.0.fetch_add(d, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Default buckets for latencies in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A histogram with fixed upper bounds (`le`), cumulative when rendered.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_bits: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| v <= b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut cur = self.sum_bits.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + v).to_bits();
            match self.sum_bits.compare_exchange_weak(
                cur,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(seen) => cur = seen,
            }
        }
    }

    /// Records the seconds elapsed since `start`.
    pub fn observe_since(&self, start: std::time::Instant) {
        self.observe(start.elapsed().as_secs_f64());
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

type GaugeFn = Box<dyn Fn() -> f64 + Send + Sync>;

enum Metric {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    GaugeFn(GaugeFn),
    CounterFn(GaugeFn),
    Histogram(Arc<Histogram>),
}

/// A set of named metrics. Cloning shares the set.
#[derive(Clone, Default)]
pub struct Registry {
    metrics: Arc<Mutex<BTreeMap<String, Metric>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Metric>> {
        self.metrics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The counter named `name` (with labels), created on first use.
    pub fn counter(&self, name: &str) -> Arc<Counter> {
        let mut m = self.lock();
        if let Some(Metric::Counter(c)) = m.get(name) {
            return Arc::clone(c);
        }
        let c = Arc::new(Counter::default());
        m.insert(name.to_owned(), Metric::Counter(Arc::clone(&c)));
        c
    }

    /// The gauge named `name`, created on first use.
    pub fn gauge(&self, name: &str) -> Arc<Gauge> {
        let mut m = self.lock();
        if let Some(Metric::Gauge(g)) = m.get(name) {
            return Arc::clone(g);
        }
        let g = Arc::new(Gauge::default());
        m.insert(name.to_owned(), Metric::Gauge(Arc::clone(&g)));
        g
    }

    /// The histogram named `name` with upper bounds `bounds`, created on first use.
    pub fn histogram(&self, name: &str, bounds: &'static [f64]) -> Arc<Histogram> {
        let mut m = self.lock();
        if let Some(Metric::Histogram(h)) = m.get(name) {
            return Arc::clone(h);
        }
        let h = Arc::new(Histogram::new(bounds));
        m.insert(name.to_owned(), Metric::Histogram(Arc::clone(&h)));
        h
    }

    /// A gauge whose value `f` computes at render time (replaces an earlier one of that name).
    pub fn gauge_fn(&self, name: &str, f: impl Fn() -> f64 + Send + Sync + 'static) {
        self.lock()
            .insert(name.to_owned(), Metric::GaugeFn(Box::new(f)));
    }

    /// A counter whose value `f` computes at render time (replaces an earlier one of that name).
    pub fn counter_fn(&self, name: &str, f: impl Fn() -> f64 + Send + Sync + 'static) {
        self.lock()
            .insert(name.to_owned(), Metric::CounterFn(Box::new(f)));
    }

    /// Renders every metric in the Prometheus text exposition format, with a `# TYPE` line per
    /// metric family.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut last_family = String::new();
        for (name, metric) in self.lock().iter() {
            let (family, labels) = split_name(name);
            let kind = match metric {
                Metric::Counter(_) | Metric::CounterFn(_) => "counter",
                Metric::Gauge(_) | Metric::GaugeFn(_) => "gauge",
                Metric::Histogram(_) => "histogram",
            };
            if family != last_family {
                let _ = writeln!(out, "# TYPE {family} {kind}");
                last_family = family.to_owned();
            }
            match metric {
                Metric::Counter(c) => {
                    let _ = writeln!(out, "{name} {}", c.get());
                }
                Metric::Gauge(g) => {
                    let _ = writeln!(out, "{name} {}", g.get());
                }
                Metric::GaugeFn(f) | Metric::CounterFn(f) => {
                    let _ = writeln!(out, "{name} {}", format_value(f()));
                }
                Metric::Histogram(h) => render_histogram(&mut out, family, labels, h),
            }
        }
        out
    }
}

fn render_histogram(out: &mut String, family: &str, labels: &str, h: &Histogram) {
    let with = |extra: &str| -> String {
        match (labels.is_empty(), extra.is_empty()) {
            (true, true) => String::new(),
            (true, false) => format!("{{{extra}}}"),
            (false, true) => format!("{{{labels}}}"),
            (false, false) => format!("{{{labels},{extra}}}"),
        }
    };
    let mut cumulative = 0;
    for (bound, count) in h.bounds.iter().zip(&h.counts) {
        cumulative += count.load(Ordering::Relaxed);
        let le = format!("le=\"{}\"", format_value(*bound));
        let _ = writeln!(out, "{family}_bucket{} {cumulative}", with(&le));
    }
    let _ = writeln!(out, "{family}_bucket{} {}", with("le=\"+Inf\""), h.count());
    let sum = f64::from_bits(h.sum_bits.load(Ordering::Relaxed));
    let _ = writeln!(out, "{family}_sum{} {}", with(""), format_value(sum));
    let _ = writeln!(out, "{family}_count{} {}", with(""), h.count());
}

/// Splits `family{labels}` into the family and the label text without braces.
fn split_name(name: &str) -> (&str, &str) {
    match name.find('{') {
        Some(i) => (&name[..i], name[i + 1..].trim_end_matches('}')),
        None => (name, ""),
    }
}

/// Formats a sample value as the text format spells it.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_kind_in_text_format() {
        let r = Registry::new();
        r.counter(r#"vm_rows_total{type="a"}"#).add(3);
        r.counter(r#"vm_rows_total{type="b"}"#).inc();
        r.counter(r#"vm_rows_total{type="a"}"#).inc();
        r.gauge("vm_pending").set(-2);
        r.gauge_fn("vm_ratio", || 0.5);
        let h = r.histogram(r#"vm_latency_seconds{path="/w"}"#, &[0.1, 1.0]);
        h.observe(0.05);
        h.observe(0.5);
        h.observe(7.0);
        let text = r.render();
        let want = "\
# TYPE vm_latency_seconds histogram
vm_latency_seconds_bucket{path=\"/w\",le=\"0.1\"} 1
vm_latency_seconds_bucket{path=\"/w\",le=\"1\"} 2
vm_latency_seconds_bucket{path=\"/w\",le=\"+Inf\"} 3
vm_latency_seconds_sum{path=\"/w\"} 7.55
vm_latency_seconds_count{path=\"/w\"} 3
# TYPE vm_pending gauge
vm_pending -2
# TYPE vm_ratio gauge
vm_ratio 0.5
# TYPE vm_rows_total counter
vm_rows_total{type=\"a\"} 4
vm_rows_total{type=\"b\"} 1
";
        assert_eq!(text, want);
    }
}
