//! Ingestion formats: decode + validate + canonicalise of realistic requests.
//!
//! The series are a real node_exporter scrape (`benches/data/node_exporter.prom`) as scraped
//! from 100 hosts (`instance="host-N:9100"`, `job="node"`), one sample each, as one Prometheus
//! remote_write request would carry them. Throughput is in samples.
//!
//! Time is the benchmark thread's CPU time ([`ThreadCpuTime`]), so the figures are per core
//! and hold on a machine shared with other work.

use std::hint::black_box;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use ingest::remote_write::Encoder;
use ingest::{Batch, Limits, Sample, influx, json_lines, prometheus_text, remote_write};

/// Criterion measurement: CPU time of the calling thread, in nanoseconds, formatted like wall
/// time.
pub struct ThreadCpuTime {
    wall: WallTime,
}

impl Default for ThreadCpuTime {
    fn default() -> Self {
        ThreadCpuTime { wall: WallTime }
    }
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }

    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

const HOSTS: usize = 100;
const NOW: i64 = 1_700_000_000_000;

/// The scrape's series: sorted `(name, value)` label pairs and the sample value.
fn scrape() -> Vec<(Vec<(String, String)>, f64)> {
    let body = include_bytes!("../data/node_exporter.prom");
    let mut batch = Batch::new();
    prometheus_text::parse(body, NOW, &Limits::default(), &mut batch)
        .expect("the node_exporter scrape parses");
    batch
        .iter()
        .map(|s| {
            let labels = s
                .labels()
                .iter()
                .map(|l| (l.name.to_owned(), l.value.to_owned()))
                .collect();
            (labels, s.samples[0].value)
        })
        .collect()
}

/// Every host's copy of every series, labels sorted as Prometheus sends them.
fn hosts() -> Vec<(Vec<(String, String)>, Sample)> {
    let scrape = scrape();
    let mut out = Vec::with_capacity(HOSTS * scrape.len());
    for h in 0..HOSTS {
        for (labels, value) in &scrape {
            let mut labels = labels.clone();
            labels.push(("instance".into(), format!("host-{h}:9100")));
            labels.push(("job".into(), "node".into()));
            labels.sort();
            let sample = Sample {
                timestamp_ms: NOW + h as i64,
                value: *value,
            };
            out.push((labels, sample));
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Registers the ingestion benchmarks.
pub fn benches(c: &mut Criterion<ThreadCpuTime>) {
    let series = hosts();
    let samples = series.len() as u64;
    let limits = Limits::default();

    let mut encoder = Encoder::new();
    for (labels, sample) in &series {
        encoder.push(
            labels.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            std::slice::from_ref(sample),
        );
    }
    let protobuf = encoder.protobuf().to_vec();
    let snappy = encoder.compress();

    let mut text = String::new();
    let mut json = String::new();
    let mut influx_lines = String::new();
    for (labels, sample) in &series {
        let name = labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .map(|(_, v)| v.as_str())
            .unwrap_or("none");
        let others: Vec<_> = labels.iter().filter(|(n, _)| n != "__name__").collect();
        let mut value = String::new();
        prometheus_text::write_value(sample.value, &mut value);
        let pairs: Vec<String> = others
            .iter()
            .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
            .collect();
        text.push_str(&format!(
            "{name}{{{}}} {value} {}\n",
            pairs.join(","),
            sample.timestamp_ms
        ));
        let metric: Vec<String> = labels
            .iter()
            .map(|(n, v)| format!("\"{n}\":\"{}\"", escape(v)))
            .collect();
        json.push_str(&format!(
            "{{\"metric\":{{{}}},\"values\":[{value}],\"timestamps\":[{}]}}\n",
            metric.join(","),
            sample.timestamp_ms
        ));
        let tags: Vec<(&str, &str)> = others
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        influx::render(
            name,
            &tags,
            &[("value", sample.value)],
            sample.timestamp_ms * 1_000_000,
            &mut influx_lines,
        );
    }

    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(samples));
    let mut batch = Batch::new();
    g.bench_function("remote_write/snappy+protobuf", |b| {
        b.iter(|| {
            batch.clear();
            remote_write::decode(black_box(&snappy), &limits, &mut batch).expect("decodes");
            assert_eq!(batch.sample_count() as u64, samples);
        })
    });
    g.bench_function("remote_write/protobuf", |b| {
        b.iter(|| {
            batch.clear();
            remote_write::decode_protobuf(black_box(&protobuf), &limits, &mut batch)
                .expect("decodes");
        })
    });
    g.bench_function("prometheus_text", |b| {
        b.iter(|| {
            batch.clear();
            prometheus_text::parse(black_box(text.as_bytes()), NOW, &limits, &mut batch)
                .expect("parses");
            assert_eq!(batch.sample_count() as u64, samples);
        })
    });
    g.bench_function("json_lines", |b| {
        b.iter(|| {
            batch.clear();
            json_lines::parse(black_box(json.as_bytes()), &limits, &mut batch).expect("parses");
            assert_eq!(batch.sample_count() as u64, samples);
        })
    });
    let options = influx::Options::new(NOW);
    g.bench_function("influx", |b| {
        b.iter(|| {
            batch.clear();
            influx::parse(
                black_box(influx_lines.as_bytes()),
                &options,
                &limits,
                &mut batch,
            )
            .expect("parses");
            assert_eq!(batch.sample_count() as u64, samples);
        })
    });
    g.finish();
}
