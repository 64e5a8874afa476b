//! Criterion benchmarks, one binary with a module per area.

use criterion::{criterion_group, criterion_main};

mod promql;

fn placeholder(_c: &mut criterion::Criterion) {}

criterion_group!(benches, placeholder, promql::benches);
criterion_main!(benches);
