//! Running a sweep's points on one batched device (`--device cuda`): skip those a store already
//! holds (resume), pack the rest that the device supports into batches of one precision and at
//! most `max_runs` runs (longest first), train each batch with one
//! [`execute_batch`](crate::run::execute_batch) call, and store its runs, with the device's
//! label, when the batch ends: every model file first, then one transaction for the batch.
//! Points the device cannot train (mini-batch SGD, mixup, kernel ridge regression, ...) go
//! through [`run_sweep`] on the CPU afterwards, recorded as `cpu`; the report says how many
//! and why.
//!
//! Stopping: when `stop` is set, the runs of the batch in progress stop at their next
//! trajectory row and are not stored; no new batch starts. A run that fails by itself (a bad
//! data file) is stored as `failed`, as in [`run_sweep`]. A device failure is not the runs'
//! fault: the sweep stops with [`SweepError::Device`], keeping what was stored before.

use super::schedule::{run_sweep, Parallelism, Progress, SweepError, SweepReport};
use super::spec::{Keep, Point};
use crate::device::DeviceTrainer;
use crate::run::{execute_batch, RunError, RunOptions, RunOutput};
use crate::spec::{DataSource, ModelKind};
use crate::store::{unix_now, ModelFile, NewRun, Outcome, Store};
use shatter_core::train::{Control, RunStatus};
use shatter_core::Precision;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};

/// The default of `--batch-runs`: at most this many runs share one batch. Large enough that a
/// quick sweep is one batch per precision, small enough that a batch's data, networks and
/// trajectories fit in memory for the papers' sizes.
pub const DEFAULT_BATCH_RUNS: usize = 1024;

/// A device to pack runs onto.
pub struct Batching<'a> {
    /// The device's trainer.
    pub trainer: &'a mut dyn DeviceTrainer,
    /// At most this many runs per batch (`--batch-runs`, default [`DEFAULT_BATCH_RUNS`]); 0 is
    /// taken as 1.
    pub max_runs: usize,
}

/// How a sweep's points divide between a device and the CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceSplit {
    /// Positions (in the points given) of those the device trains.
    pub device: Vec<usize>,
    /// Positions of those that stay on the CPU, each with why (naming the setting).
    pub cpu: Vec<(usize, String)>,
}

impl DeviceSplit {
    /// Each reason runs stay on the CPU with its number of runs, most frequent first (ties by
    /// reason).
    pub fn cpu_reasons(&self) -> Vec<(String, usize)> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (_, why) in &self.cpu {
            *counts.entry(why.as_str()).or_default() += 1;
        }
        let mut out: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(w, c)| (w.to_string(), c))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// Which of `points` `trainer` can train, from their configs alone (no file is read: a data
/// file's number of rows is in its checked config). Kernel ridge regression always stays on
/// the CPU.
pub fn split_for_device(points: &[Point], trainer: &dyn DeviceTrainer) -> DeviceSplit {
    let mut split = DeviceSplit::default();
    for (j, p) in points.iter().enumerate() {
        let c = &p.config;
        let why = match (&c.model, &c.data) {
            (ModelKind::Krr { .. }, _) => {
                Some("model = \"krr\" (kernel ridge regression) runs on the CPU only".to_string())
            }
            _ if c.curvature.enabled() => Some(crate::run::CURVATURE_ON_CPU.to_string()),
            (ModelKind::Network, DataSource::Generated(spec)) => {
                trainer.unsupported(c.precision, &c.shape, spec.n, &c.train)
            }
            (ModelKind::Network, DataSource::File { .. }) => {
                trainer.unsupported(c.precision, &c.shape, c.data_n(), &c.train)
            }
        };
        match why {
            Some(why) => split.cpu.push((j, why)),
            None => split.device.push(j),
        }
    }
    split
}

/// Runs the points of `points` that `store` does not hold as completed or diverged: those the
/// device supports in batches on `batching.trainer`, the others with [`run_sweep`] on the CPU
/// with `cpu` parallelism afterwards. Each run is stored when its batch ends, its `device`
/// column the trainer's label. `on_progress` is called from the calling thread after every
/// change (`running` is the size of the batch in progress).
///
/// Results are those of [`run_sweep`] up to the device's rounding (with `CpuBatch`, the same
/// bits), except `wall_seconds`, each run's share of its batch's wall time
/// ([`execute_batch`](crate::run::execute_batch)).
///
/// # Errors
/// [`SweepError::Device`] when the device fails (runs stored before are kept),
/// [`SweepError::Store`] when storing fails, and those of [`run_sweep`].
#[allow(clippy::too_many_arguments)]
pub fn run_sweep_batched(
    points: &[Point],
    store: &mut Store,
    sweep_name: &str,
    keep: Keep,
    batching: &mut Batching<'_>,
    cpu: Parallelism,
    stop: &AtomicBool,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<SweepReport, SweepError> {
    let done = store.done_ids()?;
    let todo: Vec<Point> = points
        .iter()
        .filter(|p| !done.contains(&p.run_id))
        .cloned()
        .collect();
    let split = split_for_device(&todo, &*batching.trainer);
    let mut on_cpu = split.cpu_reasons();
    let mut cpu_points: Vec<Point> = split.cpu.iter().map(|(j, _)| todo[*j].clone()).collect();
    let mut device_points: Vec<&Point> = split.device.iter().map(|&j| &todo[j]).collect();
    // One precision per batch; longest first, so that similar runs share a batch.
    device_points.sort_by(|a, b| {
        let wide = |p: &Point| matches!(p.config.precision, Precision::F64);
        wide(a)
            .cmp(&wide(b))
            .then(b.cost().total_cmp(&a.cost()))
            .then(a.index.cmp(&b.index))
    });
    let max_runs = batching.max_runs.max(1);
    let mut batches: Vec<&[&Point]> = Vec::new();
    for group in device_points.chunk_by(|a, b| a.config.precision == b.config.precision) {
        batches.extend(group.chunks(max_runs));
    }
    let (mut progress, mut report) = super::schedule::starting(points.len(), todo.iter());
    on_progress(&progress);
    let device = batching.trainer.device();
    let mut interrupted_runs = 0usize;
    let observe = |_: usize, _: &shatter_core::train::Record| {
        if stop.load(Ordering::SeqCst) {
            Control::Stop
        } else {
            Control::Continue
        }
    };
    for batch in batches {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        progress.running = batch.len();
        on_progress(&progress);
        let cfgs: Vec<_> = batch.iter().map(|p| p.config.clone()).collect();
        let started_at = unix_now();
        let results = std::panic::catch_unwind(AssertUnwindSafe(|| {
            execute_batch(
                &cfgs,
                &RunOptions::default(),
                &mut *batching.trainer,
                &observe,
            )
        }));
        let finished_at = unix_now();
        progress.running = 0;
        // `None`: the run goes to the CPU after the batches.
        let results: Vec<Option<Result<RunOutput, String>>> = match results {
            Ok(results) => {
                let mut out = Vec::with_capacity(results.len());
                for (point, r) in batch.iter().zip(results) {
                    match r {
                        Ok(o) => out.push(Some(Ok(o))),
                        Err(RunError::Device { device, source }) => {
                            on_progress(&progress);
                            return Err(SweepError::Device {
                                device,
                                runs: batch.len(),
                                message: source.to_string(),
                            });
                        }
                        // Found only once its data was read (a data file's size): the CPU
                        // trains it after the batches.
                        Err(RunError::Unsupported { reason, .. }) => {
                            cpu_points.push((*point).clone());
                            add_reason(&mut on_cpu, reason);
                            out.push(None);
                        }
                        Err(e) => out.push(Some(Err(e.to_string()))),
                    }
                }
                out
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let msg = format!("internal error (a bug in shatter): {what}");
                batch.iter().map(|_| Some(Err(msg.clone()))).collect()
            }
        };
        // Every run of a batch carries the batch's training time.
        if let Some(Some(Ok(out))) = results.iter().find(|r| matches!(r, Some(Ok(_)))) {
            report.device_train_seconds += out.train_seconds;
        }
        // The batch's runs go into the store together: every model written, then one
        // transaction (a kill loses the batch in progress, not the batches before it).
        let mut stored: Vec<(&Point, &Result<RunOutput, String>)> = Vec::new();
        let mut runs: Vec<NewRun<'_>> = Vec::new();
        for (point, result) in batch.iter().zip(&results) {
            let Some(result) = result else { continue };
            if let Ok(out) = result {
                report.device_steps += out.summary.epochs_run;
            }
            let outcome = match result {
                Ok(out) if matches!(out.status, RunStatus::Interrupted { .. }) => {
                    interrupted_runs += 1;
                    continue;
                }
                Ok(out) => Outcome::Ran(out),
                Err(msg) => Outcome::Failed(msg),
            };
            let run_device = match result {
                Ok(out) => out.device.as_str(),
                Err(_) => device.as_str(),
            };
            runs.push(NewRun {
                run_id: &point.run_id,
                spec: &point.spec,
                sweep: sweep_name,
                outcome,
                keep,
                device: run_device,
                started_at,
                finished_at,
                model: ModelFile::ToWrite,
            });
            stored.push((point, result));
        }
        store.record_many(&runs)?;
        for (point, result) in stored {
            progress.finished += 1;
            progress.work_done += point.cost();
            match result {
                Ok(out) if matches!(out.status, RunStatus::Diverged { .. }) => {
                    progress.diverged += 1
                }
                Ok(_) => progress.completed += 1,
                Err(msg) => {
                    progress.failed += 1;
                    report
                        .failures
                        .push((point.run_id.clone(), point.label.clone(), msg.clone()));
                }
            }
        }
        on_progress(&progress);
    }
    report.on_cpu = on_cpu;
    if !cpu_points.is_empty() && !stop.load(Ordering::SeqCst) {
        let base = progress.clone();
        let cpu_report = run_sweep(
            &cpu_points,
            store,
            sweep_name,
            keep,
            cpu,
            stop,
            &mut |p: &Progress| {
                let mut q = base.clone();
                q.finished += p.finished;
                q.work_done += p.work_done;
                q.running = p.running;
                q.completed += p.completed;
                q.diverged += p.diverged;
                q.failed += p.failed;
                on_progress(&q);
            },
        )?;
        let p = &cpu_report.progress;
        progress.finished += p.finished;
        progress.work_done += p.work_done;
        progress.completed += p.completed;
        progress.diverged += p.diverged;
        progress.failed += p.failed;
        report.failures.extend(cpu_report.failures);
        if cpu_report.interrupted {
            interrupted_runs += 1;
        }
    }
    report.interrupted = interrupted_runs > 0 || progress.finished < progress.todo;
    report.progress = progress;
    Ok(report)
}

/// Counts one more run under `reason`, keeping the most frequent first.
fn add_reason(reasons: &mut Vec<(String, usize)>, reason: String) {
    match reasons.iter_mut().find(|(r, _)| *r == reason) {
        Some((_, count)) => *count += 1,
        None => reasons.push((reason, 1)),
    }
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}
