//! The index's [`PrepareBlock`] hook: during merges it combines the posting items of one
//! (label, value) into items carrying many metric ids, and purges items of deleted series.
//! It keeps the hook's laws: the first and last items of a block pass unchanged, and so does
//! every item whose posting prefix equals theirs (combining those could break the order
//! across blocks); everything it writes stays strictly increasing.

use std::sync::Arc;

use crate::mergeset::{Items, PrepareBlock};

use super::deletes::DeletedIds;
use super::keys::{
    self, MAX_IDS_PER_POSTING_ITEM, NS_DATE_ID, NS_ID_TO_NAME, NS_ID_TO_TSID, NS_NAME_TO_ID,
    posting_ids, posting_scope_len,
};

/// The hook for an index whose deleted set is `deleted`.
pub fn hook(deleted: Arc<DeletedIds>) -> PrepareBlock {
    Arc::new(move |input: &Items, out: &mut Items| prepare(input, &deleted, out))
}

/// Length of the `(label, value)` prefix of a posting item, if it is one: up to the second
/// 00 after the scope (escaped strings hold no 00).
fn posting_prefix_len(item: &[u8]) -> Option<usize> {
    let scope = posting_scope_len(*item.first()?)?;
    let rest = item.get(scope..)?;
    let a = rest.iter().position(|&b| b == 0)?;
    let b = rest.get(a + 1..)?.iter().position(|&b| b == 0)?;
    Some(scope + a + 1 + b + 1)
}

/// The metric id a non-posting item belongs to.
fn owner_id(item: &[u8]) -> Option<u64> {
    match *item.first()? {
        NS_NAME_TO_ID => keys::trailing_id(item),
        NS_ID_TO_NAME | NS_ID_TO_TSID => keys::u64_at(item, 9),
        NS_DATE_ID => keys::u64_at(item, 13),
        _ => None,
    }
}

fn prepare(input: &Items, deleted: &DeletedIds, out: &mut Items) {
    let n = input.len();
    if n <= 2 {
        for item in input.iter() {
            out.push(item);
        }
        return;
    }
    let del = (!deleted.is_empty()).then(|| deleted.snapshot());
    let is_deleted = |id: u64| del.as_ref().is_some_and(|d| d.contains(&id));
    let edge_prefix = |item: &[u8]| posting_prefix_len(item).map(|l| item[..l].to_vec());
    let first_prefix = edge_prefix(input.get(0));
    let last_prefix = edge_prefix(input.get(n - 1));
    out.push(input.get(0));
    let mut ids: Vec<u64> = Vec::new();
    let mut i = 1;
    while i < n - 1 {
        let item = input.get(i);
        let Some(plen) = posting_prefix_len(item) else {
            if !owner_id(item).is_some_and(is_deleted) {
                out.push(item);
            }
            i += 1;
            continue;
        };
        let prefix = &item[..plen];
        if first_prefix.as_deref() == Some(prefix) || last_prefix.as_deref() == Some(prefix) {
            out.push(item);
            i += 1;
            continue;
        }
        // A run of items with this prefix, all in the middle of the block.
        ids.clear();
        let mut j = i;
        while j < n - 1
            && input.get(j).starts_with(prefix)
            && posting_prefix_len(input.get(j)) == Some(plen)
        {
            ids.extend(posting_ids(input.get(j), plen));
            j += 1;
        }
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|&id| !is_deleted(id));
        for chunk in ids.chunks(MAX_IDS_PER_POSTING_ITEM) {
            let mut buf = Vec::with_capacity(plen + chunk.len() * 8);
            buf.extend_from_slice(prefix);
            for id in chunk {
                buf.extend_from_slice(&id.to_be_bytes());
            }
            out.push(&buf);
        }
        i = j;
    }
    out.push(input.get(n - 1));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::keys::{Scope, posting_scope_prefix, put_escaped};
    use crate::tsid::Tenant;

    fn posting(label: &str, value: &str, ids: &[u64]) -> Vec<u8> {
        let mut k = posting_scope_prefix(Scope::Global, Tenant::new(0, 0));
        put_escaped(&mut k, label.as_bytes());
        put_escaped(&mut k, value.as_bytes());
        for id in ids {
            k.extend_from_slice(&id.to_be_bytes());
        }
        k
    }

    #[test]
    fn posting_prefix_len_agrees_with_split_posting() {
        for (l, v) in [("a", "1"), ("", ""), ("a\u{0}b", "\u{1}")] {
            let p = posting(l, v, &[5, 6]);
            let want = crate::index::keys::split_posting(&p, 9).map(|x| x.2);
            assert_eq!(posting_prefix_len(&p), want);
            assert_eq!(want, Some(p.len() - 16));
        }
        assert_eq!(posting_prefix_len(b"\x01abc"), None);
    }

    #[test]
    fn combines_middle_runs_purges_deleted_and_keeps_the_edges() {
        let dir = tempfile::tempdir().unwrap();
        let deleted = Arc::new(DeletedIds::open(&dir.path().join("d")).unwrap());
        deleted.add(&[4]).unwrap();
        let mut v = [
            posting("a", "1", &[1]),
            posting("a", "1", &[2]),
            posting("b", "x", &[3, 9]),
            posting("b", "x", &[4]),
            posting("b", "x", &[5]),
            posting("c", "y", &[4]),
            posting("d", "z", &[1]),
            posting("d", "z", &[2]),
        ];
        v.sort();
        let input: Items = v.iter().map(|x| x.as_slice()).collect();
        let mut out = Items::new();
        hook(Arc::clone(&deleted))(&input, &mut out);
        let got: Vec<Vec<u8>> = out.iter().map(|x| x.to_vec()).collect();
        assert_eq!(
            got,
            vec![
                posting("a", "1", &[1]),
                posting("a", "1", &[2]), // same prefix as the first item: unchanged
                posting("b", "x", &[3, 5, 9]),
                // c=y lost its only id
                posting("d", "z", &[1]), // same prefix as the last item: unchanged
                posting("d", "z", &[2]),
            ]
        );
        assert!(out.is_sorted());
    }
}
