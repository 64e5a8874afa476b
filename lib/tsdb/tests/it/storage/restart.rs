//! Restart at the Storage level: after a clean stop or a crash, the hot-path caches are warm
//! when `open` returns, so rows of known series are neither registered as new nor looked up
//! in the index, on the same day and on the next.

use tsdb::clock::ManualClock;
use tsdb::storage::{MetricRow, Storage};

use super::{TENANT, name, open};
use crate::common::{DAY, NOW};

fn names() -> Vec<Vec<u8>> {
    let modes = ["idle", "user", "system", "iowait"];
    (0..8_000)
        .map(|i| {
            name(&[
                ("__name__", "node_cpu_seconds_total"),
                ("cpu", &(i % 16).to_string()),
                ("instance", &format!("host-{}:9100", i / 64)),
                ("job", "node"),
                ("mode", modes[i % 4]),
                ("series", &(i / 16 % 4).to_string()),
            ])
        })
        .collect()
}

/// One scrape of every series at `ts`, in batches of 500.
fn scrape(s: &Storage, names: &[Vec<u8>], ts: i64) {
    for chunk in names.chunks(500) {
        let rows: Vec<MetricRow<'_>> = chunk
            .iter()
            .map(|n| MetricRow {
                tenant: TENANT,
                name: n,
                timestamp: ts,
                value: 1.0,
            })
            .collect();
        s.add_rows(&rows).unwrap();
    }
}

#[test]
fn known_series_are_not_registered_again_after_a_clean_stop_or_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let hour = 3_600_000;
    let clock = ManualClock::new(NOW + 12 * hour);
    let names = names();
    let n = names.len() as u64;
    {
        let s = open(dir.path(), &clock);
        scrape(&s, &names, NOW + hour);
        let st = s.stats();
        assert_eq!((st.new_series, st.series), (n, n));
        s.close().unwrap();
    }
    for clean in [true, false] {
        let s = open(dir.path(), &clock);
        scrape(&s, &names, NOW + hour + 15_000);
        let st = s.stats();
        assert_eq!(
            st.new_series, 0,
            "clean={clean}: known series registered again"
        );
        assert_eq!(
            st.index_cache_misses, 0,
            "clean={clean}: caches were not warm"
        );
        assert_eq!(st.index_cache_hits, n, "clean={clean}");
        assert_eq!(st.series, n);
        if clean {
            s.close().unwrap();
        } // else dropped without close: a crash, the WAL is replayed at the next open
    }
    // The next day: each series is registered for the day, none as a new series.
    let next_day = ManualClock::new(NOW + DAY + 12 * hour);
    let s = open(dir.path(), &next_day);
    scrape(&s, &names, NOW + DAY + hour);
    let st = s.stats();
    assert_eq!(st.new_series, 0);
    assert_eq!(st.rows_added, n);
    // A scrape later the same day is all cache hits.
    let hits = st.index_cache_hits;
    scrape(&s, &names, NOW + DAY + hour + 15_000);
    assert_eq!(s.stats().index_cache_hits - hits, n);
    s.close().unwrap();
}
