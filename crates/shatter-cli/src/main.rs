//! The `shatter` binary.
fn main() {}
