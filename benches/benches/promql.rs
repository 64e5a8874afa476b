//! Query engine benchmarks: a rate-and-sum range query over 10 k counters, a classic
//! `histogram_quantile` over 1 k bucket series, and parse throughput.
//!
//! Run with `cargo bench -p benches --bench main -- promql`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use promql::{Engine, EngineConfig, Labels, MemoryQuerier};

const HOUR_MS: i64 = 3_600_000;
const SCRAPE_MS: i64 = 15_000;

/// A deterministic pseudo-random step (xorshift), so runs are comparable.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// node_exporter-like CPU counters: 100 instances x 10 cpus x 10 modes, one hour at 15 s,
/// growing by a jittered rate with an occasional restart.
fn cpu_counters(series: usize) -> (MemoryQuerier, u64) {
    let modes = [
        "idle",
        "user",
        "system",
        "iowait",
        "irq",
        "softirq",
        "steal",
        "nice",
        "guest",
        "guest_nice",
    ];
    let mut q = MemoryQuerier::new();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut samples = 0u64;
    for i in 0..series {
        let instance = format!("host-{:03}:9100", i / 100);
        let cpu = ((i / 10) % 10).to_string();
        let labels = Labels::from_pairs(&[
            ("__name__", "node_cpu_seconds_total"),
            ("instance", &instance),
            ("job", "node"),
            ("cpu", &cpu),
            ("mode", modes[i % 10]),
        ]);
        let mut v = (next(&mut rng) % 100_000) as f64;
        let pts: Vec<(i64, f64)> = (0..HOUR_MS / SCRAPE_MS)
            .map(|k| {
                let r = next(&mut rng);
                v = if r.is_multiple_of(5000) {
                    0.0
                } else {
                    v + (r % 1500) as f64 / 100.0
                };
                (k * SCRAPE_MS, v)
            })
            .collect();
        samples += pts.len() as u64;
        q.add(labels, &pts);
    }
    (q, samples)
}

/// Classic histogram buckets: 100 instances x 10 `le` bounds, cumulative counters.
fn bucket_series() -> (MemoryQuerier, u64) {
    let bounds = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    let mut q = MemoryQuerier::new();
    let mut rng = 42u64;
    let mut samples = 0u64;
    for inst in 0..100 {
        let mut counts = vec![0.0f64; bounds.len()];
        let mut per_bucket: Vec<Vec<(i64, f64)>> = vec![Vec::new(); bounds.len()];
        for k in 0..HOUR_MS / SCRAPE_MS {
            let mut cum = 0.0;
            for (b, c) in counts.iter_mut().enumerate() {
                cum += (next(&mut rng) % 20) as f64;
                *c = c.max(cum);
                per_bucket[b].push((k * SCRAPE_MS, *c));
            }
        }
        for (b, pts) in per_bucket.into_iter().enumerate() {
            let instance = format!("host-{inst:03}:8080");
            let labels = Labels::from_pairs(&[
                ("__name__", "http_request_duration_seconds_bucket"),
                ("instance", &instance),
                ("job", "api"),
                ("le", bounds[b]),
            ]);
            samples += pts.len() as u64;
            q.add(labels, &pts);
        }
    }
    (q, samples)
}

fn rate_sum(c: &mut Criterion) {
    let (q, samples) = cpu_counters(10_000);
    let mut g = c.benchmark_group("promql/sum_rate_10k_series_1h");
    g.throughput(Throughput::Elements(samples));
    g.sample_size(10);
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, all] {
        let engine = Engine::new(EngineConfig {
            threads,
            ..EngineConfig::default()
        });
        g.bench_with_input(
            BenchmarkId::new("threads", threads),
            &engine,
            |b, engine| {
                b.iter(|| {
                    black_box(
                        engine
                            .range(
                                &q,
                                "sum by (instance) (rate(node_cpu_seconds_total[5m]))",
                                0,
                                HOUR_MS,
                                60_000,
                            )
                            .expect("query runs"),
                    )
                });
            },
        );
    }
    g.finish();
}

fn histogram_quantile(c: &mut Criterion) {
    let (q, samples) = bucket_series();
    let mut g = c.benchmark_group("promql/histogram_quantile_1k_buckets_1h");
    g.throughput(Throughput::Elements(samples));
    g.sample_size(10);
    let engine = Engine::new(EngineConfig {
        threads: 1,
        ..EngineConfig::default()
    });
    g.bench_function("threads/1", |b| {
        b.iter(|| {
            black_box(engine.range(&q, "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))", 0, HOUR_MS, 60_000).expect("query runs"))
        });
    });
    g.finish();
}

fn parse(c: &mut Criterion) {
    let queries = [
        r#"sum by (instance) (rate(node_cpu_seconds_total{mode!="idle", job=~"node|host"}[5m]))"#,
        r#"histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket{job="api"}[5m])))"#,
        r#"100 * (1 - avg by (instance) (irate(node_cpu_seconds_total{mode="idle"}[1m])))"#,
        r#"node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / on (instance, mountpoint) group_left node_filesystem_size_bytes < 0.1"#,
        r#"max_over_time(rate(errors_total[1m])[1h:1m] offset 1d) > bool 2 * avg_over_time(errors_total[1h] @ end())"#,
        r#"WITH (f = {job="api"}, r(m) = rate(m[5m])) sum(r(requests_total{f})) / sum(r(requests_count{f}))"#,
    ];
    let bytes: usize = queries.iter().map(|q| q.len()).sum();
    let mut g = c.benchmark_group("promql/parse");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("mixed_queries", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(promql::parse(q).expect("parses"));
            }
        });
    });
    g.finish();
}

/// Every query engine benchmark.
pub fn benches(c: &mut Criterion) {
    rate_sum(c);
    histogram_quantile(c);
    parse(c);
}
