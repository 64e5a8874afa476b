//! The tsdb integration tests: one binary, a module per area.

// Helpers outside `#[test]` functions fail loudly like the tests themselves.
#![allow(clippy::unwrap_used)]

mod common;
mod corruption;
mod crash;
mod format;
mod storage;
mod table;
