//! Criterion benchmarks, one binary with a module per area.

use criterion::{criterion_group, criterion_main};

mod index;

fn placeholder(_c: &mut criterion::Criterion) {}

criterion_group!(benches, placeholder);
criterion_group! {
    name = index_benches;
    config = index::config();
    targets = index::register_new_series, index::known_series, index::matchers_at_1m, index::ram_per_series
}
criterion_main!(benches, index_benches);
