//! The Storage API end to end: crash safety of label-addressed rows, deletes, snapshots and
//! restarts. (The model-based test of every Storage answer is in `tests/index_it`, beside the
//! index model it shares.)

mod crash;
mod deletes;
mod restart;
mod snapshots;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tsdb::clock::ManualClock;
use tsdb::index::{LabelMatcher, MatchKind};
use tsdb::metric_name::{self, Label};
use tsdb::storage::{Storage, StorageConfig};
use tsdb::{TableConfig, Tenant, TimeRange};

use crate::common::{DAY, NOW};

/// The tenant of these tests.
pub const TENANT: Tenant = Tenant::new(7, 3);

/// The canonical encoding of a label set.
pub fn name(labels: &[(&str, &str)]) -> Vec<u8> {
    let mut ls: Vec<Label<'_>> = labels
        .iter()
        .map(|&(name, value)| Label { name, value })
        .collect();
    metric_name::canonicalize(&mut ls).unwrap();
    let mut out = Vec::new();
    metric_name::encode(&ls, &mut out);
    out
}

/// A matcher.
pub fn m(label: &str, kind: MatchKind, value: &str) -> LabelMatcher {
    LabelMatcher::new(label, kind, value)
}

/// A storage config on a manual clock at [`NOW`] whose flushes the tests decide.
pub fn config(clock: &Arc<ManualClock>) -> StorageConfig {
    StorageConfig {
        table: TableConfig {
            clock: Arc::clone(clock) as _,
            flush_interval: Duration::from_secs(3600),
            inmemory_interval: Duration::from_secs(3600),
            ..TableConfig::default()
        },
        ..StorageConfig::default()
    }
}

pub fn open(dir: &Path, clock: &Arc<ManualClock>) -> Storage {
    Storage::open(dir, config(clock)).unwrap()
}

/// The last two days up to [`NOW`].
pub const RECENT: TimeRange = TimeRange::new(NOW - 2 * DAY, NOW);

/// Every matching series' samples in `range` as name → (timestamp, value bits), after a
/// flush (rows become searchable in parts).
pub fn samples(
    s: &Storage,
    matchers: &[LabelMatcher],
    range: TimeRange,
) -> BTreeMap<Vec<u8>, Vec<(i64, u64)>> {
    s.force_flush().unwrap();
    s.search_samples(TENANT, matchers, range, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|x| {
            let v = x
                .timestamps
                .iter()
                .zip(&x.values)
                .map(|(t, v)| (*t, v.to_bits()))
                .collect();
            (x.name, v)
        })
        .collect()
}
