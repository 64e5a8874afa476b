//! Byte-level building blocks shared by every on-disk format: varints, a bounds-checked reader,
//! and the codecs for timestamps and values. Codecs are pure functions that append to a caller's
//! buffer and return the tag byte of what they chose.

pub mod compress;
pub mod decimal;
pub mod ints;
pub mod reader;
pub mod timestamps;
pub mod values;
pub mod varint;
pub mod xor;

pub use reader::{DecodeError, Reader};
