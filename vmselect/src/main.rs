//! The vmselect binary.

fn main() {}
