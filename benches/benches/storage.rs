//! Storage API benchmarks (`tsdb::storage::Storage`, index and sample table joined) over
//! node_exporter-like series: the label sets of `benches::node_exporter` (507 series per host
//! from a real scrape), one host per `instance`.
//!
//! Run: `cargo bench -p benches --bench main -- storage/` (see `docs/benchmarks.md`). The
//! 1 M-series storage is built once, on first use, and prints its build and RAM figures.

// A benchmark that hits an error must stop loudly, as a test does.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use benches::node_exporter::NodeExporter;
use criterion::{BatchSize, Criterion, Throughput};
use tsdb::clock::ManualClock;
use tsdb::index::{LabelMatcher, MatchKind};
use tsdb::metric_name::{self, Label};
use tsdb::storage::{MetricRow, Storage, StorageConfig};
use tsdb::{TableConfig, Tenant, TimeRange};

use crate::index::{cpu_time, live_bytes, print_once, rss, thread_cpu_time};

/// Runs `f` the first time `key` is seen in this process (criterion calls a benchmark's
/// closure once per sample).
fn once(key: &str, f: impl FnOnce()) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap();
    if !seen.iter().any(|k| k == key) {
        seen.push(key.to_owned());
        drop(seen);
        f();
    }
}

const DAY: i64 = 86_400_000;
/// A day in 2024: rows are written from its start, the clock stands at its middle.
const T0: i64 = 20_000 * DAY;
const NOW: i64 = T0 + DAY / 2;
const TENANT: Tenant = Tenant::new(1, 0);
/// Hosts of the 1 M-series storage: 1973 × 507 = 1 000 311 series.
const HOSTS_1M: usize = 1973;
const SCRAPE_MS: i64 = 15_000;

/// The criterion settings of the storage groups: few samples, short runs (2 shared cores).
pub fn config() -> Criterion {
    crate::index::config()
}

/// The label sets of one host (instance and job included), from the node_exporter generator.
fn template() -> &'static Vec<Vec<(String, String)>> {
    static T: OnceLock<Vec<Vec<(String, String)>>> = OnceLock::new();
    T.get_or_init(|| NodeExporter::new(42, 1, T0, SCRAPE_MS).labels().to_vec())
}

/// Values of successive scrapes of one host (one `Vec` per scrape).
fn scrape_values(scrapes: usize) -> Vec<Vec<f64>> {
    let mut g = NodeExporter::new(42, 1, T0, scrapes as i64 * SCRAPE_MS);
    let mut out = Vec::new();
    while let Some(s) = g.next_scrape() {
        out.push(s.values.to_vec());
    }
    out
}

/// Series per host.
fn per_host() -> usize {
    template().len()
}

/// The canonical names of host `h`'s series.
fn host_names(h: usize) -> Vec<Vec<u8>> {
    let instance = format!("10.{}.{}.{}:9100", h >> 16 & 255, h >> 8 & 255, h & 255);
    template()
        .iter()
        .map(|labels| {
            let mut ls: Vec<Label<'_>> = labels
                .iter()
                .map(|(n, v)| Label {
                    name: n,
                    value: if n == "instance" { &instance } else { v },
                })
                .collect();
            metric_name::canonicalize(&mut ls).unwrap();
            let mut out = Vec::new();
            metric_name::encode(&ls, &mut out);
            out
        })
        .collect()
}

fn storage_config() -> StorageConfig {
    StorageConfig {
        table: TableConfig {
            clock: ManualClock::new(NOW) as _,
            ..TableConfig::default()
        },
        ..StorageConfig::default()
    }
}

fn rows_of<'a>(names: &'a [Vec<u8>], ts: i64, values: &[f64]) -> Vec<MetricRow<'a>> {
    names
        .iter()
        .zip(values.iter().cycle())
        .map(|(n, &value)| MetricRow {
            tenant: TENANT,
            name: n,
            timestamp: ts,
            value,
        })
        .collect()
}

/// New series per second through `Storage::add_rows`: each call is the first scrape of a new
/// host (507 new series), into a growing storage; from one thread and from two.
pub fn new_series(c: &mut Criterion) {
    let values = scrape_values(1).remove(0);
    let mut g = c.benchmark_group("storage/new_series");
    g.throughput(Throughput::Elements(per_host() as u64));
    {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), storage_config()).unwrap();
        let mut host = 0usize;
        g.bench_function("add_rows_new_host_1_thread", |b| {
            b.iter_batched(
                || {
                    host += 1;
                    host_names(host)
                },
                |names| storage.add_rows(&rows_of(&names, T0, &values)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        eprintln!("storage/new_series 1 thread: {:?}", storage.stats());
        storage.close().unwrap();
    }
    // Two threads, each adding new hosts: series per second of both together.
    let hosts_per_thread = 8;
    g.throughput(Throughput::Elements(
        (2 * hosts_per_thread * per_host()) as u64,
    ));
    {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), storage_config()).unwrap();
        let mut next_host = 0usize;
        g.bench_function("add_rows_new_hosts_2_threads", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let batches: Vec<Vec<Vec<Vec<u8>>>> = (0..2)
                        .map(|_| {
                            (0..hosts_per_thread)
                                .map(|_| {
                                    next_host += 1;
                                    host_names(next_host)
                                })
                                .collect()
                        })
                        .collect();
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for hosts in &batches {
                            let (storage, values) = (&storage, &values);
                            s.spawn(move || {
                                for names in hosts {
                                    storage.add_rows(&rows_of(names, T0, values)).unwrap();
                                }
                            });
                        }
                    });
                    total += start.elapsed();
                }
                total
            })
        });
        eprintln!("storage/new_series 2 threads: {:?}", storage.stats());
        storage.close().unwrap();
    }
    g.finish();
}

/// The shared 1 M-series storage.
struct Big {
    _dir: tempfile::TempDir,
    storage: Storage,
    /// Canonical names of every series, host by host.
    names: Vec<Vec<u8>>,
    /// Scrapes added so far (the next one is at `T0 + scrapes * 15 s`).
    scrapes: std::sync::atomic::AtomicI64,
}

/// Adds one scrape of every host of the 1 M set at `ts`, in batches of one host.
fn add_scrape(storage: &Storage, names: &[Vec<u8>], ts: i64, values: &[f64]) {
    for host in names.chunks(per_host()) {
        storage.add_rows(&rows_of(host, ts, values)).unwrap();
    }
}

fn big() -> &'static Big {
    static B: OnceLock<Big> = OnceLock::new();
    B.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<Vec<u8>> = (0..HOSTS_1M).flat_map(host_names).collect();
        let values = scrape_values(4);
        let n = names.len() as f64;
        // Heap and RSS from here: the names above belong to the benchmark, not the storage.
        let (anon0, _) = rss();
        let heap0 = live_bytes();
        let (start, cpu0, tcpu0) = (Instant::now(), cpu_time(), thread_cpu_time());
        let storage = Storage::open(dir.path(), storage_config()).unwrap();
        add_scrape(&storage, &names, T0, &values[0]);
        let (took, tcpu) = (start.elapsed(), thread_cpu_time() - tcpu0);
        let cpu = cpu_time() - cpu0;
        eprintln!(
            "storage/1m build: {} new series in {took:.2?} = {:.0} series/s wall; calling thread CPU {:.0} ns/series; all threads {:.0} ns/series",
            storage.stats().new_series,
            n / took.as_secs_f64(),
            tcpu.as_nanos() as f64 / n,
            cpu.as_nanos() as f64 / n,
        );
        if std::env::var_os("STORAGE_BENCH_EXIT_AFTER_BUILD").is_some() {
            // For `perf stat`: instructions of the build alone.
            std::process::exit(0);
        }
        // Three more scrapes of every series: rows of known series.
        let (start, cpu0, tcpu0) = (Instant::now(), cpu_time(), thread_cpu_time());
        for (k, v) in values.iter().enumerate().skip(1) {
            add_scrape(&storage, &names, T0 + k as i64 * SCRAPE_MS, v);
        }
        let rows = 3.0 * n;
        eprintln!(
            "storage/1m known rows: {rows} rows in {:.2?} = {:.0} rows/s wall; calling thread CPU {:.0} ns/row; all threads {:.0} ns/row",
            start.elapsed(),
            rows / start.elapsed().as_secs_f64(),
            (thread_cpu_time() - tcpu0).as_nanos() as f64 / rows,
            (cpu_time() - cpu0).as_nanos() as f64 / rows,
        );
        let (anon1, file1) = rss();
        let heap1 = live_bytes();
        let st = storage.stats();
        eprintln!(
            "storage/1m RAM with {} active series receiving rows (pending rows {}, parts {}): heap +{} B = {:.0} B/series; RssAnon +{} B = {:.0} B/series; RssFile {} B",
            st.series,
            st.pending_rows,
            st.parts,
            heap1 - heap0,
            (heap1 - heap0) as f64 / n,
            anon1.saturating_sub(anon0),
            anon1.saturating_sub(anon0) as f64 / n,
            file1,
        );
        storage.force_flush().unwrap();
        let heap2 = live_bytes();
        eprintln!(
            "storage/1m RAM after force_flush: heap +{} B = {:.0} B/series; {:?}",
            heap2 - heap0,
            (heap2 - heap0) as f64 / n,
            storage.stats()
        );
        Big {
            _dir: dir,
            storage,
            names,
            scrapes: std::sync::atomic::AtomicI64::new(4),
        }
    })
}

/// Rows of known series through `Storage::add_rows` at 1 M series: every 10th host's scrape
/// (100 k rows per iteration), batches of one host (507 rows), from one thread and from two.
pub fn known_rows(c: &mut Criterion) {
    let sample_hosts: Vec<usize> = (0..HOSTS_1M).step_by(10).collect();
    let rows_per_iter = (sample_hosts.len() * per_host()) as u64;
    let values = scrape_values(1).remove(0);
    let mut g = c.benchmark_group("storage/known_rows");
    g.throughput(Throughput::Elements(rows_per_iter));
    for threads in [1usize, 2] {
        g.bench_function(format!("add_rows_batch_507_threads_{threads}"), |bn| {
            let b = big();
            let host = |h: usize| &b.names[h * per_host()..(h + 1) * per_host()];
            let one_pass = |thread: usize| {
                let k = b.scrapes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let ts = T0 + k * SCRAPE_MS;
                let mut rows = Vec::with_capacity(per_host());
                for &h in sample_hosts.iter().skip(thread).step_by(threads) {
                    rows.clear();
                    rows.extend(rows_of(host(h), ts, &values));
                    b.storage.add_rows(&rows).unwrap();
                }
            };
            if threads == 1 {
                // Thread CPU per row, steadier than wall time on a shared machine.
                once("known rows", || {
                    let (tcpu0, passes) = (thread_cpu_time(), 20);
                    for _ in 0..passes {
                        one_pass(0);
                    }
                    eprintln!(
                        "storage/known_rows: {:.0} ns of calling-thread CPU per row over {} rows",
                        (thread_cpu_time() - tcpu0).as_nanos() as f64
                            / (passes as u64 * rows_per_iter) as f64,
                        passes as u64 * rows_per_iter
                    );
                });
            }
            bn.iter(|| {
                std::thread::scope(|s| {
                    for t in 0..threads {
                        s.spawn(move || one_pass(t));
                    }
                })
            })
        });
    }
    g.finish();
}

/// Matcher resolution through `Storage::search` (every matching series' name and blocks are
/// read) and label values, at 1 M series, over a one-hour range.
pub fn search_1m(c: &mut Criterion) {
    let hour = TimeRange::new(T0, T0 + 3_600_000);
    let m = |n: &str, k, v: &str| LabelMatcher::new(n, k, v);
    let queries: Vec<(&str, Vec<LabelMatcher>)> = vec![
        (
            "name_and_mode_neq_idle",
            vec![
                m("__name__", MatchKind::Eq, "node_cpu_seconds_total"),
                m("mode", MatchKind::Neq, "idle"),
            ],
        ),
        (
            "name_regex_alternation",
            vec![m(
                "__name__",
                MatchKind::Re,
                "node_memory_MemFree_bytes|node_memory_MemTotal_bytes|node_load1|node_load5",
            )],
        ),
        (
            "name_regex_dot_star_suffix",
            vec![m("__name__", MatchKind::Re, ".*_errs_total")],
        ),
    ];
    let mut g = c.benchmark_group("storage/search_1m");
    for (label, ms) in &queries {
        let count = |b: &Big| {
            let mut s = b.storage.search(TENANT, ms, hour, usize::MAX).unwrap();
            let (mut n, mut blocks) = (0u64, 0u64);
            while let Some(f) = s.next_series() {
                let f = f.unwrap();
                blocks += f.blocks.len() as u64;
                black_box(&f.name);
                n += 1;
            }
            (n, blocks)
        };
        // Throughput: queries per second (the series counts are printed).
        g.throughput(Throughput::Elements(1));
        g.bench_function(*label, |bn| {
            let b = big();
            once(&format!("search {label}"), || {
                let (n, blocks) = count(b);
                let tcpu0 = thread_cpu_time();
                let rounds = 5;
                for _ in 0..rounds {
                    count(b);
                }
                eprintln!(
                    "storage/search_1m/{label}: {n} series, {blocks} blocks; {:.0} ns of thread CPU per series",
                    (thread_cpu_time() - tcpu0).as_nanos() as f64 / (rounds * n) as f64
                );
            });
            bn.iter(|| black_box(count(b)))
        });
    }
    for label in ["instance", "__name__"] {
        g.bench_function(format!("label_values_{label}"), |bn| {
            let b = big();
            let n = b
                .storage
                .label_values(TENANT, label, &[], hour, usize::MAX)
                .unwrap()
                .len();
            print_once(format!(
                "storage/search_1m/label_values_{label}: {n} values"
            ));
            bn.iter(|| {
                black_box(
                    b.storage
                        .label_values(TENANT, label, &[], hour, usize::MAX)
                        .unwrap(),
                )
            })
        });
    }
    g.finish();
}
