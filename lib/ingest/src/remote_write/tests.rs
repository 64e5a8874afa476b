use super::*;
use crate::protobuf::{put_bytes, put_key, put_varint};
use crate::validate::OnInvalid;

fn ts(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        samples: samples
            .iter()
            .map(|&(value, timestamp_ms)| Sample {
                timestamp_ms,
                value,
            })
            .collect(),
    }
}

#[track_caller]
fn check(msg: &[u8], want: Result<&[&str], &str>) {
    let mut batch = Batch::new();
    let got = decode_protobuf(msg, &Limits::default(), &mut batch).map(|()| batch.dump());
    match (&got, want) {
        (Ok(got), Ok(want)) => assert_eq!(got, want),
        (Err(got), Err(want)) => assert_eq!(got.to_string(), want),
        (got, want) => panic!("got {got:?}, want {want:?}"),
    }
    same_on_both_paths(msg, &Limits::default());
}

/// The full path alone, as [`decode_protobuf`] runs it.
fn decode_full_path(msg: &[u8], limits: &Limits, batch: &mut Batch) -> Result<(), IngestError> {
    let mark = batch.mark();
    let result = decode_request(msg, limits, false, batch);
    if result.is_err() {
        batch.rollback(mark);
    }
    result
}

/// Decodes `msg` as [`decode_protobuf`] does and by the full path alone, asserts both give
/// the same batch, stats and error, and answers whether the first series took the simple
/// path (it left the label vector unused and the batch has it).
#[track_caller]
fn same_on_both_paths(msg: &[u8], limits: &Limits) -> bool {
    let outcome = |batch: &Batch, r: Result<(), IngestError>| match r {
        Ok(()) => Ok((batch.dump(), batch.stats().clone())),
        Err(e) => Err(e.to_string()),
    };
    let mut full = Batch::new();
    let r = decode_full_path(msg, limits, &mut full);
    let full = outcome(&full, r);
    let mut batch = Batch::new();
    let r = decode_protobuf(msg, limits, &mut batch);
    assert_eq!(outcome(&batch, r), full);
    first_series_is_simple(msg, limits)
}

/// Whether the first series of `msg` is decoded by the simple path.
fn first_series_is_simple(msg: &[u8], limits: &Limits) -> bool {
    let mut r = Reader::new(msg, 0);
    let (Ok(_), Ok(mut series)) = (r.key(), r.len_delimited()) else {
        return false;
    };
    try_simple_series(&mut series, limits, &mut Batch::new())
}

fn raw(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn len_field(field: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    put_bytes(&mut m, field, payload);
    m
}

#[test]
fn decodes_and_canonicalises() {
    let req = WriteRequest {
        timeseries: vec![
            ts(
                &[("job", "node"), ("__name__", "up"), ("instance", "a:9100")],
                &[(1.0, 1000), (0.0, 2000)],
            ),
            ts(&[("__name__", "x"), ("empty", "")], &[(-2.5, -5)]),
        ],
    };
    let mut batch = Batch::new();
    decode(&req.encode(), &Limits::default(), &mut batch).unwrap();
    assert_eq!(
        batch.dump(),
        [
            r#"up{instance="a:9100",job="node"} 1.0@1000 0.0@2000"#,
            "x -2.5@-5"
        ]
    );
    assert_eq!(batch.stats(), &crate::Stats::default());
}

#[test]
fn wire_details() {
    let label = |n: &str, v: &str| {
        len_field(
            1,
            &raw(&[&len_field(1, n.as_bytes()), &len_field(2, v.as_bytes())]),
        )
    };
    let name = label("__name__", "up");
    // Sample with fields in reverse order, repeated (last wins) and an unknown fixed32.
    let sample = raw(&[
        &[0x10, 0x05],
        &[0x09],
        &2.0f64.to_le_bytes(),
        &[0x09],
        &3.0f64.to_le_bytes(),
        &[0x1d, 1, 2, 3, 4],
        &[0x10, 0x07],
    ]);
    let series = raw(&[
        &len_field(2, &sample),
        &name,
        &len_field(9, b"unknown"),
        &len_field(2, &[]),
    ]);
    check(&len_field(1, &series), Ok(&["up 3.0@7 0.0@0"]));
    // Unknown request fields of every wire type, a group with nesting, metadata.
    let mut unknown = Vec::new();
    put_key(&mut unknown, 2, WireType::Varint);
    put_varint(&mut unknown, u64::MAX);
    put_key(&mut unknown, 6, WireType::Fixed64);
    unknown.extend_from_slice(&[0; 8]);
    put_key(&mut unknown, 7, WireType::Fixed32);
    unknown.extend_from_slice(&[0; 4]);
    unknown.extend_from_slice(&[0x43, 0x4b, 0x08, 0x01, 0x4c, 0x44]);
    let msg = raw(&[&unknown, &len_field(3, b"metadata"), &len_field(1, &series)]);
    check(&msg, Ok(&["up 3.0@7 0.0@0"]));
    // A label's repeated name: last wins.
    let l = len_field(
        1,
        &raw(&[
            &len_field(1, b"zzz"),
            &len_field(2, b"v"),
            &len_field(1, b"a"),
        ]),
    );
    check(
        &len_field(1, &raw(&[&l, &len_field(2, &[])])),
        Ok(&[r#"{a="v"} 0.0@0"#]),
    );
    check(&[], Ok(&[]));
}

#[test]
fn exemplars_histograms_and_metadata_are_counted() {
    let mut e = Encoder::new();
    e.push(
        [("__name__", "up")].into_iter(),
        &[Sample {
            timestamp_ms: 1,
            value: 1.0,
        }],
    );
    let good = e.into_protobuf();
    let mut series_only_histogram = Vec::new();
    put_bytes(&mut series_only_histogram, 1, &len_field(1, b"__name__"));
    put_bytes(&mut series_only_histogram, 4, b"hist");
    let with_extras = raw(&[
        &good[2..], // the good series' payload
        &len_field(3, b"exemplar"),
        &len_field(3, b"exemplar"),
        &len_field(4, b"hist"),
    ]);
    let msg = raw(&[
        &len_field(1, &with_extras),
        &len_field(1, &series_only_histogram),
        &len_field(3, b"meta"),
    ]);
    let mut batch = Batch::new();
    decode_protobuf(&msg, &Limits::default(), &mut batch).unwrap();
    assert_eq!(batch.dump(), ["up 1.0@1"]);
    let s = batch.stats();
    assert_eq!(
        (
            s.exemplars_ignored,
            s.histograms_ignored,
            s.metadata_ignored,
            s.series_without_samples
        ),
        (2, 2, 1, 1)
    );
}

#[test]
fn values_are_bit_exact() {
    let stale = f64::from_bits(crate::STALE_NAN_BITS);
    let values = [
        stale,
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff8_dead_beef_0001),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        5e-324,
    ];
    let req = WriteRequest {
        timeseries: vec![ts(
            &[("__name__", "v")],
            &values
                .iter()
                .enumerate()
                .map(|(i, v)| (*v, i as i64 - 3))
                .collect::<Vec<_>>(),
        )],
    };
    let mut batch = Batch::new();
    decode(&req.encode(), &Limits::default(), &mut batch).unwrap();
    let got: Vec<u64> = batch.samples().iter().map(|s| s.value.to_bits()).collect();
    let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, want);
    assert_eq!(batch.samples()[0].timestamp_ms, -3);
}

#[test]
fn reject_policy_fails_the_request_and_leaves_the_batch() {
    // Reject is the default.
    let limits = Limits::default();
    let req = WriteRequest {
        timeseries: vec![
            ts(&[("__name__", "a")], &[(1.0, 1)]),
            ts(&[("__name__", "b"), ("x-y", "1")], &[(1.0, 1)]),
        ],
    };
    let mut batch = Batch::new();
    decode(
        &WriteRequest {
            timeseries: vec![ts(&[("__name__", "first")], &[(1.0, 1)])],
        }
        .encode(),
        &limits,
        &mut batch,
    )
    .unwrap();
    let err = decode(&req.encode(), &limits, &mut batch).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"WriteRequest.timeseries[1]: invalid label name "x-y""#
    );
    assert_eq!(batch.dump(), ["first 1.0@1"]);
    // The skip policy drops just that series.
    batch.clear();
    let skip = Limits {
        remote_write_invalid_series: OnInvalid::Skip,
        ..Limits::default()
    };
    decode(&req.encode(), &skip, &mut batch).unwrap();
    assert_eq!(batch.dump(), ["a 1.0@1"]);
    assert_eq!(
        (batch.stats().series_skipped, batch.stats().samples_skipped),
        (1, 1)
    );
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let req = WriteRequest {
        timeseries: vec![ts(
            &[("__name__", "up"), ("job", "x")],
            &[(1.5, 1_700_000_000_000), (2.0, -1)],
        )],
    };
    let msg = req.encode_protobuf();
    for cut in 1..msg.len() {
        let mut batch = Batch::new();
        let r = decode_protobuf(&msg[..cut], &Limits::default(), &mut batch);
        assert!(r.is_err(), "prefix of {cut} bytes decoded");
        assert!(batch.is_empty());
    }
}

#[test]
fn encoder_reuses_its_buffer() {
    let mut e = Encoder::new();
    e.push(
        [("__name__", "a")].into_iter(),
        &[Sample {
            timestamp_ms: 0,
            value: -0.0,
        }],
    );
    let first = e.compress();
    e.clear();
    assert!(e.protobuf().is_empty());
    let mut batch = Batch::new();
    decode(&first, &Limits::default(), &mut batch).unwrap();
    assert_eq!(batch.samples()[0].value.to_bits(), (-0.0f64).to_bits());
}

fn label_field(name: &str, value: &str) -> Vec<u8> {
    len_field(
        1,
        &raw(&[
            &len_field(1, name.as_bytes()),
            &len_field(2, value.as_bytes()),
        ]),
    )
}

fn sample_field(value: f64, timestamp_ms: i64) -> Vec<u8> {
    let mut m = vec![0x09];
    m.extend_from_slice(&value.to_le_bytes());
    put_key(&mut m, 2, WireType::Varint);
    put_varint(&mut m, timestamp_ms as u64);
    len_field(2, &m)
}

#[test]
fn the_simple_path_gives_what_the_full_path_gives() {
    let limits = Limits::default();
    let up = raw(&[&label_field("__name__", "up"), &label_field("job", "a")]);
    // Sorted, valid: the simple path.
    let msg = len_field(1, &raw(&[&up, &sample_field(1.0, 5)]));
    assert!(same_on_both_paths(&msg, &limits));
    // Exemplars, histograms and an unknown field beside the samples, and a second series
    // with only a histogram: same stats either way.
    let msg = raw(&[
        &len_field(
            1,
            &raw(&[
                &up,
                &len_field(3, b"ex"),
                &sample_field(2.0, 6),
                &len_field(4, b"h"),
                &len_field(9, b"unknown"),
            ]),
        ),
        &len_field(1, &raw(&[&up, &len_field(4, b"h")])),
    ]);
    assert!(same_on_both_paths(&msg, &limits));
    // A label after the samples: the full path, which sorts it in (`a` first).
    let late = len_field(
        1,
        &raw(&[&up, &sample_field(1.0, 5), &label_field("a", "x")]),
    );
    assert!(!same_on_both_paths(&late, &limits));
    let mut b = Batch::new();
    decode_protobuf(&late, &limits, &mut b).unwrap();
    assert_eq!(b.dump(), [r#"up{a="x",job="a"} 1.0@5"#]);
    // Wire errors in a sample, after a valid run: the full path's error, batch untouched.
    for sample in [
        len_field(2, &[0x09, 1, 2]),
        vec![0x12, 0x05, 0x09],
        vec![0x11, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![0x00],
    ] {
        let broken = len_field(1, &raw(&[&up, &sample_field(1.0, 1), &sample]));
        assert!(!same_on_both_paths(&broken, &limits));
        let mut b = Batch::new();
        assert!(decode_protobuf(&broken, &limits, &mut b).is_err());
        assert!(b.is_empty());
    }
    // Label names and values at the edges of the fixed-size copies (16 and 32 bytes), at
    // the end of the message where fewer bytes follow.
    for len in [1, 14, 15, 16, 17, 30, 31, 32, 33, 126, 127] {
        let v = "v".repeat(len);
        let n = format!("n{}", "a".repeat(len.min(100)));
        let msg = len_field(
            1,
            &raw(&[
                &label_field("__name__", &v),
                &label_field(&n, &v),
                &sample_field(1.0, 1),
            ]),
        );
        assert!(same_on_both_paths(&msg, &limits), "{len}");
        let msg = len_field(1, &raw(&[&sample_field(1.0, 1), &label_field(&n, &v)]));
        same_on_both_paths(&msg, &limits);
    }
}

#[test]
fn only_valid_canonical_simple_runs_take_the_simple_path() {
    let limits = Limits::default();
    let full_path = [
        // Unsorted: the canonical name is not the input order.
        raw(&[&label_field("job", "a"), &label_field("__name__", "up")]),
        // An empty value is dropped from the name.
        raw(&[&label_field("__name__", "up"), &label_field("job", "")]),
        // A repeated label name.
        raw(&[
            &label_field("__name__", "up"),
            &label_field("__name__", "up"),
        ]),
        // Not in the simple form: value before name.
        len_field(1, &raw(&[&len_field(2, b"up"), &len_field(1, b"__name__")])),
        // Not in the simple form: a value of 128 bytes takes a two-byte length.
        raw(&[
            &label_field("__name__", "up"),
            &label_field("long", &"v".repeat(128)),
        ]),
        // Invalid names, an invalid metric name, invalid UTF-8.
        raw(&[&label_field("__name__", "up"), &label_field("x-y", "1")]),
        raw(&[&label_field("__name__", "1up")]),
        raw(&[
            &label_field("__name__", "up"),
            &len_field(1, &raw(&[&len_field(1, b"job"), &len_field(2, &[0xff])])),
        ]),
        // The same in a label long enough for a two-byte length (not ASCII itself).
        raw(&[
            &label_field("__name__", "up"),
            &len_field(
                1,
                &raw(&[
                    &len_field(1, b"job"),
                    &len_field(2, &raw(&[&[0xff], "v".repeat(125).as_bytes()])),
                ]),
            ),
        ]),
    ];
    let skip = Limits {
        remote_write_invalid_series: OnInvalid::Skip,
        ..Limits::default()
    };
    for labels in &full_path {
        let msg = len_field(1, &raw(&[labels, &sample_field(1.0, 1)]));
        assert!(!same_on_both_paths(&msg, &limits), "{labels:?}");
        assert!(!same_on_both_paths(&msg, &skip), "{labels:?}");
    }
    // Limits: at the limit the simple path, past it the full path (and its error).
    let tight = Limits {
        max_labels_per_series: 2,
        max_label_name_len: 3,
        max_label_value_len: 2,
        ..Limits::default()
    };
    let fits = len_field(
        1,
        &raw(&[
            &label_field("a", "up"),
            &label_field("bcd", "xy"),
            &sample_field(1.0, 1),
        ]),
    );
    assert!(same_on_both_paths(&fits, &tight));
    for labels in [
        raw(&[
            &label_field("a", "1"),
            &label_field("b", "1"),
            &label_field("c", "1"),
        ]),
        raw(&[&label_field("abcd", "1")]),
        raw(&[&label_field("a", "xyz")]),
    ] {
        let msg = len_field(1, &raw(&[&labels, &sample_field(1.0, 1)]));
        assert!(!same_on_both_paths(&msg, &tight));
        assert!(!same_on_both_paths(
            &msg,
            &Limits {
                remote_write_invalid_series: OnInvalid::Skip,
                ..tight.clone()
            }
        ));
    }
    // A run without samples is counted and dropped on either path.
    let msg = len_field(1, &label_field("__name__", "up"));
    assert!(same_on_both_paths(&msg, &limits));
}

proptest::proptest! {
    #[test]
    fn both_paths_agree_on_generated_requests(
        timeseries in proptest::collection::vec(any_order_series(), 0..8),
        skip in proptest::prelude::any::<bool>(),
    ) {
        let limits = Limits {
            remote_write_invalid_series: if skip { OnInvalid::Skip } else { OnInvalid::Reject },
            ..Limits::default()
        };
        same_on_both_paths(&WriteRequest { timeseries }.encode_protobuf(), &limits);
    }
}

/// A series from a small pool of names and labels, in sorted or any order, sometimes with an
/// empty value, a repeated name or an invalid label name, sometimes without samples: the
/// cases the simple path must tell apart.
fn any_order_series() -> impl proptest::strategy::Strategy<Value = TimeSeries> {
    use proptest::prelude::*;
    (
        prop::sample::select(vec!["up", "a", "b_total", "1x"]),
        prop::collection::vec(
            (
                prop::sample::select(vec!["__name__", "job", "instance", "x-y", "z"]),
                prop::sample::select(vec!["", "1", "node", "ä", "a\u{0}b"]),
            ),
            0..4,
        ),
        any::<bool>(),
        prop::collection::vec((any::<i64>(), any::<f64>()), 0..3),
    )
        .prop_map(|(name, others, sorted, samples)| {
            let mut labels: Vec<(String, String)> = vec![("__name__".into(), name.into())];
            labels.extend(others.into_iter().map(|(n, v)| (n.into(), v.into())));
            if sorted {
                labels.sort();
            } else {
                labels.reverse();
            }
            let samples = samples
                .into_iter()
                .map(|(timestamp_ms, value)| Sample {
                    timestamp_ms,
                    value,
                })
                .collect();
            TimeSeries { labels, samples }
        })
}
