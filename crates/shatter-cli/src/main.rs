//! The `shatter` binary: parses arguments, dispatches to `cmd/*`, maps errors to exit codes
//! (0 success, 1 failure, 2 usage error, 130 interrupted by Ctrl-C, a waited-for Slurm job's
//! own exit code; `args::EXIT_CODES`) and
//! prints them as one `error: ...` line, every cause once, with a `hint:` when there is a fix.

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
        args::Command::Slurm(a) => cmd::slurm::run(a.command, &cli.global),
        args::Command::Construct(a) => cmd::construct::run(a, &cli.global),
    };
    if let Err(err) = result {
        let usage = err.downcast_ref::<cmd::UsageError>().is_some();
        let interrupted = err.downcast_ref::<cmd::Interrupted>();
        eprintln!("error: {}", message(&err));
        if let Some(hint) = err
            .downcast_ref::<cmd::UsageError>()
            .and_then(|u| u.hint.as_deref())
        {
            eprintln!("hint: {hint}");
        }
        if let Some(f) = err.downcast_ref::<cmd::FailureHint>() {
            eprintln!("hint: {}", f.hint);
        }
        if let Some(i) = interrupted {
            eprintln!("hint: {}", i.hint);
        }
        let job = err.downcast_ref::<cmd::JobExit>();
        if let Some(j) = job {
            eprintln!("hint: {}", j.hint);
        }
        std::process::exit(match (usage, interrupted.is_some(), job) {
            (true, _, _) => 2,
            (false, true, _) => 130,
            (false, false, Some(j)) => j.code,
            (false, false, None) => 1,
        });
    }
}

/// The error and its causes joined by `: `, each cause once. Library errors often repeat their
/// cause in their own message (`{path}: {source}`) and also expose it as their `source`, so a
/// cause already contained in the text so far is left out.
fn message(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}
