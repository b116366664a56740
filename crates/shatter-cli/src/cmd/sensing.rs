//! `shatter sensing`: the matrix sensing experiment of SCIENCE.md section 7 (flat minima of
//! over-parameterised matrix sensing recover the low-rank truth). Draws one problem, trains
//! `L R^T` by gradient descent at each step size from the same initialisation
//! (`shatter_core::sensing`), and writes `sensing.json` (one record per step size),
//! `trajectory.csv` (`lr,epoch,loss,recovery_error`) and a table on stdout.

use super::{print_stdout, usage, usage_hint, with_threads};
use crate::args::{Global, SensingArgs};
use anyhow::Context;
use rayon::prelude::*;
use shatter_core::sensing::{
    train_sensing, SensingError, SensingOutcome, SensingProblem, SensingRun, SensingSpec,
};
use shatter_core::train::RunStatus;
use shatter_lab::io::write_file_atomically;
use shatter_lab::run::fmt_f64;

pub fn run(args: SensingArgs, global: &Global) -> anyhow::Result<()> {
    let spec = SensingSpec {
        d1: args.d1,
        d2: args.d2,
        rank: args.rank,
        measurements: args
            .measurements
            .unwrap_or(4 * args.rank * (args.d1 + args.d2)),
        noise_std: args.noise,
    };
    if args.lr.is_empty() {
        return Err(usage("--lr needs at least one step size"));
    }
    if let Some(lr) = args.lr.iter().find(|lr| !(lr.is_finite() && **lr > 0.0)) {
        return Err(usage(format!(
            "--lr {lr} is out of range: step sizes must be positive and finite"
        )));
    }
    if args.k == 0 {
        return Err(usage(
            "--k 0 is out of range: the factors need rank at least 1",
        ));
    }
    if !(args.init_scale.is_finite() && args.init_scale >= 0.0) {
        return Err(usage(format!(
            "--init-scale {} is out of range: must be finite and at least 0",
            args.init_scale
        )));
    }
    let problem = SensingProblem::generate(&spec, args.seed).map_err(|e| {
        usage_hint(
            e.to_string(),
            "`shatter sensing --help` lists every flag with its range",
        )
    })?;
    let outcomes: Vec<Result<SensingOutcome, SensingError>> = with_threads(global.threads, || {
        args.lr
            .par_iter()
            .map(|&lr| {
                let run = SensingRun::new(args.k, lr, args.epochs, args.init_scale);
                train_sensing(&problem, &run, args.seed)
            })
            .collect()
    })?;
    let outcomes: Vec<SensingOutcome> = outcomes
        .into_iter()
        .collect::<Result<_, _>>()
        .context("training the factorisation")?;

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let doc = sensing_json(&args, &spec, &outcomes);
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    write_file_atomically(&args.out.join("sensing.json"), text.as_bytes())?;
    write_file_atomically(
        &args.out.join("trajectory.csv"),
        trajectory_csv(&args.lr, &outcomes).as_bytes(),
    )?;
    if !global.quiet {
        eprintln!(
            "matrix sensing: {} x {} truth of rank {}, {} measurements (noise {}), factors of \
             rank {}, {} epochs from init scale {} (seed {})",
            spec.d1,
            spec.d2,
            spec.rank,
            spec.measurements,
            spec.noise_std,
            args.k,
            args.epochs,
            args.init_scale,
            args.seed
        );
    }
    print_stdout(&table(&args.lr, &outcomes))?;
    if !global.quiet {
        eprintln!("wrote {}", args.out.display());
    }
    Ok(())
}

fn diverged_epoch(status: RunStatus) -> Option<usize> {
    match status {
        RunStatus::Diverged { epoch, .. } => Some(epoch),
        _ => None,
    }
}

/// A float for JSON: `null` when not finite (a diverged run's measurements).
fn finite(x: f64) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!(x)
    } else {
        serde_json::Value::Null
    }
}

/// The `sensing.json` document: the problem, the run settings, one record per step size.
fn sensing_json(
    args: &SensingArgs,
    spec: &SensingSpec,
    outcomes: &[SensingOutcome],
) -> serde_json::Value {
    let runs: Vec<serde_json::Value> = args
        .lr
        .iter()
        .zip(outcomes)
        .map(|(&lr, o)| {
            serde_json::json!({
                "lr": lr,
                "status": o.status.name(),
                "diverged_epoch": diverged_epoch(o.status),
                "final_loss": finite(o.final_loss),
                "recovery_error": finite(o.recovery_error),
                "balance": finite(o.balance),
                "nuclear_norm": finite(o.nuclear_norm),
                "truth_nuclear_norm": o.truth_nuclear_norm,
                "frobenius_l": finite(o.frobenius_l),
                "frobenius_r": finite(o.frobenius_r),
                "sharpness": o.sharpness,
                "sharpness_err": o.sharpness_error_bound,
                "two_over_lr": 2.0 / lr,
            })
        })
        .collect();
    serde_json::json!({
        "program": "shatter",
        "version": env!("CARGO_PKG_VERSION"),
        "problem": {
            "d1": spec.d1,
            "d2": spec.d2,
            "rank": spec.rank,
            "measurements": spec.measurements,
            "noise": spec.noise_std,
            "seed": args.seed,
        },
        "k": args.k,
        "epochs": args.epochs,
        "init_scale": args.init_scale,
        "runs": runs,
    })
}

/// `trajectory.csv`: `lr,epoch,loss,recovery_error`, the runs one after another.
fn trajectory_csv(lrs: &[f64], outcomes: &[SensingOutcome]) -> String {
    let mut s = String::from("lr,epoch,loss,recovery_error\n");
    for (&lr, o) in lrs.iter().zip(outcomes) {
        for p in &o.trajectory {
            s.push_str(&format!(
                "{},{},{},{}\n",
                fmt_f64(lr),
                p.epoch,
                fmt_f64(p.loss),
                fmt_f64(p.recovery_error)
            ));
        }
    }
    s
}

/// A number for the table: fixed point for moderate values, exponent otherwise, `-` when not
/// finite (a diverged run).
fn num(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x == 0.0 || (1e-3..1e4).contains(&x.abs()) {
        format!("{x:.4}")
    } else {
        format!("{x:.3e}")
    }
}

/// The stdout table: one row per step size.
fn table(lrs: &[f64], outcomes: &[SensingOutcome]) -> String {
    let mut s = format!(
        "{:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
        "lr",
        "status",
        "recovery",
        "balance",
        "nuclear",
        "truth_nuc",
        "sharpness",
        "2/lr",
        "final_loss"
    );
    for (&lr, o) in lrs.iter().zip(outcomes) {
        s.push_str(&format!(
            "{:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
            lr,
            o.status.name(),
            num(o.recovery_error),
            num(o.balance),
            num(o.nuclear_norm),
            num(o.truth_nuclear_norm),
            o.sharpness.map(num).unwrap_or_else(|| "-".into()),
            num(2.0 / lr),
            num(o.final_loss)
        ));
    }
    s
}
