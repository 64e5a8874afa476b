//! Restart: after a clean stop, or a crash, the hot caches are rebuilt at open, so known
//! series are neither registered again nor looked up in the index.

use tsdb::Tenant;
use tsdb::clock::ManualClock;
use tsdb::index::{IndexConfig, IndexDb, Row};

use super::{DAY, T0, name};

fn names() -> Vec<Vec<u8>> {
    let modes = ["idle", "user", "system", "iowait"];
    (0..20_000)
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

fn register_all(idx: &IndexDb, names: &[Vec<u8>], ts: i64) -> Vec<tsdb::Tsid> {
    let t = Tenant::new(1, 1);
    let rows: Vec<Row<'_>> = names
        .iter()
        .map(|n| Row {
            tenant: t,
            name: n,
            timestamp_ms: ts,
        })
        .collect();
    let mut out = Vec::new();
    for chunk in rows.chunks(1000) {
        let mut part = Vec::new();
        idx.get_or_create_tsids(chunk, &mut part).expect("register");
        out.extend(part);
    }
    out
}

#[test]
fn known_series_stay_known_and_cached_after_a_clean_restart_or_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = names();
    let first = {
        let idx =
            IndexDb::open(dir.path(), IndexConfig::default(), ManualClock::new(T0)).expect("open");
        let v = register_all(&idx, &names, T0);
        assert_eq!(idx.stats().new_series_created, names.len() as u64);
        idx.close().expect("close");
        v
    };
    for clean in [true, false] {
        let idx = IndexDb::open(dir.path(), IndexConfig::default(), ManualClock::new(T0))
            .expect("reopen");
        let again = register_all(&idx, &names, T0);
        assert_eq!(again, first);
        let st = idx.stats();
        assert_eq!(st.new_series_created, 0, "clean={clean}");
        assert_eq!(st.cache_misses, 0, "clean={clean}: caches were not warm");
        assert_eq!(st.series, names.len() as u64);
        if clean {
            idx.close().expect("close");
        } // else: dropped without close, as after a crash
    }
    // The next day, each series is registered once for the day, not as a new series.
    let idx = IndexDb::open(
        dir.path(),
        IndexConfig::default(),
        ManualClock::new(T0 + DAY),
    )
    .expect("reopen");
    assert_eq!(register_all(&idx, &names, T0 + DAY), first);
    let st = idx.stats();
    assert_eq!(
        (st.new_series_created, st.day_registrations),
        (0, names.len() as u64)
    );
}
