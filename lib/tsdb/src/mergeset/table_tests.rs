use super::*;

fn cfg() -> Config {
    Config {
        background: false,
        ..Config::default()
    }
}

fn all(t: &Table) -> Vec<Vec<u8>> {
    let mut s = t.search();
    s.seek(b"").unwrap();
    let mut out = Vec::new();
    while let Some(item) = s.next_item().unwrap() {
        out.push(item.to_vec());
    }
    out
}

fn item(i: u32) -> Vec<u8> {
    format!("item-{:08}", i.wrapping_mul(2_654_435_761) % 1_000_000).into_bytes()
}

#[test]
fn items_survive_flush_merge_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut want = std::collections::BTreeSet::new();
    {
        let t = Table::open(dir.path(), cfg()).unwrap();
        for round in 0..5u32 {
            let batch: Vec<Vec<u8>> = (round * 3000..(round + 1) * 3000).map(item).collect();
            let refs: Vec<&[u8]> = batch.iter().map(|v| v.as_slice()).collect();
            t.add_items(&refs).unwrap();
            want.extend(batch);
            if round % 2 == 0 {
                t.flush().unwrap();
            }
        }
        // Duplicates across parts come out once.
        t.add_items(&[&item(7), &item(7)]).unwrap();
        assert_eq!(all(&t), want.iter().cloned().collect::<Vec<_>>());
        let st = t.stats();
        assert!(st.file_parts >= 2, "{st:?}");
        t.force_merge().unwrap();
        assert_eq!(t.stats().file_parts, 1);
        assert_eq!(all(&t), want.iter().cloned().collect::<Vec<_>>());
        t.close().unwrap();
        assert!(matches!(t.add_items(&[b"x"]), Err(Error::Closed)));
    }
    let t = Table::open(dir.path(), cfg()).unwrap();
    assert_eq!(all(&t), want.iter().cloned().collect::<Vec<_>>());
    // Seeks land on the first item >= key, within and across blocks.
    let keys: Vec<&Vec<u8>> = want.iter().collect();
    let mut s = t.search();
    for k in keys.iter().step_by(97) {
        let mut probe = k.to_vec();
        probe.pop();
        s.seek(&probe).unwrap();
        assert_eq!(
            s.next_item().unwrap(),
            Some(
                keys.iter()
                    .find(|x| x.as_slice() >= probe.as_slice())
                    .unwrap()
                    .as_slice()
            )
        );
    }
    s.seek(b"zzz").unwrap();
    assert_eq!(s.next_item().unwrap(), None);
}

#[test]
fn unflushed_items_are_replayed_from_the_wal_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let t = Table::open(dir.path(), cfg()).unwrap();
        t.add_items(&[b"flushed"]).unwrap();
        t.flush().unwrap();
        t.add_items(&[b"only-in-wal", b"also"]).unwrap();
        // Dropped without close: as after a kill.
    }
    let t = Table::open(dir.path(), cfg()).unwrap();
    assert_eq!(
        all(&t),
        vec![
            b"also".to_vec(),
            b"flushed".to_vec(),
            b"only-in-wal".to_vec()
        ]
    );
    // Open flushed what it replayed: the WAL is down to the fresh segment.
    let wal_files = std::fs::read_dir(dir.path().join(WAL_DIR)).unwrap().count();
    assert_eq!(wal_files, 1);
}

#[test]
fn leftovers_outside_the_manifest_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let t = Table::open(dir.path(), cfg()).unwrap();
        t.add_items(&[b"a"]).unwrap();
        t.close().unwrap();
    }
    std::fs::create_dir(dir.path().join("00000000000000ff")).unwrap();
    std::fs::create_dir(dir.path().join("0000000000000100.tmp")).unwrap();
    let t = Table::open(dir.path(), cfg()).unwrap();
    assert!(!dir.path().join("00000000000000ff").exists());
    assert!(!dir.path().join("0000000000000100.tmp").exists());
    assert_eq!(all(&t), vec![b"a".to_vec()]);
    // New parts get ids above every directory seen.
    t.add_items(&[b"b"]).unwrap();
    t.flush().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 16)
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[1].as_str() > "00000000000000ff", "{names:?}");
}

#[test]
fn snapshot_is_an_openable_copy() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::open(dir.path().join("t").as_path(), cfg()).unwrap();
    t.add_items(&[b"x", b"y"]).unwrap();
    t.snapshot(&dir.path().join("snap")).unwrap();
    t.add_items(&[b"z"]).unwrap();
    let s = Table::open(&dir.path().join("snap"), cfg()).unwrap();
    assert_eq!(all(&s), vec![b"x".to_vec(), b"y".to_vec()]);
}

/// Flips bytes and truncates files of a part: open or search must fail with a located
/// corruption error, never panic.
#[test]
fn corrupt_parts_give_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    {
        let t = Table::open(&src, cfg()).unwrap();
        let batch: Vec<Vec<u8>> = (0..20_000).map(item).collect();
        let refs: Vec<&[u8]> = batch.iter().map(|v| v.as_slice()).collect();
        t.add_items(&refs).unwrap();
        t.close().unwrap();
    }
    let part = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir() && !p.ends_with(WAL_DIR))
        .unwrap();
    let mut checked = 0;
    for name in [
        super::super::ITEMS_FILE,
        super::super::INDEX_FILE,
        super::super::METAINDEX_FILE,
    ] {
        let len = std::fs::metadata(part.join(name)).unwrap().len() as usize;
        for (k, edit) in [(0usize, "flip"), (1, "flip"), (2, "flip"), (3, "truncate")] {
            let copy = dir.path().join(format!("c-{name}-{k}"));
            copy_dir(&src, &copy);
            let target = copy.join(part.file_name().unwrap()).join(name);
            let mut bytes = std::fs::read(&target).unwrap();
            if edit == "flip" {
                let at = (len / 3) * k + 5;
                bytes[at.min(len - 1)] ^= 0x5a;
            } else {
                bytes.truncate(len / 2);
            }
            std::fs::write(&target, &bytes).unwrap();
            let res = Table::open(&copy, cfg()).and_then(|t| {
                let mut s = t.search();
                s.seek(b"")?;
                while s.next_item()?.is_some() {}
                Ok(())
            });
            let err = res.expect_err(&format!("{edit} of {name} at {k} went unnoticed"));
            assert!(matches!(err, Error::Corruption { .. }), "{err}");
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn merge_policy_picks_similar_sizes() {
    let p = |n: usize| {
        Arc::new(Part::mem(
            n as u64,
            (0..n).map(|_| &b"x"[..]).collect::<Items>(),
        ))
    };
    let sorted = vec![p(10), p(10), p(10), p(1000)];
    let got = pick_merge(&sorted, 2.0).unwrap();
    assert_eq!(got.len(), 3);
    assert!(
        pick_merge(&sorted, 4.0).is_none(),
        "three equal parts do not make a 4x merge"
    );
    assert!(pick_merge(&[p(10), p(1000)], 2.0).is_none());
}

/// Regression: flush() woke every background thread through one shared flag, so the flush
/// thread could wake itself after each flush and spin, rotating (and fsyncing) the WAL.
#[test]
fn regression_a_flush_does_not_wake_the_flush_thread() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::open(dir.path(), cfg()).unwrap();
    t.add_items(&[b"a"]).unwrap();
    t.flush().unwrap();
    assert!(!t.inner.wake_flush.is_raised());
    assert!(
        t.inner.wake_merge.is_raised(),
        "a new file part wakes the merge thread"
    );
}

/// Regression: a background merge of in-memory parts that ran after a flush had taken them
/// merged nothing into an empty part, and the next flush wrote it as an empty file part (seen
/// after every force_merge of a vmstorage).
#[test]
fn regression_a_merge_after_a_flush_publishes_no_empty_part() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::open(dir.path(), cfg()).unwrap();
    t.add_items(&[b"a", b"b"]).unwrap();
    t.flush().unwrap();
    // The merge thread wakes up late: the flush already took every in-memory part.
    t.inner.merge_mem_parts();
    assert_eq!(t.stats().mem_parts, 0);
    t.add_items(&[b"c"]).unwrap();
    t.flush().unwrap();
    t.force_merge().unwrap();
    t.flush().unwrap();
    let st = t.stats();
    assert_eq!((st.mem_parts, st.file_parts, st.items), (0, 1, 3));
    for p in lock(&t.inner.parts).iter() {
        assert!(p.items > 0, "empty part {}", p.id);
    }
    assert_eq!(all(&t), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
}
