//! Byte-level building blocks shared by every on-disk format: varints and a bounds-checked reader.
//! Codecs for timestamps and values live beside them.

pub mod reader;
pub mod varint;

pub use reader::{DecodeError, Reader};
