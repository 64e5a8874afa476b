//! Sorted sets of metric ids as seekable iterators, combined with [`intersect`], [`union`] and
//! [`difference`], in the manner of Prometheus's postings.
//!
//! Laws every [`Postings`] keeps (those of Prometheus's postings):
//! 1. A new iterator is unpositioned. `next` moves to the next id and returns it; the ids it
//!    returns strictly increase, then `None` forever.
//! 2. `seek(x)` moves to the first id `>= x` and returns it, but never moves backwards: if the
//!    current id is already `>= x` it stays there. Seeking does not consume: `next` afterwards
//!    returns the id after it.

/// A sorted set of ids read in order.
pub trait Postings {
    /// Moves to the next id.
    fn next(&mut self) -> Option<u64>;
    /// Moves to the first id `>= target` (or stays, see the laws).
    fn seek(&mut self, target: u64) -> Option<u64>;
}

/// A boxed postings iterator.
pub type BoxPostings<'a> = Box<dyn Postings + 'a>;

/// Postings over a sorted, distinct slice.
#[derive(Debug, Clone)]
pub struct SlicePostings<'a> {
    ids: &'a [u64],
    pos: usize,
    started: bool,
}

impl<'a> SlicePostings<'a> {
    /// Iterates `ids`, which must be sorted and distinct.
    pub fn new(ids: &'a [u64]) -> Self {
        Self {
            ids,
            pos: 0,
            started: false,
        }
    }
}

impl Postings for SlicePostings<'_> {
    fn next(&mut self) -> Option<u64> {
        if self.started {
            self.pos = (self.pos + 1).min(self.ids.len());
        }
        self.started = true;
        self.ids.get(self.pos).copied()
    }

    fn seek(&mut self, target: u64) -> Option<u64> {
        self.started = true;
        let rest = self.ids.get(self.pos..)?;
        if rest.first().is_some_and(|&v| v >= target) {
            return rest.first().copied();
        }
        // Gallop: the target is often close by.
        let mut hi = 1;
        while hi < rest.len() && rest[hi] < target {
            hi *= 2;
        }
        let lo = hi / 2;
        let end = hi.min(rest.len());
        self.pos += lo + rest[lo..end].partition_point(|&x| x < target);
        self.ids.get(self.pos).copied()
    }
}

struct Intersect<'a> {
    its: Vec<BoxPostings<'a>>,
    cur: Option<u64>,
}

impl Postings for Intersect<'_> {
    fn next(&mut self) -> Option<u64> {
        let first = self.its.first_mut()?.next();
        self.align(first)
    }

    fn seek(&mut self, target: u64) -> Option<u64> {
        if self.cur.is_some_and(|c| c >= target) {
            return self.cur;
        }
        let first = self.its.first_mut()?.seek(target);
        self.align(first)
    }
}

impl Intersect<'_> {
    /// Finds the first id `>= candidate` present in every iterator, where the first iterator
    /// stands at `candidate`.
    fn align(&mut self, candidate: Option<u64>) -> Option<u64> {
        let mut c = candidate;
        'outer: while let Some(cand) = c {
            for i in 1..self.its.len() {
                match self.its[i].seek(cand) {
                    None => {
                        c = None;
                        break 'outer;
                    }
                    Some(v) if v > cand => {
                        c = self.its[0].seek(v);
                        continue 'outer;
                    }
                    Some(_) => {}
                }
            }
            break;
        }
        self.cur = c;
        c
    }
}

/// Ids present in every input. No inputs: the empty set.
pub fn intersect<'a>(its: Vec<BoxPostings<'a>>) -> BoxPostings<'a> {
    if its.is_empty() {
        return Box::new(SlicePostings::new(&[]));
    }
    Box::new(Intersect { its, cur: None })
}

struct Union<'a> {
    its: Vec<BoxPostings<'a>>,
    heads: Vec<Option<u64>>,
    started: bool,
    cur: Option<u64>,
}

impl Postings for Union<'_> {
    fn next(&mut self) -> Option<u64> {
        if !self.started {
            self.started = true;
            self.heads = self.its.iter_mut().map(|it| it.next()).collect();
        } else if let Some(c) = self.cur {
            for (it, h) in self.its.iter_mut().zip(self.heads.iter_mut()) {
                if *h == Some(c) {
                    *h = it.next();
                }
            }
        } else {
            return None;
        }
        self.cur = self.heads.iter().flatten().min().copied();
        self.cur
    }

    fn seek(&mut self, target: u64) -> Option<u64> {
        if self.cur.is_some_and(|c| c >= target) {
            return self.cur;
        }
        if self.started && self.cur.is_none() {
            return None;
        }
        self.started = true;
        self.heads = self.its.iter_mut().map(|it| it.seek(target)).collect();
        self.cur = self.heads.iter().flatten().min().copied();
        self.cur
    }
}

/// Ids present in any input.
pub fn union<'a>(its: Vec<BoxPostings<'a>>) -> BoxPostings<'a> {
    Box::new(Union {
        its,
        heads: Vec::new(),
        started: false,
        cur: None,
    })
}

struct Difference<'a> {
    base: BoxPostings<'a>,
    minus: BoxPostings<'a>,
    cur: Option<u64>,
}

impl Difference<'_> {
    fn keep(&mut self, mut v: Option<u64>) -> Option<u64> {
        while let Some(c) = v {
            if self.minus.seek(c) != Some(c) {
                break;
            }
            v = self.base.next();
        }
        self.cur = v;
        v
    }
}

impl Postings for Difference<'_> {
    fn next(&mut self) -> Option<u64> {
        let v = self.base.next();
        self.keep(v)
    }

    fn seek(&mut self, target: u64) -> Option<u64> {
        if self.cur.is_some_and(|c| c >= target) {
            return self.cur;
        }
        let v = self.base.seek(target);
        self.keep(v)
    }
}

/// Ids of `base` not in `minus`.
pub fn difference<'a>(base: BoxPostings<'a>, minus: BoxPostings<'a>) -> BoxPostings<'a> {
    Box::new(Difference {
        base,
        minus,
        cur: None,
    })
}

/// Collects the rest of `p`.
pub fn collect(p: &mut dyn Postings) -> Vec<u64> {
    let mut out = Vec::new();
    while let Some(v) = p.next() {
        out.push(v);
    }
    out
}

/// Sorts and deduplicates ids into a set.
pub fn normalize(ids: &mut Vec<u64>) {
    ids.sort_unstable();
    ids.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn set() -> impl Strategy<Value = Vec<u64>> {
        proptest::collection::btree_set(0u64..64, 0..24).prop_map(|s| s.into_iter().collect())
    }

    fn b(v: &[u64]) -> BoxPostings<'_> {
        Box::new(SlicePostings::new(v))
    }

    #[test]
    fn small_cases() {
        #[track_caller]
        fn check(mut p: BoxPostings<'_>, want: &[u64]) {
            assert_eq!(collect(&mut *p), want);
        }
        check(
            intersect(vec![b(&[1, 3, 5]), b(&[3, 4, 5]), b(&[3, 5])]),
            &[3, 5],
        );
        check(intersect(vec![]), &[]);
        check(union(vec![b(&[1, 4]), b(&[2, 4]), b(&[])]), &[1, 2, 4]);
        check(difference(b(&[1, 2, 3, 4]), b(&[2, 4, 9])), &[1, 3]);
        let mut s = SlicePostings::new(&[1, 5, 9, 13]);
        assert_eq!(s.seek(6), Some(9));
        assert_eq!(s.seek(2), Some(9), "seek never moves backwards");
        assert_eq!(s.next(), Some(13));
        assert_eq!(s.next(), None);
    }

    proptest! {
        #[test]
        fn combinators_equal_set_algebra(a in set(), b2 in set(), c in set(), seeks in proptest::collection::vec(0u64..70, 0..6)) {
            let (sa, sb, sc): (BTreeSet<u64>, BTreeSet<u64>, BTreeSet<u64>) =
                (a.iter().copied().collect(), b2.iter().copied().collect(), c.iter().copied().collect());
            let want_i: Vec<u64> = sa.iter().filter(|x| sb.contains(x) && sc.contains(x)).copied().collect();
            let want_u: Vec<u64> = sa.union(&sb).chain(sc.iter()).copied().collect::<BTreeSet<_>>().into_iter().collect();
            let want_d: Vec<u64> = sa.difference(&sb).copied().collect();
            prop_assert_eq!(collect(&mut *intersect(vec![b(&a), b(&b2), b(&c)])), want_i.clone());
            prop_assert_eq!(collect(&mut *union(vec![b(&a), b(&b2), b(&c)])), want_u.clone());
            prop_assert_eq!(collect(&mut *difference(b(&a), b(&b2))), want_d.clone());
            // Seeking then draining yields the suffix of each result.
            for (mk, want) in [(0, &want_i), (1, &want_u), (2, &want_d)] {
                let mut p = match mk {
                    0 => intersect(vec![b(&a), b(&b2), b(&c)]),
                    1 => union(vec![b(&a), b(&b2), b(&c)]),
                    _ => difference(b(&a), b(&b2)),
                };
                let mut floor = 0u64;
                for &t in &seeks {
                    let got = p.seek(t);
                    let expect = want.iter().copied().find(|&x| x >= t.max(floor));
                    prop_assert_eq!(got, expect);
                    match got { Some(v) => floor = v, None => break }
                    // `next` moves past the current id.
                    let got = p.next();
                    prop_assert_eq!(got, want.iter().copied().find(|&x| x > floor));
                    match got { Some(v) => floor = v, None => break }
                }
            }
        }
    }
}
