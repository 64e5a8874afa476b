//! Helpers shared by the integration tests.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tsdb::clock::ManualClock;
use tsdb::{Row, Table, TableConfig, Tenant, TimeRange, Tsid};

/// 2024-03-10T00:00:00Z.
pub const NOW: i64 = 1_710_028_800_000;
pub const DAY: i64 = 86_400_000;

pub fn tsid(metric_id: u64) -> Tsid {
    Tsid {
        tenant: Tenant::new(1, 0),
        metric_group_id: 1000 + metric_id / 10,
        job_id: 1,
        instance_id: (metric_id % 10) as u32,
        metric_id,
    }
}

pub fn row(metric_id: u64, timestamp: i64, value: f64) -> Row {
    Row {
        tsid: tsid(metric_id),
        timestamp,
        value,
    }
}

/// A config with a manual clock at [`NOW`] and background work slowed down so that tests
/// decide when flushes happen.
pub fn config(clock: &Arc<ManualClock>) -> TableConfig {
    TableConfig {
        clock: Arc::clone(clock) as _,
        flush_interval: Duration::from_secs(3600),
        inmemory_interval: Duration::from_secs(3600),
        ..TableConfig::default()
    }
}

pub fn open(dir: &Path, clock: &Arc<ManualClock>) -> Table {
    Table::open(dir, config(clock)).unwrap()
}

/// Every series' samples in `range` as (metric_id, timestamp, value bits).
pub fn read_all(table: &Table, ids: &[u64], range: TimeRange) -> Vec<(u64, i64, u64)> {
    let tsids: Vec<Tsid> = ids.iter().map(|&m| tsid(m)).collect();
    let mut s = table.search(&tsids, range).unwrap();
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    while let Some(t) = s.next_samples(&mut ts, &mut vs) {
        let t = t.unwrap();
        out.extend(
            ts.iter()
                .zip(&vs)
                .map(|(a, b)| (t.metric_id, *a, b.to_bits())),
        );
    }
    out
}
