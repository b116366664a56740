//! The `shatter` binary: parses arguments, dispatches to `cmd/*`, maps errors to exit codes
//! (2 for usage errors, 1 for failures) and prints them as `error: ...` with a `hint:` when there
//! is a fix.

#![allow(clippy::print_stderr, clippy::print_stdout)]

mod args;
mod cmd;
mod progress;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Train(a) => cmd::train::run(a, &cli.global),
        args::Command::Inspect(a) => cmd::inspect::run(a, &cli.global),
        args::Command::Theory(a) => cmd::theory::run(a),
        args::Command::Bench(a) => cmd::bench::run(a, &cli.global),
        args::Command::Sweep(a) => cmd::sweep::run(a, &cli.global),
        args::Command::Export(a) => cmd::export::run(a, &cli.global),
        args::Command::Runs(a) => cmd::runs::run(a),
        args::Command::Merge(a) => cmd::merge::run(a, &cli.global),
        args::Command::Reproduce(a) => cmd::reproduce::run(a, &cli.global),
        args::Command::Report(a) => cmd::report::run(a, &cli.global),
        args::Command::Sensing(a) => cmd::sensing::run(a, &cli.global),
    };
    if let Err(err) = result {
        let usage = err.downcast_ref::<cmd::UsageError>().is_some();
        eprintln!("error: {err:#}");
        if let Some(hint) = err
            .downcast_ref::<cmd::UsageError>()
            .and_then(|u| u.hint.as_deref())
        {
            eprintln!("hint: {hint}");
        }
        if let Some(f) = err.downcast_ref::<cmd::FailureHint>() {
            eprintln!("hint: {}", f.hint);
        }
        std::process::exit(if usage { 2 } else { 1 });
    }
}
