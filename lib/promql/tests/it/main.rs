//! Integration tests of the `promql` crate, compiled as one binary.

mod conformance;
mod engine_api;
mod parser_props;
mod scripts;
