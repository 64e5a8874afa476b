//! How a query walks each series' samples step by step: windows whose ends only move forward,
//! so a whole range query reads each series once, with the next move guessed from the last one.

/// The windows of one series at successive steps, as sample index ranges `lo..hi` with
/// timestamps in `(start, end]` (`[start, end]` with Prometheus 2 windows). Both ends only move
/// forward, so a whole query walks each series once.
pub(super) struct WindowWalk<'t> {
    ts: &'t [i64],
    /// Timestamps at or below `start - open` are left of a window.
    open: i64,
    lo: usize,
    hi: usize,
    /// How far each end moved at the previous step: on a regular scrape grid, how far it moves
    /// at this one.
    dlo: usize,
    dhi: usize,
}

impl<'t> WindowWalk<'t> {
    pub fn new(ts: &'t [i64], closed: bool) -> Self {
        WindowWalk {
            ts,
            // Timestamps are whole milliseconds: `(start, end]` is `[start + 1, end]`.
            open: i64::from(!closed),
            lo: 0,
            hi: 0,
            dlo: 0,
            dhi: 0,
        }
    }

    /// The window `(start, end]`; `start` and `end` must not decrease between calls.
    #[inline(always)]
    pub fn advance(&mut self, start: i64, end: i64) -> (usize, usize) {
        let hi = skip_while_le(self.ts, self.hi, self.ts.len(), end, self.dhi);
        self.dhi = hi - self.hi;
        self.hi = hi;
        let left = start.saturating_add(self.open).saturating_sub(1);
        let lo = skip_while_le(self.ts, self.lo, hi, left, self.dlo);
        self.dlo = lo - self.lo;
        self.lo = lo;
        (lo, hi)
    }
}

/// The first index in `from..to` whose timestamp is above `t` (`to` if none); `ts` is sorted.
/// Tries `from + guess` first with two compares (the move of the previous step, right on a
/// regular grid, where a per-sample loop would end on a mispredicted branch), then walks.
#[inline(always)]
pub(super) fn skip_while_le(ts: &[i64], from: usize, to: usize, t: i64, guess: usize) -> usize {
    let to = to.min(ts.len());
    let g = (from + guess).min(to);
    // `g` is the answer when everything in from..g is at or below `t` (by order, the last one
    // is) and `g` is the end or above `t`.
    let left_ok = g == from || ts[g - 1] <= t;
    if left_ok && (g == to || ts[g] > t) {
        return g;
    }
    let mut i = if left_ok { g } else { from };
    while i < to && ts[i] <= t {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// The forward-only window walk finds what two binary searches find.
        #[test]
        fn window_walk_matches_binary_search(
            gaps in prop::collection::vec(prop_oneof![1i64..5, 1i64..40_000], 0..100),
            first in -10_000i64..10_000,
            start in -100_000i64..100_000,
            step in 1i64..100_000,
            range in 0i64..400_000,
            n in 1usize..60,
            closed in any::<bool>(),
            regular in any::<bool>(),
        ) {
            // A regular grid (every gap the first one) is where the walk's guesses hit.
            let gap = |i: usize| if regular { gaps[0] } else { gaps[i] };
            let ts: Vec<i64> = (0..gaps.len()).scan(first, |t, i| { *t += gap(i); Some(*t) }).collect();
            let mut walk = WindowWalk::new(&ts, closed);
            for i in 0..n {
                let end = start + i as i64 * step;
                let lo_t = end - range;
                let want_lo = if closed {
                    ts.partition_point(|&t| t < lo_t)
                } else {
                    ts.partition_point(|&t| t <= lo_t)
                };
                let want_hi = ts.partition_point(|&t| t <= end);
                let (lo, hi) = walk.advance(lo_t, end);
                prop_assert_eq!((lo, hi), (want_lo.min(want_hi), want_hi));
            }
        }

    }
}
