//! Cluster tests with real processes on 127.0.0.1: the binaries built by `cargo test
//! --workspace`, a real Prometheus where one is needed, every process stopped by PID.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod bad_input;
mod harness;
mod k8s;
mod limits;
mod prometheus;
mod replication;
mod rolling_restart;
mod tenants;
