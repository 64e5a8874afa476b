//! Asking the CPU for the next series' samples and labels while the current one is worked on:
//! a query reads each series once, front to back, so every series starts with cache misses the
//! hardware prefetcher cannot foresee (the arrays and label sets of consecutive series are
//! unrelated allocations).

/// Bytes per cache line on the CPUs we run on.
const LINE: usize = 64;

/// Hints that `data` will be read soon. Never faults and changes nothing observable.
#[inline]
pub(crate) fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let bytes = std::mem::size_of_val(data);
        let base = data.as_ptr().cast::<i8>();
        let mut off = 0;
        while off < bytes {
            // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is part of the
            // target's baseline features), and a prefetch is only a hint: it never faults and
            // never changes memory, whatever the address. `base + off` stays inside `data`
            // (`wrapping_add` keeps even the pointer arithmetic free of preconditions).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(off)) };
            off += LINE;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_reads_nothing_and_changes_nothing() {
        let empty: [f64; 0] = [];
        prefetch(&empty);
        let one = [1.5f64];
        prefetch(&one);
        let ts: Vec<i64> = (0..10_000).collect();
        prefetch(&ts);
        prefetch(&ts[9_999..]);
        assert_eq!(one, [1.5]);
        assert_eq!(ts.iter().sum::<i64>(), 49_995_000);
    }
}
