//! `shatter train`: one run from flags and/or a TOML file to a run directory. With `--device
//! cuda` the run is a batch of one on the GPU (`execute_batch`); numbers and files are the same
//! as on the CPU up to the device's rounding, and `run.json` records the device.

use super::{usage, usage_hint, with_threads};
use crate::args::{Global, TrainArgs};
use crate::progress;
use anyhow::Context;
use shatter_core::train::Control;
use shatter_lab::run::{execute, execute_batch, write_run_dir, RunError, RunOptions};
use shatter_lab::spec::{RunSpec, SpecError};
use std::path::PathBuf;

pub fn run(args: TrainArgs, global: &Global) -> anyhow::Result<()> {
    let (file_spec, source) = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading spec {}", path.display()))?;
            let spec = RunSpec::from_toml(&text, &path.display().to_string())
                .map_err(|e| usage(e.to_string()))?;
            (spec, Some((path.display().to_string(), text)))
        }
        None => (RunSpec::default(), None),
    };
    let spec = file_spec.overridden_by(&args.spec);
    let cfg = spec
        .check(source.as_ref().map(|(p, t)| (p.as_str(), t.as_str())))
        .map_err(|e| match e {
            // An unreadable or malformed input file is a failure (exit 1), as when the run
            // reads it; everything else the check refuses is a usage error (exit 2).
            e @ SpecError::Input { .. } => anyhow::Error::new(e),
            e @ SpecError::Memory { .. } => usage_hint(
                e.to_string(),
                "the estimate counts the data, the workspaces (2 n width values), the network and the Lanczos vectors",
            ),
            e => usage_hint(
                e.to_string(),
                "`shatter train --help` lists every setting with its range",
            ),
        })?;
    if args.print_spec {
        print!("{}", cfg.spec.to_toml());
        return Ok(());
    }
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(cfg.spec.run_id()));
    let epochs = cfg.train.epochs as u64;
    let two_over_eta = 2.0 / cfg.train.lr;
    let pb = progress::bar(
        epochs,
        global.quiet,
        "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} epochs {msg} (eta {eta})",
    );
    // Open the device before anything runs, so that a missing GPU fails at once.
    let mut trainer = if args.device.is_cpu() {
        None
    } else {
        Some(super::open_device(args.device)?)
    };
    let stop = super::stop_on_ctrl_c();
    let last_sharpness = std::sync::Mutex::new(None);
    let observe = |r: &shatter_core::train::Record| {
        let mut last = last_sharpness.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = r.sharpness {
            *last = Some(s);
        }
        pb.set_position(r.epoch as u64);
        let sharp = last
            .map(|s| format!(" sharpness {s:.4} (2/eta {two_over_eta:.4})"))
            .unwrap_or_default();
        pb.set_message(format!("loss {:.6}{sharp}", r.train_loss));
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            Control::Stop
        } else {
            Control::Continue
        }
    };
    let opts = RunOptions {
        spectrum: args.spectrum,
    };
    let output = match trainer.as_mut() {
        None => with_threads(global.threads, || execute(&cfg, &opts, &mut |r| observe(r)))?
            .context("running")?,
        Some(trainer) => {
            super::use_threads_globally(global.threads);
            let result = execute_batch(
                std::slice::from_ref(&cfg),
                &opts,
                &mut **trainer,
                &|_, r| observe(r),
            )
            .pop()
            .expect("one result per run");
            match result {
                Err(RunError::Unsupported { reason, .. }) => {
                    pb.finish_and_clear();
                    return Err(usage_hint(
                        format!("--device {}: {reason}", args.device),
                        "train this run on the CPU (--device cpu, the default)",
                    ));
                }
                other => other.context("running")?,
            }
        }
    };
    pb.finish_and_clear();
    write_run_dir(&out_dir, &cfg, &output).context("writing the run directory")?;
    let s = &output.summary;
    let show = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_else(|| "-".into());
    eprintln!(
        "{} after {} epochs in {:.1} s: train loss {}, test mse {}, sharpness {} (2/eta = {:.4}), vg_norm {} <= bound {}",
        s.status,
        s.epochs_run,
        s.wall_seconds,
        show(s.final_train_loss),
        show(s.test_mse),
        show(s.sharpness),
        s.two_over_eta,
        show(s.vg_norm),
        show(s.vg_bound)
    );
    println!("{}", out_dir.display());
    if let shatter_core::train::RunStatus::Interrupted { epoch } = output.status {
        return Err(super::interrupted(
            format!(
                "interrupted after {epoch} of {epochs} epochs; {} holds the partial run",
                out_dir.display()
            ),
            "run the same command again to train from the start",
        ));
    }
    Ok(())
}
