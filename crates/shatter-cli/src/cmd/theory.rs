//! `shatter theory`: the rates of SCIENCE.md section 6 at one dimension, and a table of the
//! population weight function `g_P(t)` for inputs uniform in the unit ball.

use super::usage;
use crate::args::TheoryArgs;
use shatter_core::theory::{rate_table, tabulate_population_weight};

pub fn run(args: TheoryArgs) -> anyhow::Result<()> {
    if args.d == 0 {
        return Err(usage("--d must be at least 1"));
    }
    if args.points < 2 {
        return Err(usage("--points must be at least 2"));
    }
    let d = args.d;
    println!("Predicted rates at d = {d} (error ~ n^(-rate)):");
    println!(
        "{:<24} {:>8}  {:<10} {:<62} source",
        "key", "rate", "formula", "setting"
    );
    for row in rate_table(d) {
        println!(
            "{:<24} {:>8.4}  {:<10} {:<62} {}",
            row.key, row.rate, row.formula, row.setting, row.source
        );
    }
    println!();
    println!("Population weight g_P(t) for x ~ Uniform(B^{d}_1) (depends on |t| only):");
    println!(
        "{:>8} {:>14} {:>22}",
        "t",
        "g_P(t)",
        format!("g_P/(1-t)^{}", d + 2)
    );
    for (t, g) in tabulate_population_weight(d, 0.0, 1.0, args.points)? {
        let ratio = if t < 1.0 {
            format!("{:.6e}", g / (1.0 - t).powi(d as i32 + 2))
        } else {
            "-".into()
        };
        println!("{t:>8.4} {g:>14.6e} {ratio:>22}");
    }
    Ok(())
}
