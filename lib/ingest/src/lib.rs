//! Ingestion formats: Prometheus remote_write, JSON lines import, Prometheus text exposition and
//! the Influx line protocol, parsed into a reusable [`Batch`] of validated series in canonical
//! form ([`tsdb::metric_name`]).
//!
//! Each format module has one entry point that appends to a batch and leaves it untouched on
//! error:
//!
//! | format | entry point | vminsert path |
//! | --- | --- | --- |
//! | remote_write 1.0 | [`remote_write::decode`] | `/api/v1/write` |
//! | JSON lines | [`json_lines::parse`] | `/api/v1/import` |
//! | Prometheus text | [`prometheus_text::parse`] | `/api/v1/import/prometheus` |
//! | Influx line protocol | [`influx::parse`] | `/influx/write`, `/write` |
//!
//! ```
//! use ingest::{Batch, Limits, prometheus_text};
//!
//! let mut batch = Batch::new();
//! let body = b"# TYPE up gauge\nup{job=\"node\",instance=\"a:9100\"} 1 1700000000000\n";
//! prometheus_text::parse(body, 0, &Limits::default(), &mut batch).unwrap();
//! let series = batch.get(0).unwrap();
//! assert_eq!(series.to_string(), r#"up{instance="a:9100",job="node"}"#);
//! assert_eq!(series.samples[0].timestamp_ms, 1_700_000_000_000);
//! ```
//!
//! No networking, no global state; limits and policies come in a [`Limits`].

pub mod batch;
pub mod corpus;
pub mod error;
pub mod influx;
pub mod json_lines;
pub mod prometheus_text;
mod protobuf;
pub mod remote_write;
mod snappy;
mod text;
pub mod validate;

pub use batch::{Batch, ParsedSeries, Sample, SeriesRef, Stats};
pub use error::{IngestError, Invalid, Location};
pub use validate::{Limits, OnInvalid};

/// The bit pattern Prometheus writes as a staleness marker: a NaN that must be stored as is.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
