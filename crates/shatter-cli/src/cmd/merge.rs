//! `shatter merge A.db B.db ... --into all.db`: combines stores (for example a job array's
//! shards), refusing runs whose results disagree.

use super::usage;
use crate::args::{Global, MergeArgs};
use anyhow::Context;

pub fn run(args: MergeArgs, global: &Global) -> anyhow::Result<()> {
    let into = std::path::absolute(&args.into).unwrap_or(args.into.clone());
    for s in &args.sources {
        if std::path::absolute(s).unwrap_or(s.clone()) == into
            || shatter_lab::store::same_database(s, &args.into)
        {
            return Err(usage(format!(
                "{} is both a source and --into",
                s.display()
            )));
        }
        if !s.is_file() {
            return Err(usage(format!("{}: no such store", s.display())));
        }
    }
    let mut store = super::sweep::open_writer(&args.into)?;
    let report = store.merge_from(&args.sources).context("merging")?;
    if !global.quiet {
        eprintln!(
            "merged {} stores into {}: {} runs added, {} already there with identical results, {} failed runs skipped",
            args.sources.len(),
            args.into.display(),
            report.added,
            report.identical,
            report.skipped_failed
        );
    }
    Ok(())
}
