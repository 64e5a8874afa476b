//! Property tests: what an encoder or renderer writes, the parser reads back exactly.

use std::collections::BTreeMap;

use ingest::remote_write::{TimeSeries, WriteRequest};
use ingest::{Batch, Limits, Sample, influx, prometheus_text, remote_write};
use proptest::prelude::*;
use tsdb::metric_name::{self, Label};

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        any::<f64>(),
        Just(f64::from_bits(ingest::STALE_NAN_BITS)),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(0.0),
    ]
}

fn samples() -> impl Strategy<Value = Vec<Sample>> {
    prop::collection::vec(
        (any::<i64>(), value()).prop_map(|(timestamp_ms, value)| Sample {
            timestamp_ms,
            value,
        }),
        1..4,
    )
}

/// A series: a metric name and other labels with unique names, values any string.
fn series() -> impl Strategy<Value = TimeSeries> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
        prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,12}", ".{0,12}", 0..6),
        samples(),
    )
        .prop_map(|(name, labels, samples)| {
            let mut labels: Vec<(String, String)> = labels
                .into_iter()
                .filter(|(n, _)| n != "__name__")
                .collect();
            // Senders should sort, but the decoder must not rely on it.
            labels.reverse();
            labels.push(("__name__".into(), name));
            TimeSeries { labels, samples }
        })
}

/// The canonical encoding of `labels`: empty values dropped, sorted.
fn canonical(labels: &[(String, String)]) -> Vec<u8> {
    let mut v: Vec<Label<'_>> = labels
        .iter()
        .map(|(name, value)| Label { name, value })
        .collect();
    metric_name::canonicalize(&mut v).expect("generated labels are valid");
    let mut out = Vec::new();
    metric_name::encode(&v, &mut out);
    out
}

fn bits(samples: &[Sample]) -> Vec<(i64, u64)> {
    samples
        .iter()
        .map(|s| (s.timestamp_ms, s.value.to_bits()))
        .collect()
}

proptest! {
    #[test]
    fn remote_write_round_trips_bit_exact(timeseries in prop::collection::vec(series(), 0..20)) {
        let req = WriteRequest { timeseries };
        let mut batch = Batch::new();
        remote_write::decode(&req.encode(), &Limits::default(), &mut batch).unwrap();
        prop_assert_eq!(batch.len(), req.timeseries.len());
        prop_assert_eq!(batch.stats(), &ingest::Stats::default());
        for (got, want) in batch.iter().zip(&req.timeseries) {
            prop_assert_eq!(got.name.to_vec(), canonical(&want.labels));
            prop_assert_eq!(bits(got.samples), bits(&want.samples));
        }
    }

    #[test]
    fn text_render_then_parse_gives_the_same_batch(timeseries in prop::collection::vec(series(), 1..10)) {
        let mut first = Batch::new();
        remote_write::decode(&WriteRequest { timeseries }.encode(), &Limits::default(), &mut first).unwrap();
        let mut text = String::new();
        for s in first.iter() {
            prometheus_text::render(s, &mut text);
        }
        let mut second = Batch::new();
        prometheus_text::parse(text.as_bytes(), 0, &Limits::default(), &mut second).unwrap();
        // One series per line in text: compare row by row.
        let a: Vec<_> = first.rows().collect();
        let b: Vec<_> = second.rows().collect();
        prop_assert_eq!(a.len(), b.len());
        for ((na, sa), (nb, sb)) in a.iter().zip(&b) {
            prop_assert_eq!(na, nb);
            prop_assert_eq!(sa.timestamp_ms, sb.timestamp_ms);
            // Text has one NaN spelling; every other value is exact, -0.0 included.
            if sa.value.is_nan() {
                prop_assert!(sb.value.is_nan());
            } else {
                prop_assert_eq!(sa.value.to_bits(), sb.value.to_bits());
            }
        }
    }

    #[test]
    fn influx_render_then_parse_gives_the_same_series(
        measurement in "[a-zA-Z_][a-zA-Z0-9_]{0,10}",
        tags in prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", "[^\n]{0,12}", 0..5),
        fields in prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", value(), 1..5),
        timestamp_ns in any::<i64>(),
    ) {
        let tags: BTreeMap<String, String> = tags
            .into_iter()
            .filter(|(k, _)| k != "__name__" && k != "db")
            .collect();
        let tag_refs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let field_refs: Vec<(&str, f64)> = fields.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let mut line = String::new();
        influx::render(&measurement, &tag_refs, &field_refs, timestamp_ns, &mut line);
        let mut batch = Batch::new();
        influx::parse(line.as_bytes(), &influx::Options::new(0), &Limits::default(), &mut batch).unwrap();
        prop_assert_eq!(batch.len(), fields.len());
        for (got, (key, v)) in batch.iter().zip(&fields) {
            let mut labels: Vec<(String, String)> = tags.clone().into_iter().collect();
            labels.push(("__name__".into(), format!("{measurement}_{key}")));
            prop_assert_eq!(got.name.to_vec(), canonical(&labels));
            prop_assert_eq!(got.samples[0].timestamp_ms, timestamp_ns.div_euclid(1_000_000));
            if v.is_nan() {
                prop_assert!(got.samples[0].value.is_nan());
            } else {
                prop_assert_eq!(got.samples[0].value.to_bits(), v.to_bits());
            }
        }
    }
}
