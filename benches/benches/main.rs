//! Criterion benchmarks, one binary with a module per area.

use criterion::{criterion_group, criterion_main};

mod ingest;

fn placeholder(_c: &mut criterion::Criterion) {}

criterion_group!(benches, placeholder, ingest::benches);
criterion_main!(benches);
