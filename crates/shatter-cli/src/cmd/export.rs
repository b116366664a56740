//! `shatter export --store DB --format csv|parquet --out DIR`: the store's tables as files.

use crate::args::{ExportArgs, Global};
use anyhow::Context;
use shatter_lab::export::export;
use shatter_lab::store::Store;

pub fn run(args: ExportArgs, global: &Global) -> anyhow::Result<()> {
    let store = Store::open_reader(&args.store).context("opening the store")?;
    let files = export(&store, args.format, &args.out).context("exporting")?;
    for f in &files {
        println!("{}", f.display());
    }
    if !global.quiet {
        let counts = store.status_counts().context("reading the store")?;
        let total: usize = counts.iter().map(|(_, n)| n).sum();
        eprintln!("exported {total} runs from {}", args.store.display());
    }
    Ok(())
}
