//! XOR float codec (after Gorilla / Prometheus `chunkenc/xor.go`): the fallback for values that
//! are not exact decimals. Every bit pattern round-trips, NaN payloads included.
//!
//! Bitstream, most significant bit first: the first value as 64 raw bits; then per value, with
//! `x = bits ^ previous bits`:
//! - `0` when `x == 0`;
//! - `10` + the meaningful bits of `x` when they fit in the previous window (leading and
//!   trailing zero counts at least the previous ones);
//! - `11` + 5 bits leading-zero count (capped at 31) + 6 bits (significant bit count − 1) + the
//!   significant bits.
//!
//! The last byte is padded with zero bits.

use super::reader::DecodeError;

/// Appends the XOR encoding of `values` to `out`.
pub fn encode_xor(values: &[f64], out: &mut Vec<u8>) {
    let Some(first) = values.first() else {
        return;
    };
    let mut w = BitWriter { out, acc: 0, n: 0 };
    let mut prev = first.to_bits();
    w.write(prev, 64);
    let (mut lead, mut trail) = (u32::MAX, 0u32);
    for v in &values[1..] {
        let bits = v.to_bits();
        let x = bits ^ prev;
        prev = bits;
        if x == 0 {
            w.write(0, 1);
            continue;
        }
        let l = x.leading_zeros().min(31);
        let t = x.trailing_zeros();
        if lead != u32::MAX && l >= lead && t >= trail {
            w.write(0b10, 2);
            let sig = 64 - lead - trail;
            w.write(x >> trail, sig);
        } else {
            lead = l;
            trail = t;
            let sig = 64 - l - t;
            w.write(0b11, 2);
            w.write(u64::from(l), 5);
            w.write(u64::from(sig - 1), 6);
            w.write(x >> t, sig);
        }
    }
    w.finish();
}

/// Decodes `n` values from `src`, appending them to `out`.
pub fn decode_xor(src: &[u8], n: usize, out: &mut Vec<f64>) -> Result<(), DecodeError> {
    if n == 0 {
        return Ok(());
    }
    out.reserve(n);
    let mut r = BitReader { src, pos: 0 };
    let mut prev = r.read(64)?;
    out.push(f64::from_bits(prev));
    let (mut lead, mut trail) = (u32::MAX, 0u32);
    for _ in 1..n {
        if r.read(1)? == 1 {
            if r.read(1)? == 1 {
                let l = r.read(5)? as u32;
                let sig = r.read(6)? as u32 + 1;
                if l + sig > 64 {
                    return Err(r.err(format!("window of {l} leading and {sig} significant bits")));
                }
                lead = l;
                trail = 64 - l - sig;
            } else if lead == u32::MAX {
                return Err(r.err("reuse of a window before any was set".to_owned()));
            }
            let sig = 64 - lead - trail;
            prev ^= r.read(sig)? << trail;
        }
        out.push(f64::from_bits(prev));
    }
    if src.len() * 8 - r.pos >= 8 {
        return Err(r.err(format!("{} trailing bits", src.len() * 8 - r.pos)));
    }
    Ok(())
}

struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u128,
    n: u32,
}

impl BitWriter<'_> {
    #[inline]
    fn write(&mut self, v: u64, bits: u32) {
        debug_assert!(bits <= 64);
        let v = if bits == 64 {
            v
        } else {
            v & ((1u64 << bits) - 1)
        };
        self.acc = (self.acc << bits) | u128::from(v);
        self.n += bits;
        while self.n >= 8 {
            self.n -= 8;
            self.out.push((self.acc >> self.n) as u8);
        }
    }

    fn finish(self) {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
    }
}

struct BitReader<'a> {
    src: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn err(&self, problem: String) -> DecodeError {
        DecodeError {
            what: "xor bitstream",
            offset: self.pos / 8,
            problem,
        }
    }

    /// Reads the next `bits` (0 to 64) bits, most significant first, with one or two
    /// unaligned big-endian loads instead of a loop over bytes (the loop was a third of a query
    /// node's XOR decoding).
    #[inline(always)]
    fn read(&mut self, bits: u32) -> Result<u64, DecodeError> {
        debug_assert!(bits <= 64);
        let end = self.pos + bits as usize;
        let byte = self.pos / 8;
        // The common case: the 8 or 16 bytes from `byte` are all inside the input.
        if bits != 0 && byte + 16 <= self.src.len() {
            let skip = (self.pos % 8) as u32;
            self.pos = end;
            let word = |at: usize| {
                let mut eight = [0u8; 8];
                eight.copy_from_slice(&self.src[at..at + 8]);
                u64::from_be_bytes(eight)
            };
            return Ok(if skip + bits <= 64 {
                (word(byte) << skip) >> (64 - bits)
            } else {
                let wide = (u128::from(word(byte)) << 64) | u128::from(word(byte + 8));
                ((wide << skip) >> (128 - bits)) as u64
            });
        }
        self.read_near_end(bits)
    }

    /// [`Self::read`] within 16 bytes of the end of the input, or of 0 bits.
    #[cold]
    fn read_near_end(&mut self, bits: u32) -> Result<u64, DecodeError> {
        let available = self.src.len() * 8;
        let end = self.pos + bits as usize;
        if end > available {
            return Err(self.err(format!(
                "need {} more bits, input ended",
                end - available.max(self.pos)
            )));
        }
        let mut v = 0u64;
        for i in self.pos..end {
            v = (v << 1) | u64::from(self.src[i / 8] >> (7 - i % 8) & 1);
        }
        self.pos = end;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn check(values: &[f64], want_len: usize) {
        let mut out = Vec::new();
        encode_xor(values, &mut out);
        assert_eq!(out.len(), want_len);
        let mut back = Vec::new();
        decode_xor(&out, values.len(), &mut back).unwrap();
        let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(values));
    }

    #[test]
    fn special_values_round_trip_bit_exactly() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        check(&[], 0);
        check(&[1.0], 8);
        check(&[1.0; 17], 8 + 2);
        check(
            &[
                stale,
                f64::NAN,
                -0.0,
                0.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                1e-310,
                stale,
            ],
            43,
        );
        check(&[1.0 / 3.0, 2.0 / 3.0, 1.0 / 7.0], 19);
    }

    #[test]
    fn truncation_and_junk_are_errors() {
        let values = [0.1, 0.7, 1.0 / 3.0, 5e300];
        let mut out = Vec::new();
        encode_xor(&values, &mut out);
        let mut back = Vec::new();
        for cut in 0..out.len() {
            assert!(decode_xor(&out[..cut], 4, &mut back).is_err(), "cut {cut}");
        }
        out.push(0);
        assert!(decode_xor(&out, 4, &mut back).is_err());
        // "10" before any window was set.
        assert!(decode_xor(&[0, 0, 0, 0, 0, 0, 0, 0, 0x80], 2, &mut back).is_err());
    }

    /// Bit `i` of `src`, most significant first.
    fn naive_bit(src: &[u8], i: usize) -> u64 {
        u64::from(src[i / 8] >> (7 - i % 8) & 1)
    }

    proptest! {
        /// The word-at-a-time reader gives what reading bit by bit gives, for any widths at any
        /// offsets, and fails exactly when the input runs out.
        #[test]
        fn bit_reader_equals_reading_bit_by_bit(
            src in prop::collection::vec(any::<u8>(), 0..40),
            widths in prop::collection::vec(0u32..=64, 0..40),
        ) {
            let mut r = BitReader { src: &src, pos: 0 };
            let mut at = 0usize;
            for w in widths {
                let got = r.read(w);
                if at + w as usize > src.len() * 8 {
                    prop_assert!(got.is_err());
                    break;
                }
                let want = (at..at + w as usize).fold(0u64, |v, i| (v << 1) | naive_bit(&src, i));
                prop_assert_eq!(got.unwrap(), want);
                at += w as usize;
            }
        }

        #[test]
        fn round_trips_any_bits(bits in prop::collection::vec(any::<u64>(), 0..200)) {
            let values: Vec<f64> = bits.iter().map(|b| f64::from_bits(*b)).collect();
            let mut out = Vec::new();
            encode_xor(&values, &mut out);
            let mut back = Vec::new();
            decode_xor(&out, values.len(), &mut back).unwrap();
            let got: Vec<u64> = back.iter().map(|f| f.to_bits()).collect();
            prop_assert_eq!(got, bits);
        }
    }
}
