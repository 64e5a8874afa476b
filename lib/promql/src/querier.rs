//! Data access: the one trait through which the engine reads series, and an in-memory store.

use std::borrow::Cow;

use crate::error::QueryError;
use crate::labels::{LabelMatcher, Labels};
use crate::prefetch::prefetch;

/// The Prometheus staleness marker: a NaN with this exact bit pattern ends a series.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is the staleness marker (compared by bits, not by value).
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// The staleness marker as a float.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// One series with its raw samples in time order, without duplicate timestamps.
///
/// The samples are either owned (a querier that decodes storage blocks hands its `Vec`s over:
/// `Cow::Owned`, no copy) or lent for the querier's lifetime `'a` (a querier that already holds
/// the samples in memory: `Cow::Borrowed`, no copy either). The engine copies lent samples only
/// when it must change them (to drop staleness markers).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Series<'a> {
    /// The series' label set, `__name__` included.
    pub labels: Labels,
    /// Sample timestamps in milliseconds, strictly increasing.
    pub timestamps: Cow<'a, [i64]>,
    /// Sample values; `values[i]` belongs to `timestamps[i]`. May hold staleness markers.
    pub values: Cow<'a, [f64]>,
}

impl<'a> Series<'a> {
    /// A series that owns its samples.
    pub fn owned(labels: Labels, timestamps: Vec<i64>, values: Vec<f64>) -> Series<'static> {
        Series {
            labels,
            timestamps: Cow::Owned(timestamps),
            values: Cow::Owned(values),
        }
    }

    /// A series lending samples that live as long as `'a` (the querier).
    pub fn borrowed(labels: Labels, timestamps: &'a [i64], values: &'a [f64]) -> Series<'a> {
        Series {
            labels,
            timestamps: Cow::Borrowed(timestamps),
            values: Cow::Borrowed(values),
        }
    }
}

/// What the engine will do with the selected data; a querier may use it to plan reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SelectHints {
    /// First timestamp needed (inclusive), ms.
    pub start_ms: i64,
    /// Last timestamp needed (inclusive), ms.
    pub end_ms: i64,
    /// Evaluation step of the enclosing query or subquery, ms (0 for an instant query).
    pub step_ms: i64,
    /// Range of the enclosing range selector, ms (0 for an instant selector).
    pub range_ms: i64,
    /// Name of the function or aggregation directly applied to the selector, if any.
    pub func: Option<String>,
    /// Grouping labels of the enclosing aggregation, if any.
    pub grouping: Vec<String>,
    /// Whether `grouping` is a `by` list (false: `without`).
    pub by: bool,
}

/// Read access to series data. One query calls `select` once per selector.
///
/// Implementations decide their own tenant; the engine never sees tenants.
pub trait Querier: Send + Sync {
    /// Streams every series matching all `matchers` with its samples in `[start_ms, end_ms]`
    /// (inclusive), samples in time order and de-duplicated, into `sink`. A sink error (a limit
    /// was reached) must stop the select and be returned unchanged.
    ///
    /// A series may own its samples or lend them from the querier (see [`Series`]); the engine
    /// keeps what it receives until the query ends, and never longer than `'a`.
    fn select<'a>(
        &'a self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
        hints: &SelectHints,
        sink: &mut dyn FnMut(Series<'a>) -> Result<(), QueryError>,
    ) -> Result<(), QueryError>;
}

/// An in-memory series store, for tests, benchmarks and the test-script runner. It lends its
/// samples to the engine instead of copying them.
#[derive(Clone, Debug, Default)]
pub struct MemoryQuerier {
    series: Vec<Series<'static>>,
}

impl MemoryQuerier {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops every series.
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// Number of series stored.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Adds samples to the series with `labels` (creating it). Samples may come in any order;
    /// for a timestamp given twice the later value wins.
    pub fn add(&mut self, labels: Labels, samples: &[(i64, f64)]) {
        let idx = match self.series.binary_search_by(|s| s.labels.cmp(&labels)) {
            Ok(i) => i,
            Err(i) => {
                self.series.insert(
                    i,
                    Series {
                        labels,
                        ..Series::default()
                    },
                );
                i
            }
        };
        let s = &mut self.series[idx];
        let mut all: Vec<(i64, f64)> = s
            .timestamps
            .iter()
            .copied()
            .zip(s.values.iter().copied())
            .collect();
        all.extend_from_slice(samples);
        // Stable sort keeps insertion order among equal timestamps; keep the last of each.
        all.sort_by_key(|&(t, _)| t);
        let (timestamps, values) = (s.timestamps.to_mut(), s.values.to_mut());
        timestamps.clear();
        values.clear();
        for (t, v) in all {
            if timestamps.last() == Some(&t) {
                if let Some(last) = values.last_mut() {
                    *last = v;
                }
            } else {
                timestamps.push(t);
                values.push(v);
            }
        }
    }

    /// Every stored series.
    pub fn series(&self) -> &[Series<'static>] {
        &self.series
    }
}

impl Querier for MemoryQuerier {
    fn select<'a>(
        &'a self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
        _hints: &SelectHints,
        sink: &mut dyn FnMut(Series<'a>) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        for (i, s) in self.series.iter().enumerate() {
            if let Some(next) = self.series.get(i + 1) {
                prefetch(next.labels.encoded().as_bytes());
            }
            if !matchers.iter().all(|m| m.matches_labels(&s.labels)) {
                continue;
            }
            let ts = &s.timestamps[..];
            // Most selects cover whole series: two reads instead of two binary searches.
            let lo = match ts.first() {
                Some(&t) if t >= start_ms => 0,
                _ => ts.partition_point(|&t| t < start_ms),
            };
            let hi = match ts.last() {
                Some(&t) if t <= end_ms => ts.len(),
                _ => ts.partition_point(|&t| t <= end_ms),
            };
            if lo >= hi {
                continue;
            }
            sink(Series::borrowed(
                s.labels.clone(),
                &ts[lo..hi],
                &s.values[lo..hi],
            ))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::MatchKind;

    #[test]
    fn select_clips_and_matches() {
        let mut q = MemoryQuerier::new();
        q.add(
            Labels::from_pairs(&[("__name__", "a"), ("job", "x")]),
            &[(0, 1.0), (10, 2.0), (20, 3.0)],
        );
        q.add(Labels::from_pairs(&[("__name__", "b")]), &[(0, 1.0)]);
        q.add(
            Labels::from_pairs(&[("__name__", "a"), ("job", "x")]),
            &[(10, 5.0)],
        );
        let m = [LabelMatcher::new("__name__", MatchKind::Re, "a").unwrap()];
        let mut got = Vec::new();
        q.select(&m, 5, 20, &SelectHints::default(), &mut |s| {
            got.push(s);
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].timestamps[..], [10, 20]);
        assert_eq!(got[0].values[..], [5.0, 3.0]);
    }

    #[test]
    fn stale_marker_is_a_bit_pattern() {
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
    }
}
