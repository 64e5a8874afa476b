//! Criterion benchmarks, one binary with a module per area.

use criterion::{criterion_group, criterion_main};

mod index;
mod ingest;
mod promql;
mod storage;
mod tsdb;

criterion_group!(benches, promql::benches, tsdb::benches);
criterion_group! {
    name = ingest_benches;
    config = criterion::Criterion::default().with_measurement(ingest::ThreadCpuTime::default());
    targets = ingest::benches
}
criterion_group! {
    name = index_benches;
    config = index::config();
    targets = index::register_new_series, index::known_series, index::matchers_at_1m, index::ram_per_series
}
criterion_group! {
    name = storage_benches;
    config = storage::config();
    targets = storage::new_series, storage::known_rows, storage::search_1m
}
criterion_main!(benches, ingest_benches, index_benches, storage_benches);
