//! Benchmark support shared by the criterion benchmarks, the end-to-end tool and the cluster
//! tests: realistic data generators, a minimal HTTP client, and a harness for real processes.

pub mod e2e;
pub mod http_client;
pub mod node_exporter;
pub mod procs;
