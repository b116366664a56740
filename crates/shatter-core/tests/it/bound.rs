//! The flatness bound of SCIENCE.md section 4, `|f|_Vg <= lambda_max/2 - 1/2 + (R+1) sqrt(2L)`,
//! on thousands of random networks and data sets, and on networks after training. A violation
//! is a bug in the gradient, the Hessian, Lanczos or `g`, never a tolerance to loosen: the only
//! slack allowed is the certified Lanczos error and float rounding.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shatter_core::grad::{forward, Workspace};
use shatter_core::hessian::hvp::SharpnessTracker;
use shatter_core::hessian::lanczos::LanczosOptions;
use shatter_core::measure::{bound_holds_certified, variation_summary};
use shatter_core::train::{train, Control, TrainConfig};
use shatter_core::{Activation, Dataset, Loss, Network, Shape};

/// Checks the bound at `net` and returns (vg_norm, bound).
pub fn check_bound(net: &Network<f64>, data: &Dataset<f64>, what: &str) -> (f64, f64) {
    let mut ws = Workspace::new(net.shape, data.n);
    let loss = forward(net, data, Loss::Square, &mut ws);
    let opts = LanczosOptions {
        top_k: 1,
        smallest: false,
        rel_tol: 1e-10,
        max_iter: 300,
        ..LanczosOptions::default()
    };
    let est = SharpnessTracker::new(net.shape, opts)
        .measure(net, data, &mut ws)
        .expect("finite Hessian");
    let v = variation_summary(net, data, est.sharpness, loss).expect("measurable network");
    assert!(
        bound_holds_certified(v.vg_norm, v.vg_bound, est.error_bound),
        "{what}: |f|_Vg = {} > bound {} (lambda_max {} +- {}, L {loss}, R {})",
        v.vg_norm,
        v.vg_bound,
        est.sharpness,
        est.error_bound,
        v.radius
    );
    (v.vg_norm, v.vg_bound)
}

fn random_problem(seed: u64) -> (Network<f64>, Dataset<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = rng.random_range(1..=6);
    let width = rng.random_range(1..=40);
    let n = rng.random_range(2..=60);
    let scale = 10f64.powf(rng.random_range(-1.0..1.0));
    let input_scale = 10f64.powf(rng.random_range(-0.5..0.5));
    let shape = Shape {
        d,
        width,
        bias: true,
        activation: Activation::Relu,
    };
    let net = Network::init(shape, seed, scale);
    let gaussian = rng.random_bool(0.5);
    let x: Vec<f64> = (0..n * d)
        .map(|_| {
            if gaussian {
                input_scale
                    * <rand_distr::StandardNormal as rand_distr::Distribution<f64>>::sample(
                        &rand_distr::StandardNormal,
                        &mut rng,
                    )
            } else {
                input_scale * rng.random_range(-1.0..1.0)
            }
        })
        .collect();
    let y: Vec<f64> = (0..n).map(|_| 3.0 * rng.random_range(-1.0..1.0)).collect();
    (net, Dataset::new(d, x, y).expect("consistent"))
}

#[test]
fn flatness_bound_holds_on_thousands_of_random_networks() {
    let mut tight = 0.0f64;
    for seed in 0..2000 {
        let (net, data) = random_problem(seed);
        let (vg, bound) = check_bound(&net, &data, &format!("random network, seed {seed}"));
        tight = tight.max(vg / bound);
    }
    // The check is not vacuous: some networks come close to the bound.
    assert!(
        tight > 0.05,
        "every network is far below its bound (max ratio {tight})"
    );
}

#[test]
fn flatness_bound_holds_along_training() {
    for seed in 0..6 {
        let (mut net, data) = random_problem(10_000 + seed);
        for lr in [0.05, 0.5, 2.0] {
            let cfg = TrainConfig {
                epochs: 300,
                lr,
                weight_decay: 0.0,
                clip: Some(50.0),
                momentum: 0.0,
                batch_size: None,
                mixup_alpha: None,
                loss: Loss::Square,
                sharpness_every: 0,
                test_every: 0,
                log_every: 100,
                lanczos: LanczosOptions::default(),
                seed,
            };
            let out = train(&mut net, &data, None, &cfg, &mut |_| Control::Continue);
            if net.is_finite() && out.final_loss.is_finite() {
                check_bound(
                    &net,
                    &data,
                    &format!("trained network, seed {}, lr {lr}", 10_000 + seed),
                );
            }
        }
    }
}
