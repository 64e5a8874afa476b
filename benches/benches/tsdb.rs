//! Storage engine data path: codecs, `Table::add_rows`, search scans, bytes per sample on disk.
//! Inputs are the node_exporter-like data set of `benches::node_exporter`.
//!
//! Sizes can be changed with `TSDB_BENCH_HOSTS` and `TSDB_BENCH_HOURS` (disk size set,
//! default 10 hosts × 24 h).

// A benchmark that hits an error must stop loudly, as a test does.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use benches::node_exporter::{Labels, NodeExporter};
use criterion::{BenchmarkId, Criterion, Throughput};
use tsdb::block::{Block, MAX_ROWS_PER_BLOCK};
use tsdb::clock::ManualClock;
use tsdb::{Row, Table, TableConfig, Tenant, TimeRange, Tsid};
use xxhash_rust::xxh3::xxh3_64;

const START: i64 = 1_700_000_000_000;

/// A realistic tsid: metric group from the metric name, job and instance hashes, a sequential
/// metric id.
pub fn tsid_for(labels: &Labels, metric_id: u64) -> Tsid {
    let get = |k: &str| {
        labels
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str())
    };
    Tsid {
        tenant: Tenant::new(0, 0),
        metric_group_id: xxh3_64(get("__name__").as_bytes()),
        job_id: xxh3_64(get("job").as_bytes()) as u32,
        instance_id: xxh3_64(get("instance").as_bytes()) as u32,
        metric_id,
    }
}

fn env_or(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Rows of the data set, scrape by scrape, and the tsids.
fn rows(hosts: usize, duration_ms: i64) -> (Vec<Tsid>, Vec<Row>) {
    let mut g = NodeExporter::new(42, hosts, START, duration_ms);
    let tsids: Vec<Tsid> = g
        .labels()
        .iter()
        .enumerate()
        .map(|(i, l)| tsid_for(l, i as u64 + 1))
        .collect();
    let mut rows = Vec::with_capacity(g.samples_count() as usize);
    while let Some(s) = g.next_scrape() {
        for (i, v) in s.values.iter().enumerate() {
            rows.push(Row {
                tsid: tsids[s.first_series + i],
                timestamp: s.timestamp,
                value: *v,
            });
        }
    }
    (tsids, rows)
}

fn table_config(now: i64) -> TableConfig {
    TableConfig {
        clock: ManualClock::new(now) as _,
        retention_ms: i64::MAX / 4,
        ..TableConfig::default()
    }
}

fn codecs(c: &mut Criterion) {
    // One host, one full block per series.
    let (_, rows) = rows(1, MAX_ROWS_PER_BLOCK as i64 * 15_000);
    let per_host = 507;
    let mut series: Vec<(Tsid, Vec<i64>, Vec<f64>)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let k = i % per_host;
        if series.len() <= k {
            series.push((r.tsid, Vec::new(), Vec::new()));
        }
        series[k].1.push(r.timestamp);
        series[k].2.push(r.value);
    }
    let samples: u64 = series.iter().map(|s| s.1.len() as u64).sum();
    let mut g = c.benchmark_group("tsdb_codecs");
    g.throughput(Throughput::Elements(samples));
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for level in [-1, 1, 3] {
        g.bench_function(BenchmarkId::new("encode_block_zstd", level), |b| {
            b.iter(|| {
                for (t, ts, vs) in &series {
                    black_box(Block::encode(*t, ts, vs, level));
                }
            })
        });
    }
    // Block size by measurement: encoded bytes (with an 84-byte header per block, timestamps
    // not shared) per sample for several block sizes.
    for rows_per_block in [128usize, 512, 2048, 8192] {
        let mut bytes = 0usize;
        let mut ts_bytes = 0usize;
        for (t, ts, vs) in &series {
            for (tc, vc) in ts.chunks(rows_per_block).zip(vs.chunks(rows_per_block)) {
                let b = Block::encode(*t, tc, vc, 3);
                bytes += b.encoded_len() + 84;
                ts_bytes += b.timestamps_data().len();
            }
        }
        eprintln!(
            "tsdb_codecs: {rows_per_block} rows per block: {:.3} bytes/sample ({:.3} of them timestamps)",
            bytes as f64 / samples as f64,
            ts_bytes as f64 / samples as f64
        );
    }
    // What a flush writes (~100-row blocks) at the flush level (-1, a fast level) against
    // levels 1 and 3: the flushed parts' size until a merge rewrites them at level 3.
    for level in [-1, 1, 3] {
        let mut bytes = 0usize;
        for (t, ts, vs) in &series {
            for (tc, vc) in ts.chunks(100).zip(vs.chunks(100)) {
                bytes += Block::encode(*t, tc, vc, level).encoded_len() + 84;
            }
        }
        eprintln!(
            "tsdb_codecs: 100 rows per block at zstd level {level}: {:.3} bytes/sample",
            bytes as f64 / samples as f64
        );
    }
    let blocks: Vec<Block> = series
        .iter()
        .map(|(t, ts, vs)| Block::encode(*t, ts, vs, 3))
        .collect();
    let bytes: usize = blocks.iter().map(Block::encoded_len).sum();
    eprintln!(
        "tsdb_codecs: {samples} samples in {} blocks, {bytes} bytes: {:.3} bytes/sample",
        blocks.len(),
        bytes as f64 / samples as f64
    );
    g.bench_function("decode_block", |b| decode_all(b, &blocks));
    // Values without a short decimal form (ratios, rates) take the XOR codec: 500 blocks of
    // 480 samples (2 h at 15 s).
    let xor_blocks: Vec<Block> = (0..500u32)
        .map(|s| {
            let ts: Vec<i64> = (0..480).map(|i| START + i * 15_000).collect();
            let vs: Vec<f64> = (0..480)
                .map(|i| (f64::from(s) + f64::from(i as u32) / 3.0).sqrt())
                .collect();
            Block::encode(Tsid::default(), &ts, &vs, 0)
        })
        .collect();
    g.throughput(Throughput::Elements(500 * 480));
    g.bench_function("decode_block_xor", |b| decode_all(b, &xor_blocks));
    g.finish();
}

/// Decodes every block once per iteration, into reused buffers.
fn decode_all(b: &mut criterion::Bencher<'_>, blocks: &[Block]) {
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    b.iter(|| {
        for blk in blocks {
            ts.clear();
            vs.clear();
            blk.decode_into(&mut ts, &mut vs).unwrap();
            black_box((&ts, &vs));
        }
    })
}

fn add_rows(c: &mut Criterion) {
    // 200 hosts × 20 scrapes ≈ 2 M rows, added in batches of 10 scrapes (≈5 k rows).
    let (_, rows) = rows(200, 20 * 15_000);
    let batch = 10 * 507;
    let mut g = c.benchmark_group("tsdb_add_rows");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for threads in [1usize, 2] {
        g.bench_function(BenchmarkId::new("threads", threads), |b| {
            let dir = tempfile::tempdir().unwrap();
            let table = Table::open(dir.path(), table_config(START)).unwrap();
            b.iter(|| {
                std::thread::scope(|s| {
                    for t in 0..threads {
                        let (table, rows) = (&table, &rows);
                        s.spawn(move || {
                            for chunk in rows.chunks(batch).skip(t).step_by(threads) {
                                table.add_rows(chunk).unwrap();
                            }
                        });
                    }
                });
            });
            table.close().unwrap();
        });
    }
    g.finish();
}

fn inmemory_part(c: &mut Criterion) {
    // One run as a vmstorage node of a two-node cluster turns it into an in-memory part:
    // ~128 k rows of ~21 k series (every other series of 84 hosts), 6 scrapes, arrival order.
    let (_, all) = rows(84, 6 * 15_000);
    let run: Vec<Row> = all
        .into_iter()
        .filter(|r| r.tsid.metric_id % 2 == 0)
        .collect();
    let mut g = c.benchmark_group("tsdb_inmemory_part");
    g.throughput(Throughput::Elements(run.len() as u64));
    g.bench_function("from_rows_128k", |b| {
        b.iter_batched_ref(
            || run.clone(),
            |rows| tsdb::inmemory_part::inmemory_part_from_rows(1, rows, 0).unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// Ingests a data set and merges it fully; returns the table, the tsids and the samples.
fn ingest(dir: &std::path::Path, hosts: usize, duration_ms: i64) -> (Table, Vec<Tsid>, u64) {
    let (tsids, rows) = rows(hosts, duration_ms);
    let table = Table::open(dir, table_config(START + duration_ms)).unwrap();
    for chunk in rows.chunks(10 * 507) {
        table.add_rows(chunk).unwrap();
    }
    table.force_merge().unwrap();
    (table, tsids, rows.len() as u64)
}

fn search(c: &mut Criterion) {
    // 4 hosts x 24 h: 11.7 M samples.
    let (hosts, duration) = (4, 24 * 3_600_000);
    let samples = NodeExporter::new(42, hosts, START, duration).samples_count();
    let setup = std::cell::OnceCell::new();
    let mut g = c.benchmark_group("tsdb_search");
    g.throughput(Throughput::Elements(samples));
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("scan_all_series", |b| {
        let (_dir, table, tsids, _) = setup.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let (table, mut tsids, n) = ingest(dir.path(), hosts, duration);
            tsids.sort();
            (dir, table, tsids, n)
        });
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        b.iter(|| {
            let mut s = table.search(tsids, TimeRange::ALL).unwrap();
            let mut n = 0;
            while let Some(r) = s.next_samples(&mut ts, &mut vs) {
                r.unwrap();
                n += ts.len();
            }
            assert_eq!(n as u64, samples);
        })
    });
    g.finish();
}

fn disk(c: &mut Criterion) {
    let mut g = c.benchmark_group("tsdb_disk");
    let (_, small) = rows(2, 6 * 3_600_000);
    g.throughput(Throughput::Elements(small.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    // Reports bytes per sample of the big set once; the measurement is the ingest and full
    // merge of a small set, per sample.
    let reported = std::cell::Cell::new(false);
    g.bench_function("ingest_and_full_merge_2_hosts_6h", |b| {
        if !reported.replace(true) {
            report_bytes_per_sample();
        }
        b.iter(|| {
            let d = tempfile::tempdir().unwrap();
            let t = Table::open(d.path(), table_config(START + 6 * 3_600_000)).unwrap();
            for chunk in small.chunks(10 * 507) {
                t.add_rows(chunk).unwrap();
            }
            t.force_merge().unwrap();
            black_box(t.stats().file_bytes);
        })
    });
    g.finish();
}

fn report_bytes_per_sample() {
    let hosts = env_or("TSDB_BENCH_HOSTS", 10) as usize;
    let hours = env_or("TSDB_BENCH_HOURS", 24);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (table, _, samples) = ingest(dir.path(), hosts, hours * 3_600_000);
    let st = table.stats();
    eprintln!(
        "tsdb_disk: {hosts} hosts x {hours} h = {samples} samples; after a full merge {} bytes in {} parts: {:.3} bytes/sample (ingest + merge {:?})",
        st.file_bytes,
        st.file_parts,
        st.file_bytes as f64 / samples as f64,
        started.elapsed()
    );
}

/// Every tsdb benchmark.
pub fn benches(c: &mut Criterion) {
    codecs(c);
    add_rows(c);
    inmemory_part(c);
    search(c);
    disk(c);
}
