//! Format compatibility: an index written by format version 1 (mergeset parts `TSDBMS01`,
//! manifest `TSDBMSM1`, `TSDBDEL1`, `TSDBMID1`) is kept in `testdata/index-v1/` and must keep
//! opening with the same answers. Regenerate it only with a deliberate format change:
//! `TSDB_WRITE_FIXTURE=1 cargo test -p tsdb --test index_it compat::write_fixture -- --ignored`.

use std::path::{Path, PathBuf};

use tsdb::TimeRange;
use tsdb::clock::ManualClock;
use tsdb::index::{IndexConfig, IndexDb, LabelMatcher, MatchKind};
use tsdb::{Tenant, mergeset};

use super::{DAY, T0, name};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/index_it/testdata/index-v1")
}

fn cfg() -> IndexConfig {
    IndexConfig {
        table: mergeset::Config {
            background: false,
            ..mergeset::Config::default()
        },
        ..IndexConfig::default()
    }
}

fn names() -> Vec<Vec<u8>> {
    (0..40)
        .map(|i| {
            name(&[
                ("__name__", if i % 2 == 0 { "up" } else { "node_load1" }),
                ("instance", &format!("host-{}:9100", i % 20)),
                ("job", if i < 20 { "node" } else { "api" }),
            ])
        })
        .collect()
}

const TENANT: Tenant = Tenant::new(3, 4);

#[test]
#[ignore = "writes the saved v1 index; run by hand after a deliberate format change"]
fn write_fixture() {
    if std::env::var("TSDB_WRITE_FIXTURE").is_err() {
        return;
    }
    let dir = fixture();
    let _ = std::fs::remove_dir_all(&dir);
    let idx = IndexDb::open(&dir, cfg(), ManualClock::new(T0)).expect("open");
    for (i, n) in names().iter().enumerate() {
        idx.get_or_create_tsid(TENANT, n, T0 + (i as i64 % 2) * DAY)
            .expect("register");
        if i == 19 {
            idx.flush().expect("flush: two parts");
        }
    }
    idx.delete_series(
        TENANT,
        &[LabelMatcher::new("instance", MatchKind::Eq, "host-9:9100")],
    )
    .expect("delete");
    idx.close().expect("close");
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read fixture") {
        let e = e.expect("entry");
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name())).expect("copy");
        }
    }
}

#[test]
fn format_v1_index_still_opens_with_the_same_answers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture(), tmp.path());
    let idx = IndexDb::open(tmp.path(), cfg(), ManualClock::new(T0)).expect("open the v1 fixture");
    let st = idx.stats();
    assert_eq!(st.series, 38, "40 registered, 2 deleted");
    assert_eq!(st.deleted_series, 2);
    let all = TimeRange::ALL;
    let up = [LabelMatcher::new("__name__", MatchKind::Eq, "up")];
    let tsids = idx.search_tsids(TENANT, &up, all, 100).expect("search");
    assert_eq!(tsids.len(), 20);
    // Metric ids were allocated from the clock at T0: the first series has id T0 × 10⁶.
    assert!(
        tsids
            .iter()
            .all(|t| t.tenant == TENANT && t.metric_id >= T0 as u64 * 1_000_000)
    );
    assert_eq!(
        idx.label_values(TENANT, "job", &[], all, 10)
            .expect("values"),
        vec!["api", "node"]
    );
    let day1 = TimeRange::new(T0 + DAY, T0 + DAY);
    assert_eq!(
        idx.series(TENANT, &up, day1, 100).expect("series").len(),
        0,
        "even rows were on day 0"
    );
    let load1 = [LabelMatcher::new("__name__", MatchKind::Eq, "node_load1")];
    assert_eq!(
        idx.series(TENANT, &load1, day1, 100).expect("series").len(),
        18,
        "odd rows on day 1"
    );
    // Known series resolve to the saved Tsids; nothing is registered again.
    for n in names().iter().step_by(2) {
        let t = idx.get_or_create_tsid(TENANT, n, T0).expect("known");
        assert!(tsids.contains(&t));
    }
    assert_eq!(idx.stats().new_series_created, 0);
}
