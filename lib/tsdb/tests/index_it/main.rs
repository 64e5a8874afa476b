//! Integration tests of the series index and of the Storage API over it: model-based property
//! tests (the index alone, and the whole Storage against the same model), a crash test that
//! kills a registering child process, and restart behaviour.

mod compat;
mod crash;
mod model;
mod restart;
mod storage_model;

use tsdb::metric_name::{self, Label};

/// The canonical encoding of a label set.
pub fn name(labels: &[(&str, &str)]) -> Vec<u8> {
    let mut ls: Vec<Label<'_>> = labels
        .iter()
        .map(|&(name, value)| Label { name, value })
        .collect();
    metric_name::canonicalize(&mut ls).expect("canonical test labels");
    let mut out = Vec::new();
    metric_name::encode(&ls, &mut out);
    out
}

/// Milliseconds per day.
pub const DAY: i64 = 86_400_000;
/// A day in 2024, the tests' "now".
pub const T0: i64 = 20_000 * DAY;
