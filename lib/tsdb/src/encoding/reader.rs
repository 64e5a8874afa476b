//! One bounds-checked reader for untrusted bytes: every read either returns the value or a
//! [`DecodeError`] that says what was being read and at which offset. No ad-hoc slicing.

use thiserror::Error;

use super::varint::{get_uvarint, zigzag_decode};

/// A read past the end, or a malformed value, at a byte offset of the input.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("cannot read {what} at byte {offset}: {problem}")]
pub struct DecodeError {
    /// What was being read, e.g. `"block header"`.
    pub what: &'static str,
    /// Offset from the start of the reader's input.
    pub offset: usize,
    /// What went wrong, e.g. `"need 8 bytes, 3 left"`.
    pub problem: String,
}

/// A cursor over a byte slice that never reads out of bounds.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    src: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the first byte of `src`.
    pub fn new(src: &'a [u8]) -> Self {
        Self { src, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.src.len() - self.pos
    }

    /// Whether every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.src[self.pos..]
    }

    fn err(&self, what: &'static str, problem: String) -> DecodeError {
        DecodeError {
            what,
            offset: self.pos,
            problem,
        }
    }

    /// The error of a read of `n` bytes past the end; out of line, so that the reads that
    /// succeed stay small enough to inline into the decoders of other crates.
    #[cold]
    #[inline(never)]
    fn short(&self, n: usize, what: &'static str) -> DecodeError {
        self.err(what, format!("need {n} bytes, {} left", self.remaining()))
    }

    /// The error of a varint that is truncated or too long.
    #[cold]
    #[inline(never)]
    fn bad_varint(&self, what: &'static str) -> DecodeError {
        self.err(what, "truncated or overlong varint".to_owned())
    }

    /// Reads `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.short(n, what));
        }
        let out = &self.src[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a fixed-size array.
    #[inline]
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let b = self.bytes(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a little-endian `u32`.
    #[inline]
    pub fn u32_le(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian `u64`.
    #[inline]
    pub fn u64_le(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian `i64`.
    pub fn i64_le(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    /// Reads a big-endian `u32`.
    pub fn u32_be(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64_be(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Reads an unsigned LEB128 varint.
    #[inline]
    pub fn uvarint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        match get_uvarint(self.rest()) {
            Some((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            None => Err(self.bad_varint(what)),
        }
    }

    /// Reads a zigzag varint.
    #[inline]
    pub fn varint(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        self.uvarint(what).map(zigzag_decode)
    }

    /// Reads `n` zigzag varints, passing each to `f` in order. The same bytes and errors as `n`
    /// calls of [`Reader::varint`], in one loop whose one-byte case (most deltas of deltas)
    /// does no call and no bounds check beyond the one load.
    #[inline]
    pub fn varints(
        &mut self,
        n: usize,
        what: &'static str,
        mut f: impl FnMut(i64),
    ) -> Result<(), DecodeError> {
        let src = self.rest();
        let mut pos = 0;
        for _ in 0..n {
            if let Some(&b) = src.get(pos)
                && b < 0x80
            {
                pos += 1;
                f(zigzag_decode(u64::from(b)));
                continue;
            }
            match get_uvarint(src.get(pos..).unwrap_or_default()) {
                Some((v, k)) => {
                    pos += k;
                    f(zigzag_decode(v));
                }
                None => {
                    self.pos += pos;
                    return Err(self.bad_varint(what));
                }
            }
        }
        self.pos += pos;
        Ok(())
    }

    /// Reads an unsigned varint that must fit in `usize` and not exceed `max`: for lengths and
    /// counts, so that a hostile length never drives an allocation.
    #[inline]
    pub fn len(&mut self, max: usize, what: &'static str) -> Result<usize, DecodeError> {
        let start = self.pos;
        let v = self.uvarint(what)?;
        match usize::try_from(v) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(too_large(what, start, v, max)),
        }
    }

    /// Reads a varint length, then that many bytes.
    #[inline]
    pub fn len_prefixed(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.len(self.remaining(), what)?;
        self.bytes(n, what)
    }
}

/// The error of a length or count over its limit.
#[cold]
#[inline(never)]
fn too_large(what: &'static str, offset: usize, v: u64, max: usize) -> DecodeError {
    DecodeError {
        what,
        offset,
        problem: format!("{v} exceeds limit {max}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::varint::{put_uvarint, put_varint};

    #[test]
    fn reads_in_bounds_and_reports_where_it_stopped() {
        let mut buf = vec![7u8];
        buf.extend_from_slice(&0xdead_beef_u32.to_le_bytes());
        put_varint(&mut buf, -5);
        put_uvarint(&mut buf, 3);
        buf.extend_from_slice(b"abc");
        let mut r = Reader::new(&buf);
        assert_eq!(r.u8("tag").unwrap(), 7);
        assert_eq!(r.u32_le("word").unwrap(), 0xdead_beef);
        assert_eq!(r.varint("delta").unwrap(), -5);
        assert_eq!(r.len_prefixed("name").unwrap(), b"abc");
        assert!(r.is_empty());
        let e = r.u64_le("count").unwrap_err();
        assert_eq!(e.offset, buf.len());
        assert_eq!(
            e.to_string(),
            format!(
                "cannot read count at byte {}: need 8 bytes, 0 left",
                buf.len()
            )
        );
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocation() {
        let mut buf = Vec::new();
        put_uvarint(&mut buf, u64::MAX);
        let mut r = Reader::new(&buf);
        let e = r.len(1 << 20, "item count").unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(e.problem.contains("exceeds limit"), "{e}");
        let mut r = Reader::new(&[5, 1, 2]);
        assert!(r.len_prefixed("name").is_err());
    }

    proptest::proptest! {
        /// `varints` reads what repeated `varint` calls read, stops where they stop, and fails
        /// at the same offset on truncated or overlong input.
        #[test]
        fn varints_equal_repeated_varint(
            vals in proptest::collection::vec(proptest::prelude::any::<i64>(), 0..64),
            small in proptest::collection::vec(-64i64..64, 0..64),
            cut in 0usize..700,
            extra in 0usize..4,
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..16),
        ) {
            let mut buf = Vec::new();
            for v in vals.iter().chain(&small) {
                put_varint(&mut buf, *v);
            }
            let full = buf.len();
            buf.extend_from_slice(&junk);
            buf.truncate(cut.min(buf.len()).max(full.min(cut)));
            let n = vals.len() + small.len() + extra;
            let mut one = Reader::new(&buf);
            let mut want = Vec::new();
            let want_res = (0..n).try_for_each(|_| one.varint("x").map(|v| want.push(v)));
            let mut bulk = Reader::new(&buf);
            let mut got = Vec::new();
            let got_res = bulk.varints(n, "x", |v| got.push(v));
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(got_res.map_err(|e| e.offset), want_res.map_err(|e| e.offset));
            proptest::prop_assert_eq!(bulk.position(), one.position());
        }
    }
}
