//! Running a sweep's points: skip those a store already holds (resume), start the rest longest
//! first on `jobs` worker threads (each run on its own rayon pool of `threads_per_run`
//! threads), and store the finished runs from the calling thread. Results do not depend on the
//! parallelism: a run is a pure function of its spec and the kernels give identical bits for
//! any thread count.
//!
//! Group commits: a worker writes a finished run's model file into place itself, then hands
//! the run to the calling thread through a queue of at most [`QUEUE_PER_JOB`] runs per job (a
//! worker waits while it is full, so workers never run far ahead of the store). The calling
//! thread takes everything queued (at most the queue's size) and stores it in one
//! transaction, as soon as the previous one is committed. A `kill -9` therefore loses the runs
//! in progress and at most the finished ones not yet committed: those in the transaction
//! being committed and those queued or waiting to be queued, together at most
//! `(2 * QUEUE_PER_JOB + 1) * jobs` runs, typically a few milliseconds of work.
//!
//! Stopping: when `stop` is set, running runs stop at their next trajectory row and are not
//! stored (they are not done); no new run starts. A run whose execution fails (a bad data file)
//! is stored as `failed` with its message, and the sweep goes on; a diverged run is a result.

use super::spec::{Keep, Point};
use crate::run::{execute, RunOptions, RunOutput};
use crate::store::{unix_now, ModelFile, ModelSaver, NewRun, Outcome, Store, StoreError};
use shatter_core::train::{Control, RunStatus};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// A sweep that could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// Storing a result failed; the sweep stopped (finished runs before it are stored).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A worker's thread pool could not be built.
    #[error("building a thread pool: {0}")]
    Pool(String),
    /// The device failed while training a batch (a driver error, too little memory). The
    /// sweep stopped; the runs stored before are kept, the batch's runs are not stored (the
    /// failure is not theirs), and running the sweep again resumes.
    #[error("{device} failed while training a batch of {runs} runs: {message}")]
    Device {
        /// The device.
        device: String,
        /// Runs in the failed batch.
        runs: usize,
        /// What the device reported.
        message: String,
    },
}

/// How the machine is shared: `jobs` runs at once, each on `threads_per_run` threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parallelism {
    /// Runs at once (at least 1).
    pub jobs: usize,
    /// Threads inside each run (at least 1).
    pub threads_per_run: usize,
}

impl Parallelism {
    /// The default for `cores` cores and `runs` runs to do: as many runs at once as there are
    /// cores (independent runs scale perfectly, threads inside a small run do not), and when
    /// fewer runs than cores remain, the cores split among them.
    pub fn auto(cores: usize, runs: usize) -> Parallelism {
        let cores = cores.max(1);
        let jobs = cores.min(runs.max(1));
        Parallelism {
            jobs,
            threads_per_run: (cores / jobs).max(1),
        }
    }
}

/// Counts for a progress display.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// Points in the sweep (or shard).
    pub total: usize,
    /// Points already in the store when the sweep started.
    pub skipped: usize,
    /// Points to run in this session.
    pub todo: usize,
    /// Runs stored in this session (completed, diverged or failed).
    pub finished: usize,
    /// Runs in progress.
    pub running: usize,
    /// Of `finished`, completed.
    pub completed: usize,
    /// Of `finished`, diverged.
    pub diverged: usize,
    /// Of `finished`, failed.
    pub failed: usize,
    /// The work of the points to run, in [`Point::cost`] units (about `epochs n width (d + 2)`
    /// multiply-adds for a network): what an ETA should count, since runs differ in size by
    /// orders of magnitude.
    pub work_total: f64,
    /// Of `work_total`, the work of the runs stored so far.
    pub work_done: f64,
}

/// How a sweep ended.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepReport {
    /// Final counts.
    pub progress: Progress,
    /// Whether it stopped before running every point.
    pub interrupted: bool,
    /// `(run_id, label, message)` of the runs that failed.
    pub failures: Vec<(String, String, String)>,
    /// Runs a batched sweep sent to the CPU because the device cannot train them: each reason
    /// (naming the setting) with its number of runs, most frequent first. Empty for
    /// [`run_sweep`].
    pub on_cpu: Vec<(String, usize)>,
    /// Batched sweeps: gradient steps the device ran (epochs summed over its stored runs) and
    /// the seconds its batches spent training, for a steps-per-second figure. Zero for
    /// [`run_sweep`].
    pub device_steps: usize,
    /// See `device_steps`.
    pub device_train_seconds: f64,
}

/// The counts and the empty report of a sweep of `total` points with `todo` left to run.
pub(crate) fn starting<'a>(
    total: usize,
    todo: impl ExactSizeIterator<Item = &'a Point>,
) -> (Progress, SweepReport) {
    let todo_count = todo.len();
    let progress = Progress {
        total,
        skipped: total - todo_count,
        todo: todo_count,
        work_total: todo.map(Point::cost).sum(),
        ..Progress::default()
    };
    let report = SweepReport {
        progress: progress.clone(),
        interrupted: false,
        failures: Vec::new(),
        on_cpu: Vec::new(),
        device_steps: 0,
        device_train_seconds: 0.0,
    };
    (progress, report)
}

/// Finished runs a job may have queued for the store (see the module notes).
pub const QUEUE_PER_JOB: usize = 2;

enum Event {
    Done(Box<Finished>),
    PoolFailed(String),
}

/// A run a worker finished, its model (when kept) already written.
struct Finished {
    slot: usize,
    result: Result<RunOutput, String>,
    /// The stored `model_path`, or why the model could not be written.
    model: Result<Option<String>, StoreError>,
    started_at: f64,
    finished_at: f64,
}

/// Runs the points of `points` that `store` does not hold as completed or diverged, storing
/// each as it finishes. `on_progress` is called from the calling thread after every change.
#[allow(clippy::too_many_arguments)]
pub fn run_sweep(
    points: &[Point],
    store: &mut Store,
    sweep_name: &str,
    keep: Keep,
    parallelism: Parallelism,
    stop: &AtomicBool,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<SweepReport, SweepError> {
    let done = store.done_ids()?;
    let mut todo: Vec<&Point> = points
        .iter()
        .filter(|p| !done.contains(&p.run_id))
        .collect();
    // Longest first, so that the last runs to finish are short ones.
    todo.sort_by(|a, b| b.cost().total_cmp(&a.cost()).then(a.index.cmp(&b.index)));
    let (mut progress, mut report) = starting(points.len(), todo.iter().copied());
    on_progress(&progress);
    if todo.is_empty() {
        return Ok(report);
    }
    let next = AtomicUsize::new(0);
    let mut first_error: Option<SweepError> = None;
    let mut interrupted_runs = 0usize;
    let jobs = parallelism.jobs.max(1);
    let queue = QUEUE_PER_JOB * jobs;
    let saver: ModelSaver = store.model_saver();
    // Runs in progress, for the progress display (not through the queue, which holds only
    // finished runs).
    let running = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        // Bounded: a worker waits while the store is behind (backpressure).
        let (tx, rx) = mpsc::sync_channel::<Event>(queue);
        for _ in 0..jobs {
            let tx = tx.clone();
            let (todo, next, saver, running) = (&todo, &next, &saver, &running);
            scope.spawn(move || {
                let pool = match rayon::ThreadPoolBuilder::new()
                    .num_threads(parallelism.threads_per_run.max(1))
                    .build()
                {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Event::PoolFailed(e.to_string()));
                        return;
                    }
                };
                loop {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let slot = next.fetch_add(1, Ordering::SeqCst);
                    let Some(point) = todo.get(slot) else { break };
                    running.fetch_add(1, Ordering::SeqCst);
                    let started_at = unix_now();
                    let mut observe = |_: &shatter_core::train::Record| {
                        if stop.load(Ordering::SeqCst) {
                            Control::Stop
                        } else {
                            Control::Continue
                        }
                    };
                    let result = pool.install(|| {
                        std::panic::catch_unwind(AssertUnwindSafe(|| {
                            execute(&point.config, &RunOptions::default(), &mut observe)
                        }))
                    });
                    let result = match result {
                        Ok(Ok(out)) => Ok(out),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(panic) => {
                            let what = panic
                                .downcast_ref::<&str>()
                                .map(|s| s.to_string())
                                .or_else(|| panic.downcast_ref::<String>().cloned())
                                .unwrap_or_default();
                            Err(format!("internal error (a bug in shatter): {what}"))
                        }
                    };
                    let finished_at = unix_now();
                    running.fetch_sub(1, Ordering::SeqCst);
                    // The model goes into place before the run is handed over, so it is there
                    // before the transaction that references it.
                    let model = match &result {
                        Ok(out) if !matches!(out.status, RunStatus::Interrupted { .. }) => {
                            saver.save(&point.run_id, &out.model, keep.models)
                        }
                        _ => Ok(None),
                    };
                    let event = Event::Done(Box::new(Finished {
                        slot,
                        result,
                        model,
                        started_at,
                        finished_at,
                    }));
                    if tx.send(event).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Every worker starts a run at once (the count is exact from the first commit on).
        progress.running = jobs.min(todo.len());
        on_progress(&progress);
        // Each round: wait for one event, take whatever else is queued (at most a queue's
        // worth), store the finished runs in one transaction.
        while let Ok(first) = rx.recv() {
            let mut events = vec![first];
            while events.len() < queue {
                match rx.try_recv() {
                    Ok(e) => events.push(e),
                    Err(_) => break,
                }
            }
            let mut group: Vec<Box<Finished>> = Vec::new();
            for event in events {
                match event {
                    Event::PoolFailed(msg) => {
                        stop.store(true, Ordering::SeqCst);
                        first_error.get_or_insert(SweepError::Pool(msg));
                    }
                    Event::Done(done) => match (&done.result, &done.model) {
                        (Ok(out), _) if matches!(out.status, RunStatus::Interrupted { .. }) => {
                            interrupted_runs += 1;
                        }
                        (_, Err(_)) => {
                            stop.store(true, Ordering::SeqCst);
                            if first_error.is_none() {
                                if let Err(e) = done.model {
                                    first_error = Some(e.into());
                                }
                            }
                        }
                        _ => group.push(done),
                    },
                }
            }
            progress.running = running.load(Ordering::SeqCst);
            if first_error.is_some() || group.is_empty() {
                on_progress(&progress);
                continue;
            }
            let runs: Vec<NewRun<'_>> = group
                .iter()
                .map(|done| {
                    let point = todo[done.slot];
                    NewRun {
                        run_id: &point.run_id,
                        spec: &point.spec,
                        sweep: sweep_name,
                        outcome: match &done.result {
                            Ok(out) => Outcome::Ran(out),
                            Err(msg) => Outcome::Failed(msg),
                        },
                        keep,
                        device: "cpu",
                        started_at: done.started_at,
                        finished_at: done.finished_at,
                        model: ModelFile::Saved(
                            done.model.as_ref().ok().and_then(|m| m.as_deref()),
                        ),
                    }
                })
                .collect();
            match store.record_many(&runs) {
                Err(e) => {
                    stop.store(true, Ordering::SeqCst);
                    first_error = Some(e.into());
                }
                Ok(()) => {
                    for done in &group {
                        progress.finished += 1;
                        progress.work_done += todo[done.slot].cost();
                        match &done.result {
                            Ok(out) if matches!(out.status, RunStatus::Diverged { .. }) => {
                                progress.diverged += 1
                            }
                            Ok(_) => progress.completed += 1,
                            Err(msg) => {
                                let point = todo[done.slot];
                                progress.failed += 1;
                                report.failures.push((
                                    point.run_id.clone(),
                                    point.label.clone(),
                                    msg.clone(),
                                ));
                            }
                        }
                    }
                }
            }
            on_progress(&progress);
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    report.interrupted = interrupted_runs > 0 || progress.finished < progress.todo;
    report.progress = progress;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_parallelism_uses_every_core() {
        assert_eq!(
            Parallelism::auto(2, 250),
            Parallelism {
                jobs: 2,
                threads_per_run: 1
            }
        );
        assert_eq!(
            Parallelism::auto(2, 1),
            Parallelism {
                jobs: 1,
                threads_per_run: 2
            }
        );
        assert_eq!(
            Parallelism::auto(16, 3),
            Parallelism {
                jobs: 3,
                threads_per_run: 5
            }
        );
    }
}
