//! The ingest crate's integration tests, one binary with a module per concern.

mod no_panic;
mod roundtrip;
mod victoriametrics;
