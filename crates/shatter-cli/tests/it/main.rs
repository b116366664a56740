//! Integration tests of the `shatter` binary: each runs the real program on real computation
//! (training, inspection, bad input; sweeps killed with SIGKILL and resumed, two sweeps on one
//! store; reproductions and reports; sweeps as Slurm job arrays).

#![allow(clippy::print_stderr)]

mod bad_input;
mod common;
mod construct;
mod device;
mod inspect;
mod krr;
mod report;
mod reproduce;
mod sensing;
mod settings;
mod slurm;
mod store;
mod sweep;
mod train;
