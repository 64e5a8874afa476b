//! prometheus_text: any bytes; a parse either fails and leaves the batch empty, or yields valid series.
#![no_main]

use ingest::{Batch, Limits, prometheus_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut batch = Batch::new();
    match prometheus_text::parse(data, 0, &Limits::default(), &mut batch) {
        Ok(()) => {
            for s in batch.iter() {
                assert!(!s.samples.is_empty());
                assert!(!s.labels().is_empty());
            }
        }
        Err(e) => {
            assert!(batch.is_empty());
            assert!(!e.to_string().is_empty());
        }
    }
});
