//! Property tests: no input makes a parser panic, and a failed parse leaves the batch as it was.

use ingest::corpus::{self, Format};
use ingest::{Batch, Limits, remote_write};
use proptest::prelude::*;

const FORMATS: [Format; 4] = [
    Format::RemoteWrite,
    Format::JsonLines,
    Format::PrometheusText,
    Format::Influx,
];

/// Parses `body` into a batch holding one earlier series and checks the batch's invariants.
fn parse_checked(format: Format, body: &[u8]) {
    let mut batch = Batch::new();
    corpus::parse(
        Format::PrometheusText,
        "",
        b"before 1 1",
        &Limits::default(),
        &mut batch,
    )
    .expect("a valid line");
    let arena = batch.arena().to_vec();
    let result = corpus::parse(format, "", body, &Limits::default(), &mut batch);
    if result.is_err() {
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.arena(), arena.as_slice());
        assert_eq!(batch.sample_count(), 1);
    }
    let mut samples = 0;
    for s in batch.iter() {
        assert!(!s.samples.is_empty());
        assert!(!s.labels().is_empty());
        samples += s.samples.len();
    }
    assert_eq!(samples, batch.sample_count());
}

/// Valid inputs to mutate, one per format (remote_write uncompressed).
fn seeds() -> Vec<(Format, Vec<u8>)> {
    vec![
        (Format::RemoteWrite, seeds_protobuf()),
        (Format::JsonLines, br#"{"metric":{"__name__":"up","a":"\u00e9\n"},"values":[1,+Inf,null],"timestamps":[1,2,3]}"#.to_vec()),
        (Format::PrometheusText, b"# TYPE up gauge\nup{a=\"x\\\"y\",b=\"\"} 1 1000 # {t=\"1\"} 2\n".to_vec()),
        (Format::Influx, b"cpu,host=a\\ b f=1,g=2i,s=\"x y\" 1000\n".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
        for format in FORMATS {
            parse_checked(format, &body);
        }
        // Arbitrary bytes as an already decompressed WriteRequest.
        let mut batch = Batch::new();
        let _ = remote_write::decode_protobuf(&body, &Limits::default(), &mut batch);
    }

    #[test]
    fn mutated_valid_inputs_never_panic(
        seed in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let (format, mut raw) = seeds().swap_remove(seed);
        for (at, byte, op) in edits {
            let i = at.index(raw.len() + 1);
            match op {
                0 if i < raw.len() => raw[i] = byte,
                1 => raw.insert(i, byte),
                _ if i < raw.len() => { raw.remove(i); }
                _ => raw.push(byte),
            }
        }
        if format == Format::RemoteWrite {
            // The protobuf was mutated, not the snappy block.
            let mut batch = Batch::new();
            let _ = remote_write::decode_protobuf(&raw, &Limits::default(), &mut batch);
        } else {
            parse_checked(format, &raw);
        }
    }
}

fn seeds_protobuf() -> Vec<u8> {
    ingest::remote_write::WriteRequest {
        timeseries: vec![ingest::remote_write::TimeSeries {
            labels: vec![("__name__".into(), "up".into()), ("job".into(), "x".into())],
            samples: vec![ingest::Sample {
                timestamp_ms: 5,
                value: 1.0,
            }],
        }],
    }
    .encode_protobuf()
}
