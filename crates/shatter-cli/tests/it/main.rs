<<<<<<< HEAD
//! Integration tests of the `shatter` binary: each runs the real program on real computation.

mod bad_input;
mod common;
mod inspect;
mod train;
=======
//! Integration tests of the `shatter` binary: sweeps killed with SIGKILL and resumed, two
//! sweeps on one store, usage errors and their exit codes.

#![allow(clippy::print_stderr)]

mod sweep;
>>>>>>> sweep
