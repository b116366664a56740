//! Integration tests of the `shatter` binary: each runs the real program on real computation.

mod bad_input;
mod common;
mod inspect;
mod train;
