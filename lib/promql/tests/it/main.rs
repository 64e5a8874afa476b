//! Integration tests of the `promql` crate, compiled as one binary.

mod conformance;
mod engine_api;
mod hostile_depth;
mod parser_props;
mod scripts;
