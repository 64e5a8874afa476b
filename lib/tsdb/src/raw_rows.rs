//! Rows as callers hand them in.

use crate::tsid::Tsid;

/// One sample of one series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// The series.
    pub tsid: Tsid,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The value; every bit pattern is stored as it is.
    pub value: f64,
}
