//! The vmcluster binary.

fn main() {}
