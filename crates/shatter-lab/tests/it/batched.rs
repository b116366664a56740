//! Batched execution (`execute_batch`, `run_sweep_batched`) against the one-run-at-a-time path,
//! with `CpuBatch` standing in for a GPU: the same numbers, the same store, the device
//! recorded, unsupported runs on the CPU, stop and resume.

use shatter_core::batch::{BatchError, BatchObserver, BatchRun, BatchTrainer, CpuBatch};
use shatter_core::train::{Control, TrainConfig, TrainOutcome};
use shatter_core::{Float, Shape};
use shatter_lab::run::{execute, execute_batch, RunError, RunOptions};
use shatter_lab::store::Store;
use shatter_lab::sweep::{
    run_sweep, run_sweep_batched, split_for_device, Batching, Parallelism, Point, SweepSpec,
};
use std::sync::atomic::{AtomicBool, Ordering};

const SERIAL: Parallelism = Parallelism {
    jobs: 1,
    threads_per_run: 1,
};

/// `CpuBatch` posing as a GPU: the GPU crate's rules on what it supports (no mini-batches, no
/// mixup) and a device label of its own.
struct GpuLike;

const GPU_LIKE: &str = "test:0 (CpuBatch posing as a GPU)";

impl<F: Float> BatchTrainer<F> for GpuLike {
    fn device(&self) -> String {
        GPU_LIKE.to_string()
    }

    fn unsupported(&self, shape: &Shape, n: usize, cfg: &TrainConfig) -> Option<String> {
        shatter_gpu::unsupported(shape, n, cfg)
    }

    fn train_batch(
        &mut self,
        runs: &mut [BatchRun<'_, F>],
        observe: &BatchObserver<'_>,
    ) -> Result<Vec<TrainOutcome>, BatchError> {
        CpuBatch.train_batch(runs, observe)
    }
}

/// A device that always fails.
struct Broken;

impl<F: Float> BatchTrainer<F> for Broken {
    fn device(&self) -> String {
        "broken:0".to_string()
    }

    fn unsupported(&self, _: &Shape, _: usize, _: &TrainConfig) -> Option<String> {
        None
    }

    fn train_batch(
        &mut self,
        _: &mut [BatchRun<'_, F>],
        _: &BatchObserver<'_>,
    ) -> Result<Vec<TrainOutcome>, BatchError> {
        Err(BatchError("out of device memory".into()))
    }
}

/// Runs of different `d`, `n`, width, seed, step size and precision; sharpness measured
/// (seeds 3 and 11).
const VARIED: &str = r#"name = "varied"
[base]
epochs = 30
n_test = 30
clip = 5.0
[measure]
sharpness_every = 10
log_every = 5
[[zip]]
d = [1, 2, 3, 1, 2]
n = [8, 16, 12, 20, 10]
width = [16, 8, 32, 12, 24]
seed = [3, 11, 3, 11, 3]
lr = [0.2, 0.05, 0.1, 0.3, 0.01]
weight_decay = [0.0, 0.01, 0.0, 0.1, 0.0]
precision = ["f64", "f32", "f32", "f64", "f64"]
"#;

/// Full-batch and mini-batch runs (`batch_size` 0 or 4) in both precisions (seed 0).
const MIXED: &str = r#"name = "mixed"
[base]
epochs = 20
width_per_n = 2
n_test = 40
[measure]
sharpness_every = 10
log_every = 5
[grid]
d = [1, 2]
n = [8, 12]
precision = ["f32", "f64"]
[[zip]]
lr = [0.2, 0.01]
batch_size = [0, 4]
"#;

fn points(text: &str) -> Vec<Point> {
    SweepSpec::from_toml(text, "batched.toml")
        .expect("spec parses")
        .points()
        .expect("spec expands")
}

#[test]
fn execute_batch_on_the_cpu_gives_what_execute_gives() {
    let points = points(VARIED);
    let cfgs: Vec<_> = points.iter().map(|p| p.config.clone()).collect();
    let seen = std::sync::Mutex::new(vec![0usize; cfgs.len()]);
    let mut trainer = CpuBatch;
    let got = execute_batch(&cfgs, &RunOptions::default(), &mut trainer, &|i, _| {
        seen.lock().unwrap()[i] += 1;
        Control::Continue
    });
    assert_eq!(got.len(), cfgs.len());
    for ((p, got), seen) in points.iter().zip(got).zip(seen.into_inner().unwrap()) {
        let want = execute(&p.config, &RunOptions::default(), &mut |_| {
            Control::Continue
        })
        .unwrap_or_else(|e| panic!("{}: {e}", p.label));
        let got = got.unwrap_or_else(|e| panic!("{}: {e}", p.label));
        let mut summary = got.summary.clone();
        summary.wall_seconds = want.summary.wall_seconds;
        assert_eq!(
            summary, want.summary,
            "{} (VARIED, seeds 3 and 11)",
            p.label
        );
        assert!(want.summary.sharpness.is_some(), "{}", p.label);
        assert_eq!(got.trajectory, want.trajectory, "{}", p.label);
        assert_eq!(got.model, want.model, "{}", p.label);
        assert_eq!(got.neurons, want.neurons, "{}", p.label);
        assert_eq!(got.status, want.status, "{}", p.label);
        assert_eq!((got.device.as_str(), want.device.as_str()), ("cpu", "cpu"));
        assert_eq!(seen, want.trajectory.len(), "{}: rows observed", p.label);
    }
}

#[test]
fn execute_batch_refuses_runs_the_device_cannot_train_and_trains_the_rest() {
    let points = points(MIXED);
    let cfgs: Vec<_> = points.iter().map(|p| p.config.clone()).collect();
    let got = execute_batch(&cfgs, &RunOptions::default(), &mut GpuLike, &|_, _| {
        Control::Continue
    });
    for (p, r) in points.iter().zip(got) {
        match (p.config.train.batch_size, r) {
            (None, Ok(out)) => assert_eq!(out.device, GPU_LIKE, "{}", p.label),
            (Some(_), Err(RunError::Unsupported { device, reason })) => {
                assert_eq!(device, GPU_LIKE);
                assert!(reason.contains("batch_size"), "{}: {reason}", p.label);
            }
            (b, r) => panic!("{} (batch_size {b:?}): {:?}", p.label, r.map(|o| o.status)),
        }
    }
}

#[test]
fn a_device_failure_fails_every_run_of_the_batch_with_the_device_named() {
    let points = points(VARIED);
    let cfgs: Vec<_> = points.iter().map(|p| p.config.clone()).collect();
    for r in execute_batch(&cfgs, &RunOptions::default(), &mut Broken, &|_, _| {
        Control::Continue
    }) {
        let err = r.expect_err("the device failed").to_string();
        assert!(
            err.contains("broken:0") && err.contains("out of device memory"),
            "{err}"
        );
    }
}

/// Asserts that `a` and `b` hold the same runs, apart from what may differ between identical
/// runs (wall time; timestamps are not loaded), where they ran and the model file's folder
/// (named after the store); the model files themselves must be equal.
fn assert_same_runs(a: &Store, b: &Store, what: &str) {
    let mut ids = a.run_ids().unwrap();
    ids.sort();
    let mut other = b.run_ids().unwrap();
    other.sort();
    assert_eq!(ids, other, "{what}: run ids");
    for id in ids {
        let strip = |s: &Store| {
            let mut r = s.load(&id).unwrap().unwrap();
            if let Some(sum) = r.summary.as_mut() {
                sum.wall_seconds = 0.0;
            }
            r.device = String::new();
            let model = r.model_path.take().map(|m| {
                let dir = s.path().parent().unwrap().to_path_buf();
                shatter_lab::io::load_model_npz(&dir.join(m)).unwrap()
            });
            (
                r,
                model,
                s.trajectory(&id).unwrap(),
                s.neurons(&id).unwrap(),
            )
        };
        assert!(strip(a) == strip(b), "{what}: run {id} differs");
    }
}

#[test]
fn a_batched_sweep_stores_what_run_sweep_stores_and_keeps_mini_batches_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let points = points(MIXED);
    let stop = AtomicBool::new(false);
    let mut reference = Store::open_writer(&dir.path().join("cpu.db")).unwrap();
    run_sweep(
        &points,
        &mut reference,
        "mixed",
        Default::default(),
        SERIAL,
        &stop,
        &mut |_| {},
    )
    .unwrap();
    let mut store = Store::open_writer(&dir.path().join("batched.db")).unwrap();
    let mut trainer = GpuLike;
    let mut last = None;
    let report = run_sweep_batched(
        &points,
        &mut store,
        "mixed",
        Default::default(),
        &mut Batching {
            trainer: &mut trainer,
            max_runs: 3,
        },
        SERIAL,
        &stop,
        &mut |p| last = Some(p.clone()),
    )
    .unwrap();
    assert!(
        !report.interrupted && report.failures.is_empty(),
        "{report:?}"
    );
    let mini = points
        .iter()
        .filter(|p| p.config.train.batch_size.is_some())
        .count();
    assert!(mini > 0 && mini < points.len());
    assert_eq!(report.on_cpu.len(), 1, "{:?}", report.on_cpu);
    assert!(
        report.on_cpu[0].0.contains("batch_size"),
        "{:?}",
        report.on_cpu
    );
    assert_eq!(report.on_cpu[0].1, mini);
    // The device's steps are the epochs of the runs it trained (the mini-batch runs' are not).
    let device_epochs: usize = points
        .iter()
        .filter(|p| p.config.train.batch_size.is_none())
        .map(|p| p.config.train.epochs)
        .sum();
    assert_eq!(report.device_steps, device_epochs);
    assert!(report.device_train_seconds > 0.0);
    let last = last.expect("progress was reported");
    assert_eq!(last, report.progress);
    assert_eq!(
        (last.finished, last.completed, last.todo),
        (points.len(), points.len(), points.len())
    );
    assert_same_runs(&store, &reference, "MIXED, seed 0");
    for p in &points {
        let run = store.load(&p.run_id).unwrap().unwrap();
        let want = if p.config.train.batch_size.is_some() {
            "cpu"
        } else {
            GPU_LIKE
        };
        assert_eq!(run.device, want, "{}", p.label);
    }
    // The split the CLI announces agrees.
    let split = split_for_device(&points, &GpuLike);
    assert_eq!(split.cpu.len(), mini);
    assert_eq!(split.cpu_reasons(), report.on_cpu);
}

#[test]
fn a_stopped_batched_sweep_stores_no_interrupted_run_and_resumes() {
    // The stop is set as the second batch starts, so its runs stop at their first row
    // (deterministically); 3000 epochs so that a missed stop would be visible as stored runs.
    const LONGER: &str = "name = \"longer\"\n[base]\nepochs = 3000\nwidth = 64\nn = 32\nn_test = 20\n[measure]\nsharpness_every = 0\nlog_every = 100\n[grid]\nd = [1, 2, 3]\n[[zip]]\nlr = [0.2, 0.01]\nweight_decay = [0.0, 0.1]\n";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let points = points(LONGER);
    let stop = AtomicBool::new(false);
    let mut trainer = GpuLike;
    let mut store = Store::open_writer(&db).unwrap();
    // Stop when the second batch starts (what Ctrl-C does then).
    let report = run_sweep_batched(
        &points,
        &mut store,
        "longer",
        Default::default(),
        &mut Batching {
            trainer: &mut trainer,
            max_runs: 2,
        },
        SERIAL,
        &stop,
        &mut |p| {
            if p.running > 0 && p.finished >= 2 {
                stop.store(true, Ordering::SeqCst);
            }
        },
    )
    .unwrap();
    assert!(report.interrupted, "{report:?}");
    let stored = store.run_ids().unwrap();
    assert_eq!(stored.len(), 2, "only the first batch is stored");
    for id in &stored {
        let run = store.load(id).unwrap().unwrap();
        assert_eq!(run.status, "completed", "no interrupted run is stored");
        assert_eq!(run.device, GPU_LIKE);
    }
    let stop = AtomicBool::new(false);
    let again = run_sweep_batched(
        &points,
        &mut store,
        "longer",
        Default::default(),
        &mut Batching {
            trainer: &mut trainer,
            max_runs: 2,
        },
        SERIAL,
        &stop,
        &mut |_| {},
    )
    .unwrap();
    assert!(!again.interrupted, "{again:?}");
    assert_eq!(
        (again.progress.skipped, again.progress.finished),
        (2, points.len() - 2)
    );
    assert_eq!(store.done_ids().unwrap().len(), points.len());
}

#[test]
fn a_device_failure_stops_the_sweep_and_stores_nothing_of_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let points = points(VARIED);
    let stop = AtomicBool::new(false);
    let mut store = Store::open_writer(&dir.path().join("r.db")).unwrap();
    let err = run_sweep_batched(
        &points,
        &mut store,
        "varied",
        Default::default(),
        &mut Batching {
            trainer: &mut Broken,
            max_runs: 100,
        },
        SERIAL,
        &stop,
        &mut |_| {},
    )
    .expect_err("the device fails")
    .to_string();
    assert!(
        err.contains("broken:0") && err.contains("out of device memory"),
        "{err}"
    );
    assert!(store.run_ids().unwrap().is_empty());
}
