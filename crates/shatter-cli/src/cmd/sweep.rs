//! `shatter sweep SPEC --store DB`: expands an experiment spec, skips the runs the store already
//! holds, runs the rest on every core with one progress bar, and stores each run as it ends.
//! With `--device cuda` the runs train on the GPU in batches of at most `--batch-runs`; those
//! the GPU does not support (mini-batch, mixup, krr) run on the CPU afterwards, and the command
//! says how many and why before it starts.

use super::{failure_hint, usage, usage_hint};
use crate::args::{Global, SweepArgs};
use crate::progress;
use anyhow::Context;
use shatter_lab::store::{Store, StoreError};
use shatter_lab::sweep::{
    run_sweep, run_sweep_batched, split_for_device, Batching, Parallelism, Point, Progress,
    SweepError, SweepSpec, SweepSpecError,
};
use std::time::Instant;

/// Opens a store for writing, turning a held lock into a failure with a hint.
pub fn open_writer(path: &std::path::Path) -> anyhow::Result<Store> {
    match Store::open_writer(path) {
        Ok(s) => Ok(s),
        Err(e @ StoreError::Locked { .. }) => Err(failure_hint(
            e.to_string(),
            "wait for it to finish (it resumes cleanly if stopped with Ctrl-C), or use another --store and `shatter merge` later",
        )),
        Err(e @ StoreError::Schema { .. }) => Err(usage(e.to_string())),
        Err(e) => Err(anyhow::Error::new(e).context("opening the store")),
    }
}

pub fn run(args: SweepArgs, global: &Global) -> anyhow::Result<()> {
    let spec = SweepSpec::from_file(&args.spec).map_err(|e| match e {
        SweepSpecError::Read { .. } => anyhow::Error::new(e),
        other => usage_hint(
            other.to_string(),
            "[base], [grid], [[zip]] and [measure] take the keys of `shatter train --help` (and width_per_n)",
        ),
    })?;
    let mut points = spec.points().map_err(|e| {
        usage_hint(
            e.to_string(),
            "`shatter train --help` lists every setting with its range",
        )
    })?;
    if let Some(shard) = args.shard {
        points.retain(|p| shard.contains(p.index));
    }
    if args.print_points {
        let mut text = String::from("index\trun_id\tpoint\n");
        for p in &points {
            text.push_str(&format!("{}\t{}\t{}\n", p.index, p.run_id, p.label));
        }
        return super::print_stdout(&text);
    }
    let store_path = args
        .store
        .clone()
        .ok_or_else(|| usage("--store is required"))?;
    if args.batch_runs == 0 {
        return Err(usage("--batch-runs must be at least 1"));
    }
    // Open the device before the store, so that a missing GPU fails at once.
    let mut trainer = if args.device.is_cpu() {
        None
    } else {
        Some(super::open_device(args.device)?)
    };
    let mut store = open_writer(&store_path)?;
    let cores = super::cores(global);
    let done = store.done_ids().context("reading the store")?;
    // Printed even with --quiet: stored results are being replaced.
    let unusable = store.unusable_models().context("reading the store")?;
    if !unusable.is_empty() {
        eprintln!(
            "warning: {} stored run(s) have a missing or damaged model file and run again: {}",
            unusable.len(),
            unusable
                .iter()
                .map(|b| format!("{} ({})", b.run_id, b.problem))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let todo_points: Vec<Point> = points
        .iter()
        .filter(|p| !done.contains(&p.run_id))
        .cloned()
        .collect();
    let todo = todo_points.len();
    let split = trainer
        .as_ref()
        .map(|t| split_for_device(&todo_points, &**t));
    // The runs on the CPU share its cores: all of them, or those the device leaves.
    let on_cpu = split.as_ref().map_or(todo, |s| s.cpu.len());
    let parallelism = match args.jobs {
        Some(0) => return Err(usage("--jobs must be at least 1")),
        Some(jobs) => Parallelism {
            jobs,
            threads_per_run: (cores / jobs).max(1),
        },
        None => Parallelism::auto(cores, on_cpu),
    };
    let stop = super::stop_on_ctrl_c();
    let pb = progress::sweep_bar(global.quiet, "");
    let start = Instant::now();
    let mut on_progress = |p: &Progress| progress::show_sweep(&pb, p);
    let shard = args
        .shard
        .map(|s| format!(" (shard {s})"))
        .unwrap_or_default();
    if let (Some(trainer), Some(split), false) = (&trainer, &split, global.quiet) {
        eprintln!(
            "sweep {}{shard}: {} points, {} already in {}, {} to run: {} on {} (batches of at most {} runs), {} on the CPU ({} at once)",
            spec.name,
            points.len(),
            points.len() - todo,
            store_path.display(),
            todo,
            split.device.len(),
            trainer.device(),
            args.batch_runs,
            split.cpu.len(),
            parallelism.jobs,
        );
        for (why, count) in split.cpu_reasons() {
            eprintln!("  {count} run(s) stay on the CPU: {why}");
        }
    } else if !global.quiet {
        eprintln!(
            "sweep {}{shard}: {} points, {} already in {}, {} to run ({} at once, {} thread{} each)",
            spec.name,
            points.len(),
            points.len() - todo,
            store_path.display(),
            todo,
            parallelism.jobs,
            parallelism.threads_per_run,
            if parallelism.threads_per_run == 1 { "" } else { "s" }
        );
    }
    let result = match trainer.as_mut() {
        None => run_sweep(
            &points,
            &mut store,
            &spec.name,
            spec.keep,
            parallelism,
            &stop,
            &mut on_progress,
        ),
        Some(trainer) => {
            super::use_threads_globally(global.threads);
            run_sweep_batched(
                &points,
                &mut store,
                &spec.name,
                spec.keep,
                &mut Batching {
                    trainer: &mut **trainer,
                    max_runs: args.batch_runs,
                },
                parallelism,
                &stop,
                &mut on_progress,
            )
        }
    };
    let report = match result {
        Err(e @ SweepError::Device { .. }) => {
            pb.finish_and_clear();
            return Err(failure_hint(
                format!("running the sweep: {e}"),
                "the runs stored before the failure are kept; run the same command again to resume (with a smaller --batch-runs if the device ran out of memory), or use --device cpu",
            ));
        }
        other => other.context("running the sweep")?,
    };
    pb.finish_and_clear();
    let p = &report.progress;
    if !global.quiet {
        eprintln!(
            "{} runs stored in {:.1} s: {} completed, {} diverged, {} failed",
            p.finished,
            start.elapsed().as_secs_f64(),
            p.completed,
            p.diverged,
            p.failed
        );
        if let Some(line) = trainer
            .as_ref()
            .and_then(|t| super::device_throughput(&report, &t.device()))
        {
            eprintln!("{line}");
        }
    }
    if report.interrupted {
        return Err(super::interrupted(
            format!(
                "interrupted: {} of {} runs still to do",
                p.todo - p.finished,
                p.total
            ),
            "run the same command again to resume",
        ));
    }
    if !report.failures.is_empty() {
        let mut message = format!("{} runs failed:", report.failures.len());
        for (id, label, why) in report.failures.iter().take(5) {
            message.push_str(&format!("\n  {id} ({label}): {why}"));
        }
        return Err(failure_hint(
            message,
            format!(
                "`shatter runs --store {} --where \"status = failed\" --columns run_id,error` lists them; the next sweep tries them again",
                store_path.display()
            ),
        ));
    }
    Ok(())
}
