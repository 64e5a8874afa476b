//! The protobuf wire format: a bounds-checked reader and the few writer functions the
//! remote_write encoder needs.
//!
//! The reader never indexes past its slice: every read checks the bytes left and reports a
//! [`WireError`] with the absolute offset in the message. Unknown fields of every wire type
//! are skipped, groups included (nested at most [`MAX_GROUP_DEPTH`] deep).

use std::fmt;

/// How deep unknown groups may nest before the reader gives up.
pub(crate) const MAX_GROUP_DEPTH: usize = 64;

/// The wire type in the low three bits of a field key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    Len,
    StartGroup,
    EndGroup,
    Fixed32,
}

impl WireType {
    fn name(self) -> &'static str {
        match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "fixed64",
            WireType::Len => "length-delimited",
            WireType::StartGroup => "start-group",
            WireType::EndGroup => "end-group",
            WireType::Fixed32 => "fixed32",
        }
    }
}

/// What went wrong reading the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    TruncatedVarint,
    VarintOverflow,
    Truncated {
        need: u64,
        left: usize,
    },
    BadWireType(u8),
    FieldZero,
    FieldTooLarge(u64),
    WrongWireType {
        field: u32,
        got: WireType,
        want: WireType,
    },
    UnexpectedEndGroup(u32),
    UnterminatedGroup(u32),
    GroupTooDeep,
    NotUtf8(&'static str),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Problem::TruncatedVarint => f.write_str("truncated varint"),
            Problem::VarintOverflow => f.write_str("varint longer than 10 bytes or over 64 bits"),
            Problem::Truncated { need, left } => {
                write!(f, "field needs {need} bytes but only {left} are left")
            }
            Problem::BadWireType(t) => write!(f, "invalid wire type {t}"),
            Problem::FieldZero => f.write_str("invalid field number 0"),
            Problem::FieldTooLarge(n) => write!(f, "field number {n} over 2^29-1"),
            Problem::WrongWireType { field, got, want } => write!(
                f,
                "field {field} has wire type {}, want {}",
                got.name(),
                want.name()
            ),
            Problem::UnexpectedEndGroup(n) => write!(f, "end-group for field {n} without a start"),
            Problem::UnterminatedGroup(n) => write!(f, "group of field {n} is not closed"),
            Problem::GroupTooDeep => {
                write!(f, "groups nested more than {MAX_GROUP_DEPTH} deep")
            }
            Problem::NotUtf8(what) => write!(f, "{what} is not valid UTF-8"),
        }
    }
}

/// A [`Problem`] at an absolute offset of the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WireErrorAt {
    pub problem: Problem,
    pub offset: usize,
}

/// A boxed [`WireErrorAt`]: one pointer, so the reader's results travel in registers on the hot
/// path; the box is only allocated when decoding fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WireError(Box<WireErrorAt>);

impl WireError {
    #[cold]
    #[inline(never)]
    pub(crate) fn new(problem: Problem, offset: usize) -> Self {
        WireError(Box::new(WireErrorAt { problem, offset }))
    }
}

impl std::ops::Deref for WireError {
    type Target = WireErrorAt;

    fn deref(&self) -> &WireErrorAt {
        &self.0
    }
}

/// Reads one message: a slice and the absolute offset of its first byte.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader of `buf`, whose first byte is at absolute offset `base`.
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Whether every byte was read.
    #[inline]
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The absolute offset of the next byte.
    #[inline]
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn err(&self, problem: Problem) -> WireError {
        WireError::new(problem, self.offset())
    }

    /// A base-128 varint of at most 10 bytes.
    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        // Fast path: one-byte varints are most keys, lengths and small values.
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        self.varint_slow()
    }

    fn varint_slow(&mut self) -> Result<u64, WireError> {
        let start = self.offset();
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(WireError::new(Problem::TruncatedVarint, start));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(WireError::new(Problem::VarintOverflow, start));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(WireError::new(Problem::VarintOverflow, start))
    }

    /// A field key: field number and wire type.
    #[inline]
    pub(crate) fn key(&mut self) -> Result<(u32, WireType), WireError> {
        let start = self.offset();
        let k = self.varint()?;
        let at = |problem| WireError::new(problem, start);
        let wt = match k & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            3 => WireType::StartGroup,
            4 => WireType::EndGroup,
            5 => WireType::Fixed32,
            t => return Err(at(Problem::BadWireType(t as u8))),
        };
        let field = k >> 3;
        if field == 0 {
            return Err(at(Problem::FieldZero));
        }
        if field > (1 << 29) - 1 {
            return Err(at(Problem::FieldTooLarge(field)));
        }
        Ok((field as u32, wt))
    }

    /// Fails unless `got` is `want` for `field`; the offset is the key's.
    pub(crate) fn expect(
        &self,
        field: u32,
        got: WireType,
        want: WireType,
        key_offset: usize,
    ) -> Result<(), WireError> {
        if got == want {
            return Ok(());
        }
        Err(WireError::new(
            Problem::WrongWireType { field, got, want },
            key_offset,
        ))
    }

    /// Eight little-endian bytes.
    #[inline]
    pub(crate) fn fixed64(&mut self) -> Result<u64, WireError> {
        let bytes = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(a))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], WireError> {
        let left = self.buf.len() - self.pos.min(self.buf.len());
        let end = usize::try_from(n)
            .ok()
            .filter(|&n| n <= left)
            .map(|n| self.pos + n);
        match end.and_then(|end| self.buf.get(self.pos..end).map(|s| (s, end))) {
            Some((s, end)) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(self.err(Problem::Truncated { need: n, left })),
        }
    }

    /// A length-delimited payload, as a reader positioned at its start.
    #[inline]
    pub(crate) fn len_delimited(&mut self) -> Result<Reader<'a>, WireError> {
        let n = self.varint()?;
        let base = self.offset();
        let buf = self.take(n)?;
        Ok(Reader { buf, pos: 0, base })
    }

    /// Marks the next `n` bytes (at most the rest) as read.
    pub(crate) fn skip_bytes(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Marks every byte as read.
    pub(crate) fn finish(&mut self) {
        self.pos = self.buf.len();
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// A length-delimited payload that must be UTF-8; `what` names it in the error. It is first
    /// sliced out of `whole`, the reader's bytes from its start when already known to be
    /// UTF-8, which saves a second check.
    #[inline]
    pub(crate) fn string_in(
        &mut self,
        whole: Option<&'a str>,
        what: &'static str,
    ) -> Result<&'a str, WireError> {
        let sub = self.len_delimited()?;
        let start = sub.base - self.base;
        if let Some(s) = whole.and_then(|w| w.get(start..start + sub.buf.len())) {
            return Ok(s);
        }
        std::str::from_utf8(sub.buf)
            .map_err(|e| WireError::new(Problem::NotUtf8(what), sub.base + e.valid_up_to()))
    }

    /// Skips the value of an unknown field whose key was just read.
    pub(crate) fn skip(&mut self, field: u32, wt: WireType) -> Result<(), WireError> {
        match wt {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.take(8).map(drop),
            WireType::Fixed32 => self.take(4).map(drop),
            WireType::Len => self.len_delimited().map(drop),
            WireType::StartGroup => self.skip_group(field),
            WireType::EndGroup => Err(self.err(Problem::UnexpectedEndGroup(field))),
        }
    }

    /// Skips to the end-group key matching `field`, through nested groups, without recursion.
    fn skip_group(&mut self, field: u32) -> Result<(), WireError> {
        let mut open = [0u32; MAX_GROUP_DEPTH];
        let mut depth = 1;
        open[0] = field;
        while depth > 0 {
            if self.at_end() {
                return Err(self.err(Problem::UnterminatedGroup(open[depth - 1])));
            }
            let key_at = self.offset();
            let (f, wt) = self.key()?;
            match wt {
                WireType::StartGroup => {
                    if depth == MAX_GROUP_DEPTH {
                        return Err(self.err(Problem::GroupTooDeep));
                    }
                    open[depth] = f;
                    depth += 1;
                }
                WireType::EndGroup => {
                    if open[depth - 1] != f {
                        return Err(WireError::new(Problem::UnexpectedEndGroup(f), key_at));
                    }
                    depth -= 1;
                }
                other => self.skip(f, other)?,
            }
        }
        Ok(())
    }
}

/// `bytes` as a `str` when they are UTF-8. ASCII, the usual case for a label message, takes a
/// fast path: `is_ascii` is a word-at-a-time check, where `str::from_utf8` pays for a general
/// decoder on every short string (it was a sixth of remote_write decoding time).
#[inline]
pub(crate) fn utf8(bytes: &[u8]) -> Option<&str> {
    if is_ascii(bytes) {
        // SAFETY: every byte is below 0x80 (`is_ascii_agrees_with_std` checks our word-wise
        // test against std's at every length and position), and any sequence of ASCII bytes
        // is valid UTF-8. The test `ascii_fast_path_agrees_with_from_utf8` checks this
        // agrees with std.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).ok()
}

/// Whether every byte is below 0x80. `<[u8]>::is_ascii` checks whole 64-byte blocks and then
/// the rest one byte at a time, which for label messages (tens to a few hundred bytes) is
/// most of them; this ORs eight bytes at a time without a branch.
#[inline]
pub(crate) fn is_ascii(bytes: &[u8]) -> bool {
    let words = bytes.chunks_exact(8);
    let mut high = words
        .remainder()
        .iter()
        .fold(0u64, |acc, &b| acc | u64::from(b));
    for w in words {
        if let Ok(w) = <[u8; 8]>::try_from(w) {
            high |= u64::from_ne_bytes(w);
        }
    }
    high & 0x8080_8080_8080_8080 == 0
}

/// Appends `v` as a base-128 varint.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes `put_varint` writes for `v`.
#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends a field key.
#[inline]
pub(crate) fn put_key(out: &mut Vec<u8>, field: u32, wt: WireType) {
    let t = match wt {
        WireType::Varint => 0,
        WireType::Fixed64 => 1,
        WireType::Len => 2,
        WireType::StartGroup => 3,
        WireType::EndGroup => 4,
        WireType::Fixed32 => 5,
    };
    put_varint(out, (u64::from(field) << 3) | t);
}

/// Appends a length-delimited field.
#[inline]
pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, WireType::Len);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Bytes of a length-delimited field with a one-byte key and a payload of `len` bytes.
#[inline]
pub(crate) fn bytes_field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_varint(input: &[u8], want: Result<u64, &str>) {
        let got = Reader::new(input, 10).varint();
        match (got, want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w),
            (Err(g), Err(w)) => assert_eq!(format!("{} at {}", g.problem, g.offset), w),
            (g, w) => panic!("got {g:?}, want {w:?}"),
        }
    }

    #[test]
    fn varints() {
        check_varint(&[0], Ok(0));
        check_varint(&[0x96, 0x01], Ok(150));
        check_varint(
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            Ok(u64::MAX),
        );
        check_varint(&[], Err("truncated varint at 10"));
        check_varint(&[0x80, 0x80], Err("truncated varint at 10"));
        check_varint(
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            Err("varint longer than 10 bytes or over 64 bits at 10"),
        );
        check_varint(
            &[0x80; 11],
            Err("varint longer than 10 bytes or over 64 bits at 10"),
        );
        for v in [0, 1, 127, 128, 16383, 16384, u64::MAX / 3, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            check_varint(&out, Ok(v));
        }
    }

    #[test]
    fn keys_and_lengths_are_checked() {
        let mut r = Reader::new(&[0x07], 0);
        assert_eq!(r.key().unwrap_err().problem, Problem::BadWireType(7));
        let mut r = Reader::new(&[0x02], 0);
        assert_eq!(r.key().unwrap_err().problem, Problem::FieldZero);
        let mut r = Reader::new(&[0x0a, 0x05, 1, 2], 0);
        r.key().unwrap();
        let e = r.len_delimited().unwrap_err();
        assert_eq!(e.problem, Problem::Truncated { need: 5, left: 2 });
        assert_eq!(e.offset, 2);
        let mut r = Reader::new(&[0x0a, 0x80, 0x80, 0x80, 0x80, 0x10], 0);
        r.key().unwrap();
        assert!(matches!(
            r.len_delimited().unwrap_err().problem,
            Problem::Truncated { .. }
        ));
    }

    #[test]
    fn is_ascii_agrees_with_std() {
        for len in 0..=40 {
            assert!(is_ascii(&vec![0x7f; len]));
            for pos in 0..len {
                for b in [0x00, 0x7f, 0x80, 0xc3, 0xff] {
                    let mut bytes = vec![b'a'; len];
                    bytes[pos] = b;
                    assert_eq!(is_ascii(&bytes), bytes.is_ascii(), "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn ascii_fast_path_agrees_with_from_utf8() {
        let cases: [&[u8]; 7] = [
            b"",
            b"abc",
            b"\x7f",
            b"\x80",
            "é".as_bytes(),
            b"a\xc3",
            &[0; 40],
        ];
        for bytes in cases {
            assert_eq!(utf8(bytes), std::str::from_utf8(bytes).ok(), "{bytes:?}");
        }
        for b in 0..=255u8 {
            let bytes = [b'a'; 17].iter().copied().chain([b]).collect::<Vec<_>>();
            assert_eq!(utf8(&bytes), std::str::from_utf8(&bytes).ok(), "{b}");
        }
    }

    #[test]
    fn groups_are_skipped_and_checked() {
        // field 5 start-group { field 6 varint 1, field 7 start-group {} end 7 } end 5, then 0x08 0x01.
        let msg = [0x2b, 0x30, 0x01, 0x3b, 0x3c, 0x2c, 0x08, 0x01];
        let mut r = Reader::new(&msg, 0);
        let (f, wt) = r.key().unwrap();
        r.skip(f, wt).unwrap();
        assert_eq!(r.key().unwrap(), (1, WireType::Varint));
        let mut r = Reader::new(&[0x2b, 0x30, 0x01], 0);
        let (f, wt) = r.key().unwrap();
        assert_eq!(
            r.skip(f, wt).unwrap_err().problem,
            Problem::UnterminatedGroup(5)
        );
        let mut r = Reader::new(&[0x2b, 0x34], 0);
        let (f, wt) = r.key().unwrap();
        assert_eq!(
            r.skip(f, wt).unwrap_err().problem,
            Problem::UnexpectedEndGroup(6)
        );
        let deep = [0x2b; 100];
        let mut r = Reader::new(&deep, 0);
        let (f, wt) = r.key().unwrap();
        assert_eq!(r.skip(f, wt).unwrap_err().problem, Problem::GroupTooDeep);
    }
}
