//! The parsers' output: validated series in canonical form and their samples, in flat,
//! reusable buffers.
//!
//! A [`Batch`] holds three vectors: an arena of canonical label-set encodings
//! ([`tsdb::metric_name::encode`]), one [`ParsedSeries`] per series pointing into the arena and
//! into the sample vector, and the [`Sample`]s. Parsing appends; [`Batch::clear`] empties it and
//! keeps the capacity, so a vminsert worker that reuses one batch per request allocates nothing
//! once warmed up.

use std::fmt;
use std::ops::Range;

use tsdb::metric_name::{self, Label};

use crate::error::{IngestError, Location};
use crate::validate::{self, Limits, OnInvalid};

/// One sample: a timestamp in milliseconds since the Unix epoch and a value.
///
/// Values are kept bit for bit, NaN payloads included (the Prometheus stale marker is
/// `f64::from_bits(0x7ff0_0000_0000_0002)`), so compare them with `to_bits`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub timestamp_ms: i64,
    /// The value.
    pub value: f64,
}

/// Where one series' name and samples are in a [`Batch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedSeries {
    /// The canonical label-set encoding, as a range of [`Batch::arena`].
    pub name: Range<usize>,
    /// The series' samples, as a range of [`Batch::samples`]; never empty.
    pub samples: Range<usize>,
}

/// One series of a [`Batch`], borrowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeriesRef<'b> {
    /// The canonical label-set encoding ([`tsdb::metric_name::encode`]): hash it with the
    /// tenant to route the series.
    pub name: &'b [u8],
    /// The series' samples in input order; never empty.
    pub samples: &'b [Sample],
}

impl<'b> SeriesRef<'b> {
    /// The labels in canonical order.
    pub fn labels(&self) -> Vec<Label<'b>> {
        // The batch wrote this encoding itself, so decoding cannot fail; an empty list would
        // only hide a broken invariant.
        metric_name::decode(self.name).unwrap_or_default()
    }

    /// The value of `__name__`, if the series has one.
    pub fn metric_name(&self) -> Option<&'b str> {
        metric_name::find_value(self.name, "__name__")
            .ok()
            .flatten()
    }
}

/// Formats the label set the way PromQL writes a selector: `up{instance="a:1",job="x"}`.
impl fmt::Display for SeriesRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels = self.labels();
        let name = labels.iter().find(|l| l.name == "__name__");
        if let Some(n) = name {
            f.write_str(n.value)?;
            if labels.len() == 1 {
                return Ok(());
            }
        }
        f.write_str("{")?;
        let mut first = true;
        for l in labels.iter().filter(|l| l.name != "__name__") {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{}=\"", l.name)?;
            for c in l.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// What a parse dropped or ignored without failing; summed over every parse into the batch
/// since the last [`Batch::clear`]. Export these as counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Series dropped under [`OnInvalid::Skip`].
    pub series_skipped: u64,
    /// Samples of those series.
    pub samples_skipped: u64,
    /// Why the first skipped series was skipped, for a log line.
    pub first_skip_reason: Option<IngestError>,
    /// remote_write series that carried no samples (e.g. only native histograms); dropped.
    pub series_without_samples: u64,
    /// remote_write exemplars, ignored.
    pub exemplars_ignored: u64,
    /// remote_write native histogram samples, ignored.
    pub histograms_ignored: u64,
    /// remote_write `MetricMetadata` entries, ignored.
    pub metadata_ignored: u64,
    /// Influx string field values, which have no numeric value; skipped.
    pub influx_string_fields_skipped: u64,
}

/// Parsed, validated, canonical series and their samples, reusable across requests.
#[derive(Debug, Default)]
pub struct Batch {
    arena: Vec<u8>,
    series: Vec<ParsedSeries>,
    samples: Vec<Sample>,
    stats: Stats,
    /// A label vector whose allocation is reused from series to series (see [`recycle`]).
    labels_buf: Vec<Label<'static>>,
    /// Working memory of the parsers, kept for its capacity.
    pub(crate) scratch: Scratch,
}

/// Working memory the parsers borrow from the batch for one call and give back.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The decompressed remote_write body.
    pub decoded: Vec<u8>,
    /// Unescaped strings of the current line.
    pub text: String,
    /// Label name/value spans of the current line.
    pub spans: Vec<(crate::text::Str, crate::text::Str)>,
    /// Numbers of the current JSON line.
    pub values: Vec<f64>,
    /// Timestamps of the current JSON line.
    pub timestamps: Vec<i64>,
    /// Influx fields of the current line: key span and value (`None` for a string field).
    pub fields: Vec<(crate::text::Str, Option<f64>)>,
    /// The metric name being built.
    pub name: String,
}

/// A point to roll a batch back to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mark {
    arena: usize,
    series: usize,
    samples: usize,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the batch and its stats, keeping the allocations.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.series.clear();
        self.samples.clear();
        self.stats = Stats::default();
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether the batch has no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Number of samples over all series.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// What was dropped or ignored so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The canonical encodings of all series, back to back.
    pub fn arena(&self) -> &[u8] {
        &self.arena
    }

    /// All series as ranges into [`Batch::arena`] and [`Batch::samples`].
    pub fn parsed_series(&self) -> &[ParsedSeries] {
        &self.series
    }

    /// All samples, grouped by series.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Series `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<SeriesRef<'_>> {
        let s = self.series.get(i)?;
        Some(SeriesRef {
            name: self.arena.get(s.name.clone())?,
            samples: self.samples.get(s.samples.clone())?,
        })
    }

    /// The series in input order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = SeriesRef<'_>> + '_ {
        self.series.iter().map(|s| SeriesRef {
            name: self.arena.get(s.name.clone()).unwrap_or_default(),
            samples: self.samples.get(s.samples.clone()).unwrap_or_default(),
        })
    }

    /// Every sample with its series' canonical name, in input order.
    pub fn rows(&self) -> impl Iterator<Item = (&[u8], Sample)> + '_ {
        self.iter()
            .flat_map(|s| s.samples.iter().map(move |sample| (s.name, *sample)))
    }

    /// One line per series: `name{labels} value@timestamp ...`, for test tables.
    #[cfg(test)]
    pub(crate) fn dump(&self) -> Vec<String> {
        self.iter()
            .map(|s| {
                let mut out = s.to_string();
                for x in s.samples {
                    out.push(' ');
                    crate::prometheus_text::write_value(x.value, &mut out);
                    out.push('@');
                    out.push_str(&x.timestamp_ms.to_string());
                }
                out
            })
            .collect()
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark {
            arena: self.arena.len(),
            series: self.series.len(),
            samples: self.samples.len(),
        }
    }

    /// Drops everything added since `mark`; stats are kept.
    pub(crate) fn rollback(&mut self, mark: Mark) {
        self.arena.truncate(mark.arena);
        self.series.truncate(mark.series);
        self.samples.truncate(mark.samples);
    }

    /// The name arena, for a parser that writes a canonical name in place (then recorded by
    /// [`Batch::record_series`]).
    pub(crate) fn arena_mut(&mut self) -> &mut Vec<u8> {
        &mut self.arena
    }

    /// Records the series whose canonical name was appended to the arena and whose samples
    /// were pushed since `mark`, both already checked.
    pub(crate) fn record_series(&mut self, mark: Mark) {
        self.series.push(ParsedSeries {
            name: mark.arena..self.arena.len(),
            samples: mark.samples..self.samples.len(),
        });
    }

    pub(crate) fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    /// Appends a sample of the series being parsed.
    #[inline]
    pub(crate) fn push_sample(&mut self, sample: Sample) {
        self.samples.push(sample);
    }

    /// Samples pushed so far; the start of the next series' samples.
    pub(crate) fn samples_len(&self) -> usize {
        self.samples.len()
    }

    /// Ends the series whose samples were pushed since `samples_start`: validates and
    /// canonicalises `labels` and records the series. An invalid series is rejected or skipped
    /// as `policy` says; on rejection its samples are removed and the error names `at`.
    pub(crate) fn finish_series<'a>(
        &mut self,
        labels: impl IntoIterator<Item = Label<'a>>,
        samples_start: usize,
        limits: &Limits,
        policy: OnInvalid,
        at: Location,
    ) -> Result<(), IngestError> {
        let mut v = recycle(std::mem::take(&mut self.labels_buf));
        v.extend(labels);
        let checked = validate::canonicalize(&mut v, limits);
        if checked.is_ok() {
            let start = self.arena.len();
            metric_name::encode(&v, &mut self.arena);
            self.series.push(ParsedSeries {
                name: start..self.arena.len(),
                samples: samples_start..self.samples.len(),
            });
        }
        self.labels_buf = recycle(v);
        let Err(problem) = checked else {
            return Ok(());
        };
        let dropped = self.samples.len().saturating_sub(samples_start);
        self.samples.truncate(samples_start);
        let err = IngestError::Invalid { at, problem };
        match policy {
            OnInvalid::Reject => Err(err),
            OnInvalid::Skip => {
                self.stats.series_skipped += 1;
                self.stats.samples_skipped += dropped as u64;
                self.stats.first_skip_reason.get_or_insert(err);
                Ok(())
            }
        }
    }
}

/// Empties `v` and returns its allocation typed for another lifetime.
///
/// The labels borrow from the request being parsed, so the batch cannot keep a
/// `Vec<Label<'a>>`; it keeps an empty `Vec<Label<'static>>` instead. Collecting an emptied
/// `vec::IntoIter` through a `map` to a type of the same layout reuses the allocation (std's
/// in-place collection); the closure never runs because the vector is empty. The test
/// `recycle_keeps_the_allocation` checks the reuse.
fn recycle<'a, 'b>(mut v: Vec<Label<'a>>) -> Vec<Label<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| -> Label<'b> { unreachable!("the vector was emptied") })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Invalid;

    fn l<'a>(name: &'a str, value: &'a str) -> Label<'a> {
        Label { name, value }
    }

    #[test]
    fn recycle_keeps_the_allocation() {
        let mut v = Vec::with_capacity(64);
        let s = String::from("x");
        v.push(l(&s, &s));
        let ptr = v.as_ptr() as usize;
        let w: Vec<Label<'static>> = recycle(v);
        assert_eq!(w.capacity(), 64);
        assert_eq!(w.as_ptr() as usize, ptr);
    }

    #[test]
    fn finish_series_canonicalises_rejects_and_skips() {
        let mut b = Batch::new();
        let limits = Limits::default();
        b.push_sample(Sample {
            timestamp_ms: 1,
            value: 2.0,
        });
        b.finish_series(
            [l("job", "x"), l("__name__", "up")],
            0,
            &limits,
            OnInvalid::Reject,
            Location::Line(1),
        )
        .unwrap();
        assert_eq!(b.len(), 1);
        let s = b.get(0).unwrap();
        assert_eq!(s.metric_name(), Some("up"));
        assert_eq!(s.to_string(), r#"up{job="x"}"#);
        let mut want = Vec::new();
        metric_name::encode(&[l("__name__", "up"), l("job", "x")], &mut want);
        assert_eq!(s.name, want.as_slice());

        let start = b.samples_len();
        b.push_sample(Sample {
            timestamp_ms: 1,
            value: 2.0,
        });
        let err = b
            .finish_series(
                [l("1x", "x")],
                start,
                &limits,
                OnInvalid::Reject,
                Location::Line(2),
            )
            .unwrap_err();
        assert_eq!(err.to_string(), r#"line 2: invalid label name "1x""#);
        assert_eq!(b.sample_count(), 1);

        let start = b.samples_len();
        b.push_sample(Sample {
            timestamp_ms: 1,
            value: 2.0,
        });
        b.finish_series(
            [l("a", "1"), l("a", "2")],
            start,
            &limits,
            OnInvalid::Skip,
            Location::TimeSeries(7),
        )
        .unwrap();
        assert_eq!((b.len(), b.sample_count()), (1, 1));
        assert_eq!(b.stats().series_skipped, 1);
        assert_eq!(b.stats().samples_skipped, 1);
        assert_eq!(
            b.stats().first_skip_reason,
            Some(IngestError::Invalid {
                at: Location::TimeSeries(7),
                problem: Invalid::DuplicateLabel("a".into())
            })
        );
        assert_eq!(b.rows().count(), 1);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.stats(), &Stats::default());
    }

    #[test]
    fn display_escapes_values() {
        let mut b = Batch::new();
        b.push_sample(Sample {
            timestamp_ms: 0,
            value: 0.0,
        });
        b.finish_series(
            [l("a", "x\\y\"z\nw"), l("b", "2")],
            0,
            &Limits::default(),
            OnInvalid::Reject,
            Location::Line(1),
        )
        .unwrap();
        assert_eq!(b.get(0).unwrap().to_string(), r#"{a="x\\y\"z\nw",b="2"}"#);
    }
}
