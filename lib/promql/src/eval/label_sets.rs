//! Grouping series by a subset of their labels (aggregation groups, vector matching
//! signatures) without building a label set per series: each distinct subset gets a dense id.

use rustc_hash::FxHashMap;

use crate::labels::{LabelRef, Labels};

/// Dense ids for the distinct label subsets seen so far. A series costs one pass over its labels
/// (copying the encoded items it keeps into a reused key) and one hash lookup; a label set is
/// built only for a new subset.
#[derive(Default)]
pub(crate) struct LabelSets {
    index: FxHashMap<Labels, usize>,
    key: String,
    /// The subsets, by id.
    pub sets: Vec<Labels>,
}

impl LabelSets {
    /// Room for `n` subsets without rehashing.
    pub fn with_capacity(n: usize) -> Self {
        LabelSets {
            index: FxHashMap::with_capacity_and_hasher(n, Default::default()),
            key: String::new(),
            sets: Vec::with_capacity(n),
        }
    }

    /// The id of the subset of `labels` that `keep` selects (new ids count up from 0), and
    /// whether it is new.
    pub fn id(&mut self, labels: &Labels, keep: impl Fn(LabelRef<'_>) -> bool) -> (usize, bool) {
        self.key.clear();
        labels.encode_filtered(keep, &mut self.key);
        if let Some(&id) = self.index.get(self.key.as_str()) {
            return (id, false);
        }
        let id = self.sets.len();
        let set = Labels::from_encoded(&self.key);
        self.index.insert(set.clone(), id);
        self.sets.push(set);
        (id, true)
    }

    /// The id of `labels`' subset if it was seen, without adding it.
    pub fn get(&mut self, labels: &Labels, keep: impl Fn(LabelRef<'_>) -> bool) -> Option<usize> {
        self.key.clear();
        labels.encode_filtered(keep, &mut self.key);
        self.index.get(self.key.as_str()).copied()
    }

    /// Number of distinct subsets.
    pub fn len(&self) -> usize {
        self.sets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_subset_same_id() {
        let mut g = LabelSets::default();
        let by_job = |l: LabelRef<'_>| l.name == "job";
        let a = Labels::from_pairs(&[("job", "a"), ("i", "1")]);
        let b = Labels::from_pairs(&[("job", "a"), ("i", "2")]);
        let c = Labels::from_pairs(&[("job", "b")]);
        assert_eq!(g.id(&a, by_job), (0, true));
        assert_eq!(g.id(&b, by_job), (0, false));
        assert_eq!(g.id(&c, by_job), (1, true));
        assert_eq!(g.sets[1], Labels::from_pairs(&[("job", "b")]));
        // Name and value boundaries are part of the key.
        let d = Labels::from_pairs(&[("ab", "c")]);
        let e = Labels::from_pairs(&[("a", "bc")]);
        let all = |_: LabelRef<'_>| true;
        assert_ne!(g.id(&d, all).0, g.id(&e, all).0);
        assert_eq!(g.get(&e, all), Some(3));
        assert_eq!(g.get(&c, all), Some(1));
        assert_eq!(g.len(), 4);
    }
}
