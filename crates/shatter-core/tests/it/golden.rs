//! The engine against independent float64 implementations (`tests/data/*.npz`, see its README).

use ndarray::{Array0, Array1, Array2};
use ndarray_npy::NpzReader;
use shatter_core::grad::{forward, loss_and_gradient, Workspace};
use shatter_core::hessian::hvp::{HessianOperator, SharpnessTracker};
use shatter_core::hessian::lanczos::{LanczosOptions, SymmetricOperator};
use shatter_core::train::{train, Control, RunStatus, TrainConfig};
use shatter_core::{Activation, Dataset, Loss, Network, Shape};
use std::fs::File;
use std::path::PathBuf;

pub fn reference_path(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    assert!(
        p.exists(),
        "reference file {} is missing: it ships in crates/shatter-core/tests/data",
        p.display()
    );
    p
}

pub struct Reference {
    npz: NpzReader<File>,
}

impl Reference {
    pub fn open(name: &str) -> Self {
        Reference {
            npz: NpzReader::new(File::open(reference_path(name)).expect("open reference"))
                .expect("read npz"),
        }
    }
    pub fn matrix(&mut self, name: &str) -> Array2<f64> {
        self.npz
            .by_name(name)
            .unwrap_or_else(|e| panic!("array {name}: {e}"))
    }
    pub fn vector(&mut self, name: &str) -> Array1<f64> {
        self.npz
            .by_name(name)
            .unwrap_or_else(|e| panic!("array {name}: {e}"))
    }
    pub fn scalar(&mut self, name: &str) -> f64 {
        let a: Result<Array0<f64>, _> = self.npz.by_name(name);
        match a {
            Ok(a) => a.into_scalar(),
            Err(_) => self.vector(name)[0],
        }
    }
    pub fn dataset(&mut self) -> Dataset<f64> {
        let x = self.matrix("X");
        let d = x.ncols();
        Dataset::new(d, x.iter().copied().collect(), self.vector("y").to_vec())
            .expect("consistent X, y")
    }
    pub fn network(&mut self, suffix: &str) -> Network<f64> {
        let w = self.matrix(&format!("W{suffix}"));
        let shape = Shape {
            d: w.ncols(),
            width: w.nrows(),
            bias: true,
            activation: Activation::Relu,
        };
        let w: Vec<f64> = w.iter().copied().collect();
        let (b, v) = (
            self.vector(&format!("b{suffix}")),
            self.vector(&format!("v{suffix}")),
        );
        let beta = self.scalar(&format!("beta{suffix}"));
        Network::from_parts(
            shape,
            &w,
            b.as_slice().unwrap(),
            v.as_slice().unwrap(),
            beta,
        )
        .expect("shapes fit")
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

fn gd_config(epochs: usize, lr: f64, clip: Option<f64>) -> TrainConfig {
    TrainConfig {
        epochs,
        lr,
        weight_decay: 0.0,
        clip,
        momentum: 0.0,
        batch_size: None,
        mixup_alpha: None,
        loss: Loss::Square,
        sharpness_every: 0,
        test_every: 0,
        log_every: 1,
        lanczos: LanczosOptions {
            top_k: 1,
            rel_tol: 1e-10,
            max_iter: 200,
            ..LanczosOptions::default()
        },
        seed: 0,
    }
}

#[test]
fn gradient_at_init_matches_reference() {
    let mut r = Reference::open("small_f64.npz");
    let (data, net) = (r.dataset(), r.network("0"));
    let mut ws = Workspace::new(net.shape, data.n);
    let mut g = vec![0.0; net.shape.len()];
    loss_and_gradient(&net, &data, Loss::Square, &mut ws, &mut g);
    let want = Network::from_parts(
        net.shape,
        &r.matrix("grad_W0").iter().copied().collect::<Vec<_>>(),
        r.vector("grad_b0").as_slice().unwrap(),
        r.vector("grad_v0").as_slice().unwrap(),
        r.scalar("grad_beta0"),
    )
    .unwrap();
    for (t, (a, b)) in g.iter().zip(&want.params).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1e-3),
            "parameter {t}: {a} vs {b}"
        );
    }
}

fn dense_eigenvalues(net: &Network<f64>, data: &Dataset<f64>) -> Vec<f64> {
    let mut ws = Workspace::new(net.shape, data.n);
    forward(net, data, Loss::Square, &mut ws);
    let (mut a, mut b) = (vec![0.0; net.shape.len()], vec![0.0; net.shape.len()]);
    let mut op = HessianOperator::new(net, data, &mut ws, &mut a, &mut b);
    let p = op.dim();
    let mut h = nalgebra::DMatrix::<f64>::zeros(p, p);
    let mut e = vec![0.0; p];
    let mut col = vec![0.0; p];
    for t in 0..p {
        e.fill(0.0);
        e[t] = 1.0;
        op.apply(&e, &mut col);
        for s in 0..p {
            h[(s, t)] = col[s];
        }
    }
    let asym = (&h - h.transpose()).amax();
    assert!(asym < 1e-12, "Hessian not symmetric: {asym}");
    let mut eig: Vec<f64> = nalgebra::SymmetricEigen::new(h)
        .eigenvalues
        .iter()
        .copied()
        .collect();
    eig.sort_by(f64::total_cmp);
    eig
}

#[test]
fn dense_hessian_spectrum_matches_reference_at_init_and_after_training() {
    let mut r = Reference::open("small_f64.npz");
    let data = r.dataset();
    for (suffix, eigs) in [("0", "hessian_eigs0"), ("", "hessian_eigs")] {
        let net = r.network(suffix);
        let want = r.vector(eigs);
        let got = dense_eigenvalues(&net, &data);
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (t, (a, b)) in got.iter().zip(want.iter()).enumerate() {
            assert!((a - b).abs() <= 1e-10 * scale, "{eigs}[{t}]: {a} vs {b}");
        }
    }
}

#[test]
fn training_small_network_reproduces_reference_weights_and_loss() {
    let mut r = Reference::open("small_f64.npz");
    let (data, mut net) = (r.dataset(), r.network("0"));
    let lr = r.scalar("eta");
    let out = train(
        &mut net,
        &data,
        None,
        &gd_config(200, lr, None),
        &mut |_| Control::Continue,
    );
    assert_eq!(out.status, RunStatus::Completed);
    let want = r.network("");
    for (t, (a, b)) in net.params.iter().zip(&want.params).enumerate() {
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1e-2),
            "parameter {t} after 200 steps: {a} vs {b}"
        );
    }
    let final_loss = r.scalar("final_loss");
    assert!(
        rel(out.final_loss, final_loss) < 1e-9,
        "final loss {} vs {final_loss}",
        out.final_loss
    );
    let top = *r.vector("hessian_eigs").iter().last().unwrap();
    let est = out
        .final_sharpness
        .expect("final sharpness is always measured");
    assert!(
        (est.sharpness - top).abs() <= est.error_bound + 1e-9 * top,
        "sharpness {} +- {} vs dense {top}",
        est.sharpness,
        est.error_bound
    );
}

#[test]
fn edge_of_stability_trajectory_matches_reference() {
    let mut r = Reference::open("shattering_f64.npz");
    let (data, mut net) = (r.dataset(), r.network("0"));
    let (lr, clip) = (r.scalar("eta"), r.scalar("clip"));
    let want = r.vector("loss_before_step");
    let out = train(
        &mut net,
        &data,
        None,
        &gd_config(want.len(), lr, Some(clip)),
        &mut |_| Control::Continue,
    );
    assert_eq!(out.status, RunStatus::Completed);
    for (t, w) in want.iter().enumerate() {
        let got = out.trajectory[t].train_loss;
        assert_eq!(out.trajectory[t].epoch, t);
        assert!(rel(got, *w) < 1e-9, "loss before step {t}: {got} vs {w}");
    }
    let final_loss = r.scalar("final_loss");
    assert!(
        rel(out.final_loss, final_loss) < 1e-9,
        "final loss {} vs {final_loss}",
        out.final_loss
    );
    let want_net = r.network("");
    let max_err = net
        .params
        .iter()
        .zip(&want_net.params)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(max_err < 1e-8, "final weights differ by {max_err}");
    let sharp = r.scalar("final_sharpness");
    let est = out.final_sharpness.expect("final sharpness");
    assert!(
        est.spectrum.converged,
        "Lanczos did not converge: {:?}",
        est.spectrum.top
    );
    assert!(
        rel(est.sharpness, sharp) < 1e-8,
        "sharpness {} vs {sharp}",
        est.sharpness
    );
    crate::bound::check_bound(&net, &data, "shattering reference network after 500 steps");
    // And a fresh tracker (no warm start) agrees within its certified bound.
    let mut ws = Workspace::new(net.shape, data.n);
    forward(&net, &data, Loss::Square, &mut ws);
    let opts = LanczosOptions {
        top_k: 1,
        ..LanczosOptions::default()
    };
    let cold = SharpnessTracker::new(net.shape, opts)
        .measure(&net, &data, &mut ws)
        .unwrap();
    assert!(
        (cold.sharpness - sharp).abs() <= cold.error_bound.max(1e-4 * sharp),
        "cold {} +- {} vs {sharp}",
        cold.sharpness,
        cold.error_bound
    );
}
