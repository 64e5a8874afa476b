//! The vminsert binary.

fn main() {}
