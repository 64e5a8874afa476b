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
    match (got, want) {
        (Ok(got), Ok(want)) => assert_eq!(got, want),
        (Err(got), Err(want)) => assert_eq!(got.to_string(), want),
        (got, want) => panic!("got {got:?}, want {want:?}"),
    }
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
