//! The vmstorage binary.

fn main() {}
