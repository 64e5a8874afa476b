//! Series index benchmarks over node_exporter-like series: the real scrape in
//! `benches/data/node_exporter.prom` (507 series) replicated over hosts, with `instance` and
//! `job` labels as Prometheus adds them.
//!
//! Run: `cargo bench -p benches --bench main -- index/` (see `docs/benchmarks.md`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use tsdb::TimeRange;
use tsdb::clock::ManualClock;
use tsdb::index::{IndexConfig, IndexDb, LabelMatcher, MatchKind, Row};
use tsdb::metric_name::{self, Label};
use tsdb::{Tenant, Tsid};

/// Counts live heap bytes so that RAM per series is measured exactly, not from RSS (which
/// keeps freed memory and shared pages). Costs one relaxed atomic add per allocation for every
/// benchmark in this binary; the index hot path does not allocate.
struct CountingAlloc;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only counts sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

pub(crate) fn live_bytes() -> i64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

const DAY: i64 = 86_400_000;
const T0: i64 = 20_000 * DAY;
const TENANT: Tenant = Tenant::new(1, 0);
/// Hosts for the 1 M-series index: 1973 × 507 = 1 000 311 series.
const HOSTS_1M: usize = 1973;

/// The criterion settings of the index groups: few samples, short runs (2 shared cores).
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

/// The label sets of one scrape: (metric name, other labels) from the template.
fn template() -> &'static Vec<Vec<(String, String)>> {
    static T: OnceLock<Vec<Vec<(String, String)>>> = OnceLock::new();
    T.get_or_init(|| {
        let text = include_str!("../data/node_exporter.prom");
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(parse_series)
            .collect()
    })
}

/// Parses `name{a="x",b="y"} value` into labels, `__name__` included.
fn parse_series(line: &str) -> Vec<(String, String)> {
    let (series, _) = line.rsplit_once(' ').unwrap_or((line, ""));
    let (name, rest) = series.split_once('{').unwrap_or((series, ""));
    let mut labels = vec![("__name__".to_owned(), name.to_owned())];
    let mut chars = rest.trim_end_matches('}').chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        chars.next(); // opening quote
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(o) => value.push(o),
                    None => {}
                },
                '"' => break,
                c => value.push(c),
            }
        }
        if chars.peek() == Some(&',') {
            chars.next();
        }
        labels.push((key.trim().to_owned(), value));
    }
    labels
}

/// The canonical names of every series of host `h`.
fn host_names(h: usize) -> Vec<Vec<u8>> {
    let instance = format!("10.{}.{}.{}:9100", h >> 16 & 255, h >> 8 & 255, h & 255);
    template()
        .iter()
        .map(|labels| {
            let mut ls: Vec<Label<'_>> = labels
                .iter()
                .map(|(n, v)| Label { name: n, value: v })
                .collect();
            ls.push(Label {
                name: "instance",
                value: &instance,
            });
            ls.push(Label {
                name: "job",
                value: "node",
            });
            metric_name::canonicalize(&mut ls).expect("template labels are canonical");
            let mut out = Vec::new();
            metric_name::encode(&ls, &mut out);
            out
        })
        .collect()
}

fn register_host(idx: &IndexDb, names: &[Vec<u8>], ts: i64, out: &mut Vec<Tsid>) {
    let rows: Vec<Row<'_>> = names
        .iter()
        .map(|n| Row {
            tenant: TENANT,
            name: n,
            timestamp_ms: ts,
        })
        .collect();
    idx.get_or_create_tsids(&rows, out).expect("register");
}

/// New series per second, batches of one scrape (507 series), into a growing index.
pub fn register_new_series(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let idx =
        IndexDb::open(dir.path(), IndexConfig::default(), ManualClock::new(T0)).expect("open");
    let mut g = c.benchmark_group("index/register");
    g.throughput(Throughput::Elements(template().len() as u64));
    let mut host = 0usize;
    let mut out = Vec::new();
    g.bench_function("new_series_batch_of_507", |b| {
        b.iter_batched(
            || {
                host += 1;
                host_names(host)
            },
            |names| register_host(&idx, &names, T0, &mut out),
            BatchSize::SmallInput,
        )
    });
    g.finish();
    eprintln!("index/register: {:?}", idx.stats());
    idx.close().expect("close");
}

/// The shared 1 M-series index, built once (and its build figures).
struct Big {
    _dir: tempfile::TempDir,
    idx: IndexDb,
    sample: Vec<Vec<u8>>,
}

pub(crate) fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("RssAnon:"), field("RssFile:"))
}

/// CPU time (user + system, all threads) of this process so far, from `/proc/self/stat`.
pub(crate) fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |x| x.1)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of stat (utime, stime), counted after the command name; 100 ticks/s.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// CPU time of the calling thread, from `/proc/thread-self/stat` (10 ms resolution).
pub(crate) fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |x| x.1)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn big() -> &'static Big {
    static B: OnceLock<Big> = OnceLock::new();
    B.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        // A sample of known names for the hot-path benchmark: every 10th host.
        let sample: Vec<Vec<u8>> = (0..HOSTS_1M).step_by(10).flat_map(host_names).collect();
        let idx = IndexDb::open(dir.path(), IndexConfig::default(), ManualClock::new(T0)).expect("open");
        let hosts: Vec<Vec<Vec<u8>>> = (0..HOSTS_1M).map(host_names).collect();
        // The names live outside the index; measure RSS and heap from here.
        let (anon0, _) = rss();
        let heap0 = live_bytes();
        let (start, cpu0, tcpu0) = (Instant::now(), cpu_time(), thread_cpu_time());
        let mut out = Vec::new();
        for names in &hosts {
            register_host(&idx, names, T0, &mut out);
        }
        let took = start.elapsed();
        let tcpu = thread_cpu_time() - tcpu0;
        idx.flush().expect("flush");
        let cpu = cpu_time() - cpu0;
        eprintln!(
            "index/1m build: registering thread CPU {tcpu:.2?} = {:.0} ns/series",
            tcpu.as_nanos() as f64 / (HOSTS_1M * template().len()) as f64
        );
        eprintln!(
            "index/1m build: CPU {cpu:.2?} for all threads incl. flush = {:.0} ns/series, {:.0} series per CPU-second",
            cpu.as_nanos() as f64 / (HOSTS_1M * template().len()) as f64,
            (HOSTS_1M * template().len()) as f64 / cpu.as_secs_f64()
        );
        let (anon1, file1) = rss();
        let heap1 = live_bytes();
        drop(hosts);
        let st = idx.stats();
        eprintln!(
            "index/1m build: heap +{} B = {:.0} B/series (caches, filter, decoded-block cache, part metadata)",
            heap1 - heap0,
            (heap1 - heap0) as f64 / st.series as f64
        );
        eprintln!(
            "index/1m build: {} series in {:.2?} ({:.0} series/s); RssAnon +{} B = {:.0} B/series, RssFile {} B; caches {} B = {:.0} B/series; {:?}",
            st.series,
            took,
            st.series as f64 / took.as_secs_f64(),
            anon1.saturating_sub(anon0),
            anon1.saturating_sub(anon0) as f64 / st.series as f64,
            file1,
            st.cache_bytes,
            st.cache_bytes as f64 / st.series as f64,
            st.table
        );
        idx.close().expect("close");
        drop(idx);
        let (anon2, _) = rss();
        let heap2 = live_bytes();
        let start = Instant::now();
        let idx = IndexDb::open(dir.path(), IndexConfig::default(), ManualClock::new(T0)).expect("reopen");
        let took = start.elapsed();
        let (anon3, file3) = rss();
        let heap3 = live_bytes();
        let st = idx.stats();
        eprintln!(
            "index/1m reopen: heap +{} B = {:.0} B/series after restart",
            heap3 - heap2,
            (heap3 - heap2) as f64 / st.series as f64
        );
        eprintln!(
            "index/1m reopen: warm in {:.2?}; RssAnon +{} B = {:.0} B/series after restart, RssFile {} B; caches {} B",
            took,
            anon3.saturating_sub(anon2),
            anon3.saturating_sub(anon2) as f64 / st.series as f64,
            file3,
            st.cache_bytes
        );
        Big { _dir: dir, idx, sample }
    })
}

/// Prints a line once per process (criterion calls a benchmark's closure once per sample).
pub(crate) fn print_once(line: String) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if !seen.contains(&line) {
        eprintln!("{line}");
        seen.push(line);
    }
}

/// Rows of the hot-path sample: every 10th host of the 1 M index.
fn sample_rows() -> u64 {
    (HOSTS_1M.div_ceil(10) * template().len()) as u64
}

/// Known series through the hot path, per row and in batches of 1000. The 1 M index is built
/// on first use, so a filter that skips these benchmarks skips the build too.
pub fn known_series(c: &mut Criterion) {
    let mut g = c.benchmark_group("index/known_series");
    g.throughput(Throughput::Elements(sample_rows()));
    g.bench_function("get_or_create_tsid_per_row", |bn| {
        let b = big();
        static CPU: OnceLock<()> = OnceLock::new();
        CPU.get_or_init(|| {
            // CPU time of this thread per row, immune to other processes on a shared machine.
            let (cpu0, rounds) = (thread_cpu_time(), 30);
            for _ in 0..rounds {
                for n in &b.sample {
                    black_box(b.idx.get_or_create_tsid(TENANT, n, T0).expect("known"));
                }
            }
            let cpu = thread_cpu_time() - cpu0;
            eprintln!(
                "index/known_series: {:.0} ns of thread CPU per row over {} rows",
                cpu.as_nanos() as f64 / (rounds * b.sample.len()) as f64,
                rounds * b.sample.len()
            );
        });
        bn.iter(|| {
            for n in &b.sample {
                black_box(b.idx.get_or_create_tsid(TENANT, n, T0).expect("known"));
            }
        })
    });
    let mut out = Vec::new();
    g.bench_function("get_or_create_tsids_batch_1000", |bn| {
        let b = big();
        let rows: Vec<Row<'_>> = b
            .sample
            .iter()
            .map(|n| Row {
                tenant: TENANT,
                name: n,
                timestamp_ms: T0,
            })
            .collect();
        bn.iter(|| {
            for chunk in rows.chunks(1000) {
                b.idx.get_or_create_tsids(chunk, &mut out).expect("known");
                black_box(&out);
            }
        })
    });
    g.finish();
}

/// Matcher resolution and label values at 1 M series, over a one-hour range.
pub fn matchers_at_1m(c: &mut Criterion) {
    let hour = TimeRange::new(T0 + 3_600_000, T0 + 7_200_000);
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
        (
            "name_and_instance_dot_star_suffix",
            vec![
                m("__name__", MatchKind::Eq, "node_load1"),
                m("instance", MatchKind::Re, ".*\\.7\\.1:9100"),
            ],
        ),
    ];
    let mut g = c.benchmark_group("index/search_1m");
    g.throughput(Throughput::Elements(1));
    for (label, ms) in &queries {
        g.bench_function(*label, |bn| {
            let b = big();
            let n = b
                .idx
                .search_tsids(TENANT, ms, hour, usize::MAX)
                .expect("search")
                .len();
            print_once(format!("index/search_1m/{label}: {n} series"));
            bn.iter(|| {
                black_box(
                    b.idx
                        .search_tsids(TENANT, ms, hour, usize::MAX)
                        .expect("search"),
                )
            })
        });
    }
    for label in ["instance", "__name__"] {
        g.bench_function(format!("label_values_{label}"), |bn| {
            let b = big();
            let n = b
                .idx
                .label_values(TENANT, label, &[], hour, usize::MAX)
                .expect("values")
                .len();
            print_once(format!("index/search_1m/label_values_{label}: {n} values"));
            bn.iter(|| {
                black_box(
                    b.idx
                        .label_values(TENANT, label, &[], hour, usize::MAX)
                        .expect("values"),
                )
            })
        });
    }
    g.finish();
}

/// The RAM figures are printed while the 1 M index is built (see `big`); this reports the
/// index's own accounting and times `stats()`.
pub fn ram_per_series(c: &mut Criterion) {
    let mut g = c.benchmark_group("index/stats");
    g.throughput(Throughput::Elements(1));
    g.bench_function("stats", |bn| {
        let b = big();
        let st = b.idx.stats();
        print_once(format!(
            "index/ram: caches and filter {} B for {} series = {:.0} B/series",
            st.cache_bytes,
            st.series,
            st.cache_bytes as f64 / st.series as f64
        ));
        bn.iter(|| black_box(b.idx.stats()))
    });
    g.finish();
}
