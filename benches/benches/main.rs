//! Criterion benchmarks, one binary with a module per area.

use criterion::{criterion_group, criterion_main};

mod ingest;
mod promql;
mod tsdb;

criterion_group!(benches, promql::benches, tsdb::benches);
criterion_group! {
    name = ingest_benches;
    config = criterion::Criterion::default().with_measurement(ingest::ThreadCpuTime::default());
    targets = ingest::benches
}
criterion_main!(benches, ingest_benches);
