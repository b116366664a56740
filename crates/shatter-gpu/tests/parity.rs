//! CPU and GPU agree: the same batch of runs (mixed n, d, K, step sizes, decays, clipping,
//! momentum, losses, activations, biases) trained by `shatter_core::train::train` and by the CUDA
//! trainer. They need a CUDA device, so they are ignored by default: on a GPU machine run
//! `cargo test -p shatter-gpu --release -- --include-ignored` (or the built test binary with
//! `--include-ignored`). Asked to run without a device, they fail saying why.

use shatter_core::batch::{BatchRun, BatchTrainer};
use shatter_core::data::generate::{generate, DataSpec};
use shatter_core::hessian::lanczos::LanczosOptions;
use shatter_core::train::{train, Control, RunStatus, TrainConfig, TrainOutcome};
use shatter_core::{Activation, Dataset, Float, Loss, Network, Shape};
use shatter_gpu::{CudaTrainer, GpuError, GpuFloat};

fn trainer() -> CudaTrainer {
    CudaTrainer::new(0).unwrap_or_else(|e| panic!("{e}"))
}

/// One run of the parity batch.
struct Case {
    shape: Shape,
    n: usize,
    cfg: TrainConfig,
    seed: u64,
}

fn cases(epochs: usize) -> Vec<Case> {
    let mut out = Vec::new();
    let grid = [
        // d, width, n, lr, decay, clip, momentum, loss, activation, bias
        (
            1,
            16,
            24,
            0.2,
            0.0,
            None,
            0.0,
            Loss::Square,
            Activation::Relu,
            true,
        ),
        (
            2,
            40,
            64,
            0.1,
            0.01,
            Some(5.0),
            0.0,
            Loss::Square,
            Activation::Relu,
            true,
        ),
        (
            5,
            300,
            100,
            0.05,
            0.0,
            Some(1.0),
            0.9,
            Loss::Mse,
            Activation::Relu,
            false,
        ),
        (
            3,
            64,
            33,
            0.1,
            0.001,
            None,
            0.0,
            Loss::Square,
            Activation::Gelu,
            true,
        ),
        (
            17,
            20,
            50,
            0.05,
            0.0,
            None,
            0.0,
            Loss::Square,
            Activation::Relu,
            true,
        ),
        (
            70,
            8,
            40,
            0.02,
            0.0,
            None,
            0.0,
            Loss::Square,
            Activation::Relu,
            true,
        ),
        (
            1,
            24,
            30,
            0.3,
            0.0,
            None,
            0.0,
            Loss::Logistic,
            Activation::Relu,
            true,
        ),
    ];
    for (i, &(d, width, n, lr, wd, clip, mom, loss, activation, bias)) in grid.iter().enumerate() {
        out.push(Case {
            shape: Shape {
                d,
                width,
                bias,
                activation,
            },
            n,
            seed: i as u64,
            cfg: TrainConfig {
                epochs,
                lr,
                weight_decay: wd,
                clip,
                momentum: mom,
                batch_size: None,
                loss,
                sharpness_every: (epochs / 2).max(1),
                test_every: (epochs / 4).max(1),
                log_every: (epochs / 10).max(1),
                lanczos: LanczosOptions::default(),
                mixup_alpha: None,
                seed: i as u64,
            },
        });
    }
    out
}

fn data_for(case: &Case) -> (Dataset<f64>, Dataset<f64>) {
    let mut spec = DataSpec::new(case.n, case.shape.d);
    if case.cfg.loss == Loss::Logistic {
        spec.labels = shatter_core::data::generate::Labels::Bernoulli;
    }
    let problem = generate(&spec, case.seed).expect("valid spec");
    let test = problem.test_set(200);
    (problem.train, test)
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-12)
}

/// A case trained both ways: CPU outcome and network, GPU outcome and network, training set.
type Pair<T> = (
    TrainOutcome,
    Network<T>,
    TrainOutcome,
    Network<T>,
    Dataset<T>,
);

/// Trains every case on the CPU and, as one batch, on the GPU.
fn both<T: GpuFloat>(gpu: &mut CudaTrainer, cases: &[Case], stop_at: Option<usize>) -> Vec<Pair<T>>
where
    CudaTrainer: BatchTrainer<T>,
{
    let sets: Vec<(Dataset<T>, Dataset<T>)> = cases
        .iter()
        .map(|c| {
            let (a, b) = data_for(c);
            (a.cast(), b.cast())
        })
        .collect();
    let start: Vec<Network<T>> = cases
        .iter()
        .map(|c| Network::<f64>::init(c.shape, c.seed, 1.0).cast())
        .collect();
    let stop = |epoch: usize| match stop_at {
        Some(s) if epoch >= s => Control::Stop,
        _ => Control::Continue,
    };
    let cpu: Vec<(TrainOutcome, Network<T>)> = cases
        .iter()
        .zip(&sets)
        .zip(&start)
        .map(|((c, (train_set, test_set)), net)| {
            let mut net = net.clone();
            let out = train(&mut net, train_set, Some(test_set), &c.cfg, &mut |r| {
                stop(r.epoch)
            });
            (out, net)
        })
        .collect();
    let mut nets = start.clone();
    let mut runs: Vec<BatchRun<'_, T>> = nets
        .iter_mut()
        .zip(&sets)
        .zip(cases)
        .map(|((net, (train_set, test_set)), c)| BatchRun {
            net,
            data: train_set,
            test: Some(test_set),
            cfg: &c.cfg,
        })
        .collect();
    let gpu_out = gpu
        .train_batch(&mut runs, &|_, r| stop(r.epoch))
        .expect("the GPU trains the batch");
    drop(runs);
    cpu.into_iter()
        .zip(gpu_out)
        .zip(nets)
        .zip(sets)
        .map(|((((co, cn), go), gn), (d, _))| (co, cn, go, gn, d))
        .collect()
}

/// Which training inputs each neuron fires on, skipping pre-activations within `tol` of 0.
fn pattern_mismatches<T: Float>(
    a: &Network<T>,
    b: &Network<T>,
    data: &Dataset<T>,
    tol: f64,
) -> usize {
    let s = a.shape;
    let mut bad = 0;
    for i in 0..data.n {
        let x = data.row(i);
        for k in 0..s.width {
            let za: f64 = a.b()[k].to64()
                + (0..s.d)
                    .map(|j| a.weight(k, j).to64() * x[j].to64())
                    .sum::<f64>();
            let zb: f64 = b.b()[k].to64()
                + (0..s.d)
                    .map(|j| b.weight(k, j).to64() * x[j].to64())
                    .sum::<f64>();
            if za.abs() > tol && zb.abs() > tol && (za > 0.0) != (zb > 0.0) {
                bad += 1;
            }
        }
    }
    bad
}

#[test]
#[ignore = "needs a CUDA device: run with --include-ignored on a GPU machine"]
fn f32_short_runs_agree_with_the_cpu() {
    let mut gpu = trainer();
    let cases = cases(40);
    for (i, (co, cn, go, gn, data)) in both::<f32>(&mut gpu, &cases, None).into_iter().enumerate() {
        assert_eq!(go.status, co.status, "case {i}");
        assert_eq!(go.epochs_run, co.epochs_run, "case {i}");
        assert_eq!(go.trajectory.len(), co.trajectory.len(), "case {i}");
        assert!(
            rel(go.final_loss, co.final_loss) < 1e-3,
            "case {i}: final loss GPU {} CPU {}",
            go.final_loss,
            co.final_loss
        );
        for (g, c) in go.trajectory.iter().zip(&co.trajectory) {
            assert_eq!(g.epoch, c.epoch, "case {i}");
            assert_eq!(g.sharpness.is_some(), c.sharpness.is_some(), "case {i}");
            assert_eq!(g.test_mse.is_some(), c.test_mse.is_some(), "case {i}");
            if let (Some(a), Some(b)) = (g.test_mse, c.test_mse) {
                assert!(
                    rel(a, b) < 1e-3,
                    "case {i} epoch {}: test {a} vs {b}",
                    g.epoch
                );
            }
            if let (Some(a), Some(b)) = (g.sharpness, c.sharpness) {
                assert!(
                    rel(a, b) < 1e-3,
                    "case {i} epoch {}: sharpness {a} vs {b}",
                    g.epoch
                );
            }
        }
        let (gs, cs) = (go.final_sharpness.unwrap(), co.final_sharpness.unwrap());
        assert!(rel(gs.sharpness, cs.sharpness) < 1e-3, "case {i}");
        assert_eq!(gn.shape, cn.shape);
        let _ = data;
    }
}

#[test]
#[ignore = "needs a CUDA device: run with --include-ignored on a GPU machine"]
fn f64_runs_agree_with_the_cpu_to_rounding() {
    let mut gpu = trainer();
    let cases = cases(100);
    for (i, (co, _, go, _, _)) in both::<f64>(&mut gpu, &cases, None).into_iter().enumerate() {
        assert_eq!(go.status, co.status, "case {i}");
        assert!(
            rel(go.final_loss, co.final_loss) < 1e-9,
            "case {i}: final loss GPU {} CPU {}",
            go.final_loss,
            co.final_loss
        );
        let (gs, cs) = (go.final_sharpness.unwrap(), co.final_sharpness.unwrap());
        assert!(rel(gs.sharpness, cs.sharpness) < 1e-7, "case {i}");
    }
}

#[test]
#[ignore = "needs a CUDA device: run with --include-ignored on a GPU machine"]
fn activation_patterns_are_identical_at_the_start() {
    let mut gpu = trainer();
    let cases = cases(1);
    for (i, (_, cn, _, gn, data)) in both::<f32>(&mut gpu, &cases, None).into_iter().enumerate() {
        assert_eq!(pattern_mismatches(&cn, &gn, &data, 1e-5), 0, "case {i}");
    }
}

#[test]
#[ignore = "needs a CUDA device: run with --include-ignored on a GPU machine"]
fn divergence_and_stops_match_the_cpu() {
    let mut gpu = trainer();
    let mut cases = cases(60);
    // A step far past 2 / sharpness blows up; the others are stopped by the observer.
    cases[1].cfg.lr = 1e4;
    cases[1].cfg.clip = None;
    for (i, (co, cn, go, gn, _)) in both::<f32>(&mut gpu, &cases, Some(30))
        .into_iter()
        .enumerate()
    {
        if i == 1 {
            // Both blow up; rounding may move the first non-finite loss by an epoch.
            match (go.status, co.status) {
                (RunStatus::Diverged { epoch: g, .. }, RunStatus::Diverged { epoch: c, .. }) => {
                    assert!(
                        g.abs_diff(c) <= 1,
                        "diverged at epoch {g} on the GPU, {c} on the CPU"
                    )
                }
                other => panic!("case 1 should diverge on both: {other:?}"),
            }
        } else {
            assert_eq!(go.status, co.status, "case {i}");
            assert_eq!(go.epochs_run, co.epochs_run, "case {i}");
            assert_eq!(go.status, RunStatus::Interrupted { epoch: 30 }, "case {i}");
            let worst = gn
                .params
                .iter()
                .zip(&cn.params)
                .map(|(a, b)| (a - b).abs() as f64)
                .fold(0.0, f64::max);
            assert!(worst < 1e-3, "case {i}: parameters differ by {worst}");
        }
    }
}

/// Also the report of what was loaded: `bench/gpu.sh` runs it with `--nocapture`.
#[test]
#[allow(clippy::print_stderr)]
fn probe_names_what_is_missing() {
    let libraries = shatter_gpu::load_libraries();
    eprintln!("libraries: {libraries}");
    for (what, dirs) in [
        ("the driver", &libraries.driver_searched),
        ("NVRTC", &libraries.nvrtc_searched),
    ] {
        if !dirs.is_empty() {
            eprintln!("searched for {what} after the loader's path: {dirs:?}");
        }
    }
    match shatter_gpu::probe(0) {
        Ok(info) => {
            eprintln!("device: {}", info.describe());
            assert!(!info.name.is_empty() && info.memory > 0);
            assert!(info.libraries.driver.is_some() && info.libraries.nvrtc.is_some());
            assert!(info.nvrtc_version.0 >= 11, "{:?}", info.nvrtc_version);
        }
        Err(GpuError::Unavailable(why)) => {
            eprintln!("no device: {why}");
            assert!(
                why.contains("libcuda") || why.contains("libnvrtc") || why.contains("device"),
                "{why}"
            )
        }
        Err(e) => panic!("{e}"),
    }
}
