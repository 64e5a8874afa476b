//! Benchmark support: realistic data generators shared by the criterion benchmarks and the end-to-end tool.

pub mod node_exporter;
