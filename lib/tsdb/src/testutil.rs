//! Helpers shared by unit tests.

use crate::block::Block;
use crate::block_stream_reader::BlockStreamReader;
use crate::part::Part;
use crate::raw_rows::Row;
use crate::tsid::{Tenant, Tsid};
use std::sync::Arc;

/// A tsid of metric `metric_id`, in a few metric groups.
pub fn tsid(metric_id: u64) -> Tsid {
    Tsid {
        tenant: Tenant::new(1, 0),
        metric_group_id: metric_id % 3,
        job_id: 7,
        instance_id: (metric_id % 2) as u32,
        metric_id,
    }
}

/// A row.
pub fn row(metric_id: u64, timestamp: i64, value: f64) -> Row {
    Row {
        tsid: tsid(metric_id),
        timestamp,
        value,
    }
}

/// Every block of a part.
pub fn blocks(part: &Arc<Part>) -> Vec<Block> {
    let mut r = BlockStreamReader::new(Arc::clone(part));
    let mut out = Vec::new();
    while let Some(b) = r.next_block().unwrap() {
        out.push(b);
    }
    out
}

/// Every sample of a part as (metric_id, timestamp, value bits), in order.
pub fn samples(part: &Arc<Part>) -> Vec<(u64, i64, u64)> {
    let mut out = Vec::new();
    for b in blocks(part) {
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        b.decode_into(&mut ts, &mut vs).unwrap();
        out.extend(
            ts.iter()
                .zip(&vs)
                .map(|(t, v)| (b.tsid().metric_id, *t, v.to_bits())),
        );
    }
    out
}
