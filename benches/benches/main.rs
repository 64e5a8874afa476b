//! Criterion benchmarks, one binary with a module per area.

use criterion::{criterion_group, criterion_main};

mod tsdb;

criterion_group!(benches, tsdb::benches);
criterion_main!(benches);
