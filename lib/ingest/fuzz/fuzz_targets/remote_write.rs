//! remote_write: the input is an uncompressed `WriteRequest` (so the fuzzer explores the
//! protobuf decoder, not snappy's); it is also tried as a snappy body.
#![no_main]

use ingest::{Batch, Limits, remote_write};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_decoded_size: 1 << 20,
        ..Limits::default()
    };
    let mut batch = Batch::new();
    if remote_write::decode_protobuf(data, &limits, &mut batch).is_ok() {
        for s in batch.iter() {
            assert!(!s.samples.is_empty());
            assert!(!s.labels().is_empty());
        }
    } else {
        assert!(batch.is_empty());
    }
    let mut batch = Batch::new();
    if remote_write::decode(data, &limits, &mut batch).is_err() {
        assert!(batch.is_empty());
    }
});
