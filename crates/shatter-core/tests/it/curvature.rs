//! Curvature beyond the sharpness on real network Hessians: every eigenvalue above `1.5/eta`,
//! the smallest eigenvalue and the Hutch++ trace, each against the dense Hessian's exact
//! eigenvalues, in and away from the edge of stability; and thread-count invariance.

use nalgebra::{DMatrix, SymmetricEigen};
use shatter_core::grad::{forward, Workspace};
use shatter_core::hessian::hvp::HessianOperator;
use shatter_core::hessian::lanczos::{LanczosOptions, LanczosWorkspace, SymmetricOperator};
use shatter_core::hessian::outliers::{eigenvalues_above, smallest_eigenvalue, OutlierOptions};
use shatter_core::hessian::trace::hutch_plus_plus;
use shatter_core::train::{
    train, train_with_curvature, Control, CurvatureOptions, TrainConfig, TrainOutcome,
};
use shatter_core::{Activation, Dataset, Loss, Network, Shape};

fn toy(n: usize, d: usize, seed: u64) -> Dataset<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f64> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| x[i * d] + 0.5 * rng.random_range(-1.0..1.0))
        .collect();
    Dataset::new(d, x, y).unwrap()
}

fn config(epochs: usize, lr: f64) -> TrainConfig {
    TrainConfig {
        epochs,
        lr,
        weight_decay: 0.0,
        clip: None,
        momentum: 0.0,
        batch_size: None,
        mixup_alpha: None,
        loss: Loss::Square,
        sharpness_every: 50,
        test_every: 50,
        log_every: 50,
        lanczos: LanczosOptions {
            max_iter: 200,
            ..LanczosOptions::default()
        },
        seed: 4,
    }
}

fn shape(d: usize, width: usize) -> Shape {
    Shape {
        d,
        width,
        bias: true,
        activation: Activation::Relu,
    }
}

/// The dense Hessian at `net`, its eigenvalues descending.
fn dense(net: &Network<f64>, data: &Dataset<f64>) -> (DMatrix<f64>, Vec<f64>) {
    let mut ws = Workspace::new(net.shape, data.n);
    forward(net, data, Loss::Square, &mut ws);
    let (mut a, mut b) = (vec![0.0; net.shape.len()], vec![0.0; net.shape.len()]);
    let mut op = HessianOperator::new(net, data, &mut ws, &mut a, &mut b);
    let p = op.dim();
    let mut h = DMatrix::<f64>::zeros(p, p);
    let (mut e, mut col) = (vec![0.0; p], vec![0.0; p]);
    for t in 0..p {
        e.fill(0.0);
        e[t] = 1.0;
        op.apply(&e, &mut col);
        h.column_mut(t).copy_from_slice(&col);
    }
    let h = (&h + h.transpose()) * 0.5;
    let mut eig: Vec<f64> = SymmetricEigen::new(h.clone())
        .eigenvalues
        .iter()
        .copied()
        .collect();
    eig.sort_by(|a, b| b.total_cmp(a));
    (h, eig)
}

/// Trains a small network at `lr` (f64) and returns it with its data.
fn trained(
    d: usize,
    width: usize,
    lr: f64,
    epochs: usize,
    seed: u64,
) -> (Network<f64>, Dataset<f64>) {
    let data = toy(24, d, seed);
    let mut net = Network::<f64>::init(shape(d, width), seed, 1.0);
    train(&mut net, &data, None, &config(epochs, lr), &mut |_| {
        Control::Continue
    });
    (net, data)
}

#[test]
fn every_eigenvalue_above_the_threshold_matches_dense_within_its_bound() {
    let mut at_edge = 0;
    let mut outliers_seen = 0;
    for (case, &(d, width, lr)) in [
        (2, 4, 0.05),
        (2, 8, 0.8),
        (3, 8, 0.02),
        (3, 12, 1.0),
        (4, 16, 0.6),
        (4, 16, 0.01),
    ]
    .iter()
    .enumerate()
    {
        let (net, data) = trained(d, width, lr, 400, case as u64);
        let (_, exact) = dense(&net, &data);
        if exact[0] > 1.5 / lr {
            at_edge += 1;
        }
        // The papers' threshold, and one low enough to catch several outliers in every case.
        for tau in [1.5 / lr, 0.3 * exact[0]] {
            let mut ws = Workspace::new(net.shape, data.n);
            forward(&net, &data, Loss::Square, &mut ws);
            let (mut a, mut b) = (vec![0.0; net.shape.len()], vec![0.0; net.shape.len()]);
            let mut op = HessianOperator::new(&net, &data, &mut ws, &mut a, &mut b);
            let dim = op.dim();
            let opts = OutlierOptions {
                threshold: tau,
                max_iter: dim,
                seed: case as u64,
                ..OutlierOptions::default()
            };
            let mut lws = LanczosWorkspace::new(dim, dim);
            let out = eigenvalues_above(&mut op, &opts, &[], &mut lws).expect("finite Hessian");
            let label = format!("d={d} K={width} eta={lr} tau={tau}: {out:?} against {exact:?}");
            let above = exact.iter().filter(|&&l| l > tau).count();
            assert!(out.complete, "{label}");
            assert_eq!(out.count(), above, "{label}");
            outliers_seen += above;
            for (i, r) in out.values.iter().enumerate() {
                let err = (r.value - exact[i]).abs();
                assert!(
                    err <= r.error_bound + 1e-12 * exact[0],
                    "{label}: value {i}, error {err}"
                );
                assert!(
                    err <= out.block_bound + 1e-12 * exact[0],
                    "{label}: block bound"
                );
            }
            let next = exact.get(above).copied().unwrap_or(f64::NEG_INFINITY);
            assert!(
                out.missed_bound >= next - 1e-9 && out.missed_bound < tau,
                "{label}: the certificate must lie between the next eigenvalue and tau"
            );
        }
    }
    assert!(at_edge >= 1, "no case reached the edge of stability");
    assert!(
        outliers_seen >= 6,
        "too few outliers to test: {outliers_seen}"
    );
}

#[test]
fn smallest_eigenvalue_matches_dense_within_its_bound() {
    for (case, &(d, width, lr)) in [(2, 6, 0.5), (3, 10, 0.05), (4, 8, 1.0)].iter().enumerate() {
        let (net, data) = trained(d, width, lr, 300, 10 + case as u64);
        let (_, exact) = dense(&net, &data);
        let lambda_min = *exact.last().unwrap();
        let mut ws = Workspace::new(net.shape, data.n);
        forward(&net, &data, Loss::Square, &mut ws);
        let (mut a, mut b) = (vec![0.0; net.shape.len()], vec![0.0; net.shape.len()]);
        let mut op = HessianOperator::new(&net, &data, &mut ws, &mut a, &mut b);
        let dim = op.dim();
        let opts = LanczosOptions {
            max_iter: dim,
            seed: case as u64,
            ..LanczosOptions::default()
        };
        let mut lws = LanczosWorkspace::new(dim, dim);
        let (r, _) = smallest_eigenvalue(&mut op, &opts, &mut lws)
            .unwrap()
            .unwrap();
        let err = (r.value - lambda_min).abs();
        assert!(
            err <= r.error_bound + 1e-12 * exact[0],
            "d={d} K={width}: {r:?} against {lambda_min} (error {err})"
        );
        assert!(r.error_bound <= 1e-3 * exact[0], "converged: {r:?}");
    }
}

#[test]
fn hutch_plus_plus_matches_the_dense_trace_over_seeds() {
    let (net, data) = trained(3, 12, 1.0, 400, 21);
    let (h, _) = dense(&net, &data);
    let exact = h.trace();
    let mut ws = Workspace::new(net.shape, data.n);
    forward(&net, &data, Loss::Square, &mut ws);
    let (mut a, mut b) = (vec![0.0; net.shape.len()], vec![0.0; net.shape.len()]);
    let mut op = HessianOperator::new(&net, &data, &mut ws, &mut a, &mut b);
    let mut worst = 0.0_f64;
    for seed in 0..30 {
        let e = hutch_plus_plus(&mut op, 24, seed).unwrap();
        let z = (e.mean - exact) / e.standard_error;
        worst = worst.max(z.abs());
        assert!(z.abs() < 5.0, "seed {seed}: {e:?} against {exact}");
    }
    assert!(worst > 0.0, "the estimator is random");
}

fn run_with(threads: usize, curvature: &CurvatureOptions) -> TrainOutcome {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let data = toy(64, 3, 7).cast::<f32>();
        let mut net = Network::<f32>::init(shape(3, 600), 7, 1.0);
        let cfg = TrainConfig {
            clip: Some(50.0),
            ..config(120, 0.5)
        };
        train_with_curvature(&mut net, &data, None, &cfg, curvature, &mut |_| {
            Control::Continue
        })
    })
}

#[test]
fn curvature_along_training_is_the_same_for_any_thread_count_and_certified() {
    let curvature = CurvatureOptions {
        outlier_threshold: Some(1.5),
        trace_products: 30,
    };
    let one = run_with(1, &curvature);
    let two = run_with(2, &curvature);
    assert_eq!(one.curvature, two.curvature);
    assert_eq!(one.hvp_count, two.hvp_count);
    // A record at every sharpness record: epochs 0, 50, 100 and the last.
    let epochs: Vec<usize> = one.curvature.iter().map(|r| r.epoch).collect();
    assert_eq!(epochs, vec![0, 50, 100, 120], "{:?}", one.status);
    for r in &one.curvature {
        let o = r.outliers.as_ref().expect("outliers measured");
        assert!((o.threshold - 1.5 / 0.5).abs() < 1e-12);
        assert!(o.vectors.is_empty(), "vectors are not kept in the record");
        assert!(o.values.iter().all(|v| v.value > o.threshold));
        let t = r.trace.expect("trace measured");
        assert!(t.standard_error.is_finite() && t.probes == 30);
    }
    // Without curvature, nothing is recorded and fewer products are spent.
    let plain = run_with(1, &CurvatureOptions::default());
    assert!(plain.curvature.is_empty() && plain.hvp_count < one.hvp_count);
    assert_eq!(plain.trajectory, one.trajectory);
}
