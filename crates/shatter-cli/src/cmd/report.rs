//! `shatter report --store DB --out DIR`: an offline HTML report of a results store.

use super::{usage, usage_hint};
use crate::args::{Global, ReportArgs};
use anyhow::Context;
use shatter_lab::reproduce::experiments::{experiment, experiment_ids};
use shatter_lab::reproduce::write_report;
use shatter_lab::store::Store;

pub fn run(args: ReportArgs, global: &Global) -> anyhow::Result<()> {
    let exp = match &args.experiment {
        Some(id) => Some(experiment(id).ok_or_else(|| {
            usage_hint(
                format!("unknown experiment {id:?}"),
                format!("choose one of {}", experiment_ids()),
            )
        })?),
        None => None,
    };
    if !args.store.exists() {
        return Err(usage(format!("{}: no such store", args.store.display())));
    }
    let store = Store::open_reader(&args.store)
        .with_context(|| format!("opening {}", args.store.display()))?;
    let spec_text = match &args.spec {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => format!(
            "# (the sweep spec was not given; pass --spec to include it)\n# store: {}\n",
            args.store.display()
        ),
    };
    let outcome = write_report(exp, None, &store, &spec_text, &args.out, 0.0)?;
    if !global.quiet {
        eprintln!("{} runs; report written", outcome.runs);
    }
    // Printed even with --quiet: the report's results are incomplete.
    if !outcome.unusable_models.is_empty() {
        eprintln!(
            "warning: {}",
            shatter_lab::reproduce::unusable_models_warning(&outcome.unusable_models, outcome.runs)
        );
    }
    println!("{}", outcome.path.display());
    Ok(())
}
