//! Item namespaces of the series index and their key layouts. Every item starts with a
//! namespace byte and carries the tenant; per-day items put the day first so that a day's
//! items are contiguous. Layouts and invariants are in `docs/index-format.md`.
//!
//! ```text
//! NAME_TO_ID    01 | tenant(8) | uvarint(len(name_raw)) | name_raw | metric_id(8)
//! ID_TO_NAME    02 | tenant(8) | metric_id(8) | name_raw
//! POSTING       03 | tenant(8) | esc(label) 00 | esc(value) 00 | metric_id(8) × n   (n ≥ 1, ascending)
//! DATE_ID       04 | day(4) | tenant(8) | metric_id(8)
//! DATE_POSTING  05 | day(4) | tenant(8) | esc(label) 00 | esc(value) 00 | metric_id(8) × n
//! ID_TO_TSID    06 | tenant(8) | metric_id(8) | metric_group_id(8) | job_id(4) | instance_id(4)
//! ```
//! Integers are big-endian so that byte order is numeric order. `esc` maps byte 00 to 01 02
//! and 01 to 01 03 and keeps the others: it preserves order and keeps 00 free as terminator.

use crate::mergeset::Items;
use crate::metric_name::Label;
use crate::tsid::Tenant;

/// `01`: canonical name → metric id.
pub const NS_NAME_TO_ID: u8 = 1;
/// `02`: metric id → canonical name.
pub const NS_ID_TO_NAME: u8 = 2;
/// `03`: (label, value) → metric ids, all time.
pub const NS_POSTING: u8 = 3;
/// `04`: the metric ids seen on a day.
pub const NS_DATE_ID: u8 = 4;
/// `05`: (label, value) → metric ids seen on a day.
pub const NS_DATE_POSTING: u8 = 5;

/// `06`: metric id → the rest of its Tsid (compact, so that searches read few blocks).
pub const NS_ID_TO_TSID: u8 = 6;
/// Length of an ID_TO_TSID item.
pub const ID_TO_TSID_LEN: usize = 33;

/// Most metric ids one posting item carries after merges combine items.
pub const MAX_IDS_PER_POSTING_ITEM: usize = 4096;

/// Milliseconds per day.
pub const DAY_MS: i64 = 86_400_000;

/// The day (since the Unix epoch) of a timestamp; times before 1970 count as day 0.
pub fn day_of(ts_ms: i64) -> u32 {
    ts_ms.div_euclid(DAY_MS).clamp(0, i64::from(u32::MAX)) as u32
}

/// Which postings a lookup reads: the all-time ones or one day's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `POSTING`, and all series of the tenant.
    Global,
    /// `DATE_POSTING` of a day, and the series seen that day.
    Day(u32),
}

/// Appends the tenant's 8 bytes.
pub fn put_tenant(out: &mut Vec<u8>, t: Tenant) {
    out.extend_from_slice(&t.account_id.to_be_bytes());
    out.extend_from_slice(&t.project_id.to_be_bytes());
}

/// Appends `s` escaped and terminated by 00.
pub fn put_escaped(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            0 => out.extend_from_slice(&[1, 2]),
            1 => out.extend_from_slice(&[1, 3]),
            b => out.push(b),
        }
    }
    out.push(0);
}

/// Appends `s` escaped, without the terminator: a key prefix of every escaped string that
/// starts with `s`.
pub fn put_escaped_prefix(out: &mut Vec<u8>, s: &[u8]) {
    put_escaped(out, s);
    out.pop();
}

/// Reads an escaped, terminated string at the start of `src`: the string and the bytes taken.
pub fn take_escaped(src: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        match *src.get(i)? {
            0 => return Some((out, i + 1)),
            1 => {
                out.push(match *src.get(i + 1)? {
                    2 => 0,
                    3 => 1,
                    _ => return None,
                });
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// `01 | tenant | uvarint(len) | name_raw`: the prefix of a series' NAME_TO_ID items. The
/// length makes it prefix-free: no other name's prefix starts with it.
pub fn name_to_id_prefix(t: Tenant, name_raw: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + name_raw.len() + 8);
    k.push(NS_NAME_TO_ID);
    put_tenant(&mut k, t);
    crate::encoding::varint::put_uvarint(&mut k, name_raw.len() as u64);
    k.extend_from_slice(name_raw);
    k
}

/// Splits a NAME_TO_ID item into (tenant, name_raw, metric_id).
pub fn parse_name_to_id(item: &[u8]) -> Option<(Tenant, &[u8], u64)> {
    if item.first() != Some(&NS_NAME_TO_ID) {
        return None;
    }
    let tenant = Tenant::new(
        u32::from_be_bytes(item.get(1..5)?.try_into().ok()?),
        u32::from_be_bytes(item.get(5..9)?.try_into().ok()?),
    );
    let (len, n) = crate::encoding::varint::get_uvarint(item.get(9..)?)?;
    let start = 9 + n;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    if item.len() != end + 8 {
        return None;
    }
    Some((tenant, &item[start..end], trailing_id(item)?))
}

/// `02 | tenant | metric_id`: the prefix of a series' ID_TO_NAME item.
pub fn id_to_name_prefix(t: Tenant, metric_id: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = NS_ID_TO_NAME;
    k[1..5].copy_from_slice(&t.account_id.to_be_bytes());
    k[5..9].copy_from_slice(&t.project_id.to_be_bytes());
    k[9..17].copy_from_slice(&metric_id.to_be_bytes());
    k
}

/// The ID_TO_TSID item of a series.
pub fn id_to_tsid_item(tsid: &crate::tsid::Tsid) -> [u8; ID_TO_TSID_LEN] {
    let mut k = [0u8; ID_TO_TSID_LEN];
    k[..17].copy_from_slice(&id_to_name_prefix(tsid.tenant, tsid.metric_id));
    k[0] = NS_ID_TO_TSID;
    k[17..25].copy_from_slice(&tsid.metric_group_id.to_be_bytes());
    k[25..29].copy_from_slice(&tsid.job_id.to_be_bytes());
    k[29..33].copy_from_slice(&tsid.instance_id.to_be_bytes());
    k
}

/// Decodes an ID_TO_TSID item.
pub fn parse_id_to_tsid(item: &[u8]) -> Option<crate::tsid::Tsid> {
    if item.len() != ID_TO_TSID_LEN || item[0] != NS_ID_TO_TSID {
        return None;
    }
    let u32_at = |i: usize| Some(u32::from_be_bytes(item.get(i..i + 4)?.try_into().ok()?));
    Some(crate::tsid::Tsid {
        tenant: Tenant::new(u32_at(1)?, u32_at(5)?),
        metric_id: u64_at(item, 9)?,
        metric_group_id: u64_at(item, 17)?,
        job_id: u32_at(25)?,
        instance_id: u32_at(29)?,
    })
}

/// `04 | day | tenant`, optionally followed by a metric id.
pub fn date_id_key(day: u32, t: Tenant, metric_id: Option<u64>) -> Vec<u8> {
    let mut k = Vec::with_capacity(21);
    k.push(NS_DATE_ID);
    k.extend_from_slice(&day.to_be_bytes());
    put_tenant(&mut k, t);
    if let Some(id) = metric_id {
        k.extend_from_slice(&id.to_be_bytes());
    }
    k
}

/// The prefix of every posting item of a tenant in a scope: `03 | tenant` or
/// `05 | day | tenant`.
pub fn posting_scope_prefix(scope: Scope, t: Tenant) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    match scope {
        Scope::Global => k.push(NS_POSTING),
        Scope::Day(d) => {
            k.push(NS_DATE_POSTING);
            k.extend_from_slice(&d.to_be_bytes());
        }
    }
    put_tenant(&mut k, t);
    k
}

/// The metric id at the end of a NAME_TO_ID item.
pub fn trailing_id(item: &[u8]) -> Option<u64> {
    let b = item.len().checked_sub(8).and_then(|s| item.get(s..))?;
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

/// Reads the big-endian u64 at `at`.
pub fn u64_at(item: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(item.get(at..at + 8)?.try_into().ok()?))
}

/// The metric ids of a posting item after its `(label, value)` prefix of `prefix_len` bytes.
pub fn posting_ids(item: &[u8], prefix_len: usize) -> impl Iterator<Item = u64> + '_ {
    let rest = item.get(prefix_len..).unwrap_or(&[]);
    rest.chunks_exact(8)
        .map(|c| u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
}

/// Splits a posting item, given the length of its scope prefix, into
/// (label, value, length of the `(label, value)` prefix).
pub fn split_posting(item: &[u8], scope_len: usize) -> Option<(Vec<u8>, Vec<u8>, usize)> {
    let rest = item.get(scope_len..)?;
    let (label, n1) = take_escaped(rest)?;
    let (value, n2) = take_escaped(rest.get(n1..)?)?;
    Some((label, value, scope_len + n1 + n2))
}

/// Length of the scope prefix of a posting item (by its namespace byte).
pub fn posting_scope_len(ns: u8) -> Option<usize> {
    match ns {
        NS_POSTING => Some(9),
        NS_DATE_POSTING => Some(13),
        _ => None,
    }
}

/// Posting items being built for a batch of registrations: ids of one (scope, label, value)
/// share one item, as merges would combine them anyway. Flat buffers, reused across batches:
/// no allocation per label.
#[derive(Debug, Default)]
pub struct PostingBatch {
    /// Hash of a group's key (bumped past collisions) → group.
    index: rustc_hash::FxHashMap<u64, u32>,
    /// Key bytes of every group, back to back.
    arena: Vec<u8>,
    /// (start, len) of each group's key in `arena`.
    groups: Vec<(u32, u32)>,
    /// (group, metric id) pairs.
    entries: Vec<(u32, u64)>,
    key: Vec<u8>,
}

impl PostingBatch {
    /// Adds `id` to the postings of every label in `scope`.
    pub fn add(&mut self, scope: Scope, t: Tenant, labels: &[Label<'_>], id: u64) {
        self.key.clear();
        match scope {
            Scope::Global => self.key.push(NS_POSTING),
            Scope::Day(d) => {
                self.key.push(NS_DATE_POSTING);
                self.key.extend_from_slice(&d.to_be_bytes());
            }
        }
        put_tenant(&mut self.key, t);
        let base = self.key.len();
        for l in labels {
            self.key.truncate(base);
            put_escaped(&mut self.key, l.name.as_bytes());
            put_escaped(&mut self.key, l.value.as_bytes());
            let g = self.group_of_key();
            self.entries.push((g, id));
        }
    }

    fn group_of_key(&mut self) -> u32 {
        let mut h = xxhash_rust::xxh3::xxh3_64(&self.key);
        loop {
            match self.index.get(&h) {
                Some(&g) => {
                    let (start, len) = self.groups[g as usize];
                    if self.arena[start as usize..(start + len) as usize] == self.key[..] {
                        return g;
                    }
                    h = h.wrapping_add(1); // a 64-bit collision: probe on
                }
                None => {
                    let g = self.groups.len() as u32;
                    self.groups
                        .push((self.arena.len() as u32, self.key.len() as u32));
                    self.arena.extend_from_slice(&self.key);
                    self.index.insert(h, g);
                    return g;
                }
            }
        }
    }

    /// Appends one item per (scope, label, value) (more past [`MAX_IDS_PER_POSTING_ITEM`]
    /// ids) with the ids ascending, in key order, and empties the batch.
    pub fn drain_into(&mut self, out: &mut ItemsByNs) {
        self.entries.sort_unstable();
        self.entries.dedup();
        // Where each group's ids start in `entries`.
        let mut starts = vec![0u32; self.groups.len() + 1];
        for &(g, _) in &self.entries {
            starts[g as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let key = |g: u32| {
            let (start, len) = self.groups[g as usize];
            &self.arena[start as usize..(start + len) as usize]
        };
        let mut order: Vec<u32> = (0..self.groups.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
        let mut buf = Vec::new();
        for g in order {
            let run = &self.entries[starts[g as usize] as usize..starts[g as usize + 1] as usize];
            for chunk in run.chunks(MAX_IDS_PER_POSTING_ITEM) {
                buf.clear();
                for (_, id) in chunk {
                    buf.extend_from_slice(&id.to_be_bytes());
                }
                out.push_parts(&[key(g), &buf]);
            }
        }
        self.index.clear();
        self.arena.clear();
        self.groups.clear();
        self.entries.clear();
    }
}

/// Items of a registration batch kept apart by namespace, so that only the runs that need it
/// are sorted and the result reaches the mergeset already in order.
#[derive(Debug, Default)]
pub struct ItemsByNs {
    runs: [Items; 7],
}

impl ItemsByNs {
    /// Appends an item built from parts (the first byte of the first part is its namespace).
    pub fn push_parts(&mut self, parts: &[&[u8]]) {
        let ns = parts
            .iter()
            .find_map(|p| p.first())
            .map_or(0, |&b| usize::from(b).min(6));
        self.runs[ns].push_parts(parts);
    }

    /// Appends an item.
    pub fn push(&mut self, item: &[u8]) {
        self.push_parts(&[item]);
    }

    /// All items, sorted and deduplicated, leaving the runs empty.
    pub fn take_sorted(&mut self) -> Items {
        let mut out = Items::new();
        for run in &mut self.runs {
            let run = std::mem::take(run);
            let sorted = if run.is_strictly_sorted() {
                run
            } else {
                run.sorted_dedup()
            };
            for item in sorted.iter() {
                out.push(item);
            }
        }
        out
    }
}

/// Appends the items that register a new series (its name and id mappings) and adds its
/// all-time postings to `postings`.
pub fn series_items(
    tsid: &crate::tsid::Tsid,
    name_raw: &[u8],
    labels: &[Label<'_>],
    out: &mut ItemsByNs,
    postings: &mut PostingBatch,
) {
    let (t, id) = (tsid.tenant, tsid.metric_id);
    out.push(&id_to_tsid_item(tsid));
    let idb = id.to_be_bytes();
    let mut k = name_to_id_prefix(t, name_raw);
    k.extend_from_slice(&idb);
    out.push(&k);
    out.push_parts(&[&id_to_name_prefix(t, id), name_raw]);
    postings.add(Scope::Global, t, labels, id);
}

/// Appends the item that registers a series for a day and adds its day postings.
pub fn day_items(
    day: u32,
    t: Tenant,
    labels: &[Label<'_>],
    id: u64,
    out: &mut ItemsByNs,
    postings: &mut PostingBatch,
) {
    out.push(&date_id_key(day, t, Some(id)));
    postings.add(Scope::Day(day), t, labels, id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_and_preserves_order() {
        let cases: [&[u8]; 7] = [b"", b"\x00", b"\x00\x00", b"\x01", b"\x02", b"a", b"a\x00b"];
        let mut enc: Vec<Vec<u8>> = Vec::new();
        for c in cases {
            let mut e = Vec::new();
            put_escaped(&mut e, c);
            assert_eq!(take_escaped(&e), Some((c.to_vec(), e.len())));
            enc.push(e);
        }
        let mut sorted = cases.to_vec();
        sorted.sort();
        let mut by_enc: Vec<usize> = (0..cases.len()).collect();
        by_enc.sort_by(|&a, &b| enc[a].cmp(&enc[b]));
        assert_eq!(by_enc.iter().map(|&i| cases[i]).collect::<Vec<_>>(), sorted);
        assert_eq!(take_escaped(b"ab"), None);
        assert_eq!(take_escaped(b"\x01\x07\x00"), None);
    }

    #[test]
    fn days_and_posting_parsing() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(day_of(-5), 0);
        let t = Tenant::new(1, 2);
        let mut by_ns = ItemsByNs::default();
        let labels = [
            Label {
                name: "__name__",
                value: "up",
            },
            Label {
                name: "job",
                value: "a\x00",
            },
        ];
        let mut postings = PostingBatch::default();
        day_items(7, t, &labels, 42, &mut by_ns, &mut postings);
        postings.drain_into(&mut by_ns);
        let items = by_ns.take_sorted();
        assert!(items.is_strictly_sorted());
        assert_eq!(items.len(), 3);
        assert_eq!(items.get(0), date_id_key(7, t, Some(42)).as_slice());
        let p = items.get(2);
        let (l, v, n) = split_posting(p, posting_scope_len(p[0]).unwrap()).unwrap();
        assert_eq!((l.as_slice(), v.as_slice()), (&b"job"[..], &b"a\x00"[..]));
        assert_eq!(posting_ids(p, n).collect::<Vec<_>>(), vec![42]);
        assert_eq!(trailing_id(&42u64.to_be_bytes()), Some(42));
        assert_eq!(trailing_id(b"short"), None);
        let tsid = |metric_id| crate::tsid::Tsid {
            tenant: t,
            metric_group_id: 3,
            job_id: 4,
            instance_id: 5,
            metric_id,
        };
        series_items(&tsid(10), b"raw2", &labels, &mut by_ns, &mut postings);
        series_items(&tsid(9), b"raw", &labels, &mut by_ns, &mut postings);
        postings.drain_into(&mut by_ns);
        let items = by_ns.take_sorted();
        assert!(items.is_strictly_sorted());
        // Three id/name items each, and one posting item per label holding both ids.
        assert_eq!(items.len(), 8);
        assert_eq!(parse_name_to_id(items.get(0)), Some((t, &b"raw"[..], 9)));
        assert_eq!(parse_name_to_id(&items.get(0)[..12]), None);
        let p = items.get(5);
        assert_eq!(
            posting_ids(p, p.len() - 16).collect::<Vec<_>>(),
            vec![9, 10]
        );
        assert_eq!(parse_id_to_tsid(items.get(7)), Some(tsid(10)));
    }
}
