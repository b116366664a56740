//! `shatter reproduce ID`: runs a built-in experiment of the papers as a sweep into its own
//! store, then writes its report; `all` and `headline` run several and write an index page.
//! With `--device cuda` every experiment's sweep trains on the GPU in batches (the runs the GPU
//! does not support stay on the CPU, and the command says how many and why).

use super::{usage, usage_hint};
use crate::args::{Global, ReproduceArgs};
use crate::progress;
use shatter_lab::reproduce::experiments::{
    experiment, experiment_ids, spec_text, Scale, EXPERIMENTS, HEADLINE,
};
use shatter_lab::reproduce::report::counts_sentence;
use shatter_lab::reproduce::{run_experiment, write_index};
use shatter_lab::sweep::{Batching, Parallelism, Progress};
use std::time::Instant;

pub fn run(args: ReproduceArgs, global: &Global) -> anyhow::Result<()> {
    let scale: Scale = args
        .scale
        .parse()
        .map_err(|e: String| usage(format!("--scale: {e}")))?;
    let ids: Vec<&str> = match args.id.as_str() {
        "all" => EXPERIMENTS.iter().map(|e| e.id()).collect(),
        "headline" => HEADLINE.iter().map(|e| e.id()).collect(),
        id if experiment(id).is_some() => vec![id],
        other => {
            return Err(usage_hint(
                format!("unknown experiment {other:?}"),
                format!("choose one of {}, all, headline", experiment_ids()),
            ))
        }
    };
    if args.print_spec {
        for id in &ids {
            print!(
                "{}",
                spec_text(id, scale).expect("every experiment has a spec")
            );
        }
        return Ok(());
    }
    let cores = super::cores(global);
    let parallelism = match args.jobs {
        Some(0) => return Err(usage("--jobs must be at least 1")),
        Some(jobs) => Some(Parallelism {
            jobs,
            threads_per_run: (cores / jobs).max(1),
        }),
        None => None,
    };
    if args.batch_runs == 0 {
        return Err(usage("--batch-runs must be at least 1"));
    }
    let mut trainer = if args.device.is_cpu() {
        None
    } else {
        let trainer = super::open_device(args.device)?;
        super::use_threads_globally(global.threads);
        if !global.quiet {
            eprintln!(
                "training on {} in batches of at most {} runs",
                trainer.device(),
                args.batch_runs
            );
        }
        Some(trainer)
    };
    let stop = super::stop_on_ctrl_c();
    let start = Instant::now();
    let mut outcomes = Vec::new();
    for id in &ids {
        let pb = progress::sweep_bar(global.quiet, id);
        let t = Instant::now();
        let mut on_progress = |p: &Progress| progress::show_sweep(&pb, p);
        let mut batching = trainer.as_mut().map(|t| Batching {
            trainer: &mut **t,
            max_runs: args.batch_runs,
        });
        let (outcome, sweep) = run_experiment(
            id,
            scale,
            &args.out,
            parallelism,
            cores,
            batching.as_mut(),
            &stop,
            &mut on_progress,
        )?;
        pb.finish_and_clear();
        if !global.quiet {
            for (why, count) in &sweep.on_cpu {
                eprintln!("{id}: {count} run(s) trained on the CPU: {why}");
            }
            if let Some(line) = trainer
                .as_ref()
                .and_then(|t| super::device_throughput(&sweep, &t.device()))
            {
                eprintln!("{id}: {line}");
            }
        }
        if sweep.interrupted {
            return Err(super::interrupted(
                format!("interrupted during {id}"),
                "run the same command again to resume",
            ));
        }
        let wall = t.elapsed().as_secs_f64();
        if !global.quiet {
            let p = &sweep.progress;
            let stored = if p.skipped > 0 {
                format!(
                    " ({} trained now, {} already stored)",
                    p.finished, p.skipped
                )
            } else {
                String::new()
            };
            eprintln!(
                "{id} ({scale}): {} runs{stored} in {wall:.0} s; {}",
                outcome.runs,
                counts_sentence(outcome.agree, outcome.differ, outcome.inconclusive)
            );
            for w in &outcome.words {
                eprintln!("  {w}");
            }
        }
        if !outcome.unusable_models.is_empty() {
            eprintln!(
                "warning: {id}: {}",
                shatter_lab::reproduce::unusable_models_warning(
                    &outcome.unusable_models,
                    outcome.runs
                )
            );
        }
        println!("{}", outcome.path.display());
        outcomes.push((id.to_string(), outcome));
    }
    if ids.len() > 1 {
        // The index aggregates the reports: runs and run wall times summed, seeds and losses
        // merged, and every report's rows in one claims.csv beside provenance.json.
        let path = write_index(
            &args.out,
            &format!("shatter reproduce {} ({scale} scale)", args.id),
            &outcomes,
            start.elapsed().as_secs_f64(),
        )?;
        println!("{}", path.display());
        if !global.quiet {
            eprintln!("report index: {}", path.display());
        }
    }
    Ok(())
}
