//! Query engine benchmarks: a rate-and-sum range query over 10 k counters, a classic
//! `histogram_quantile` over 1 k bucket series, dashboard queries over 10 k gauges
//! (`max_over_time`, `avg by`, a vector/vector division), and parse throughput.
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

/// node_exporter-like filesystem gauges: 2,000 instances x 5 mount points, one hour at 15 s,
/// `node_filesystem_size_bytes` (constant per mount point) and `node_filesystem_avail_bytes`
/// (a random walk below it). Returns the store and the samples of one metric.
fn filesystem_gauges(instances: usize) -> (MemoryQuerier, u64) {
    let mounts = [
        ("/dev/sda1", "ext4", "/"),
        ("/dev/sda2", "ext4", "/home"),
        ("/dev/sdb1", "xfs", "/var/lib/data"),
        ("tmpfs", "tmpfs", "/run"),
        ("/dev/nvme0n1p1", "vfat", "/boot/efi"),
    ];
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut all: Vec<(Labels, Vec<(i64, f64)>)> = Vec::new();
    let mut samples = 0u64;
    for i in 0..instances {
        let instance = format!("host-{i:04}:9100");
        for (device, fstype, mountpoint) in mounts {
            let labels = |name: &str| {
                Labels::from_pairs(&[
                    ("__name__", name),
                    ("instance", &instance),
                    ("job", "node"),
                    ("device", device),
                    ("fstype", fstype),
                    ("mountpoint", mountpoint),
                ])
            };
            let size = ((next(&mut rng) % 1000 + 1) << 30) as f64;
            let mut avail = size * (next(&mut rng) % 100) as f64 / 100.0;
            let steps = HOUR_MS / SCRAPE_MS;
            let size_pts: Vec<(i64, f64)> = (0..steps).map(|k| (k * SCRAPE_MS, size)).collect();
            let avail_pts: Vec<(i64, f64)> = (0..steps)
                .map(|k| {
                    let step = (next(&mut rng) % (1 << 24)) as f64 - (1 << 23) as f64;
                    avail = (avail + step).clamp(0.0, size);
                    (k * SCRAPE_MS, avail)
                })
                .collect();
            samples += avail_pts.len() as u64;
            all.push((labels("node_filesystem_size_bytes"), size_pts));
            all.push((labels("node_filesystem_avail_bytes"), avail_pts));
        }
    }
    // Sorted input appends to the store instead of inserting in the middle.
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut q = MemoryQuerier::new();
    for (labels, pts) in all {
        q.add(labels, &pts);
    }
    (q, samples)
}

/// Benchmarks one range query over the last hour at step 60 s, on one thread; `samples` is the
/// number of input samples the query reads.
fn range_query(c: &mut Criterion, group: &str, q: &MemoryQuerier, samples: u64, query: &str) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(samples));
    g.sample_size(10);
    let engine = Engine::new(EngineConfig {
        threads: 1,
        ..EngineConfig::default()
    });
    g.bench_function("threads/1", |b| {
        b.iter(|| {
            black_box(
                engine
                    .range(q, query, 0, HOUR_MS, 60_000)
                    .expect("query runs"),
            )
        });
    });
    g.finish();
}

/// Dashboard queries over 10 k gauge series: a rollup returning every series, an aggregation
/// of an instant selector (lookback at each step), and a one-to-one division.
fn dashboards(c: &mut Criterion) {
    let (q, samples) = filesystem_gauges(2_000);
    range_query(
        c,
        "promql/max_over_time_10k_series_1h",
        &q,
        samples,
        "max_over_time(node_filesystem_avail_bytes[5m])",
    );
    range_query(
        c,
        "promql/avg_by_10k_series_1h",
        &q,
        samples,
        "avg by (instance) (node_filesystem_avail_bytes)",
    );
    range_query(
        c,
        "promql/div_10k_by_10k_series_1h",
        &q,
        2 * samples,
        "node_filesystem_avail_bytes / node_filesystem_size_bytes",
    );
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
    dashboards(c);
    parse(c);
}
