//! The tsdb integration tests: one binary, a module per area.

mod common;
mod corruption;
mod crash;
mod format;
mod table;
