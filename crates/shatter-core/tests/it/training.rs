//! End-to-end properties of the training loop.

use shatter_core::hessian::lanczos::LanczosOptions;
use shatter_core::train::{train, Control, RunStatus, TrainConfig};
use shatter_core::{Activation, Dataset, Loss, Network, Shape};

fn toy(n: usize, d: usize, seed: u64) -> Dataset<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f64> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| x[i * d] + 0.1 * rng.random_range(-1.0..1.0))
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
        sharpness_every: 10,
        test_every: 10,
        log_every: 5,
        lanczos: LanczosOptions::default(),
        seed: 4,
    }
}

#[test]
fn a_huge_step_is_recorded_as_diverged() {
    let data = toy(20, 2, 1);
    let shape = Shape {
        d: 2,
        width: 8,
        bias: true,
        activation: Activation::Relu,
    };
    let mut net = Network::<f32>::init(shape, 1, 1.0);
    let out = train(&mut net, &data.cast(), None, &config(500, 1e4), &mut |_| {
        Control::Continue
    });
    match out.status {
        RunStatus::Diverged { epoch, .. } => assert!(
            epoch < 500 && epoch == out.epochs_run,
            "seed 1: diverged at {epoch}"
        ),
        other => panic!("seed 1: expected divergence, got {other:?}"),
    }
    assert!(out.final_sharpness.is_none());
}

#[test]
fn gd_decreases_the_loss_and_records_sharpness_on_schedule() {
    let data = toy(30, 2, 2);
    let shape = Shape {
        d: 2,
        width: 16,
        bias: true,
        activation: Activation::Relu,
    };
    let mut net = Network::<f64>::init(shape, 2, 1.0);
    let out = train(&mut net, &data, None, &config(40, 0.2), &mut |_| {
        Control::Continue
    });
    assert_eq!(out.status, RunStatus::Completed);
    let epochs: Vec<usize> = out.trajectory.iter().map(|r| r.epoch).collect();
    assert_eq!(epochs, vec![0, 5, 10, 15, 20, 25, 30, 35, 40]);
    let sharp: Vec<usize> = out
        .trajectory
        .iter()
        .filter(|r| r.sharpness.is_some())
        .map(|r| r.epoch)
        .collect();
    assert_eq!(sharp, vec![0, 10, 20, 30, 40]);
    assert!(
        out.final_loss < out.trajectory[0].train_loss,
        "seed 2: loss did not decrease"
    );
}

#[test]
fn observer_can_interrupt() {
    let data = toy(10, 1, 3);
    let shape = Shape {
        d: 1,
        width: 4,
        bias: true,
        activation: Activation::Relu,
    };
    let mut net = Network::<f64>::init(shape, 3, 1.0);
    let out = train(&mut net, &data, None, &config(100, 0.1), &mut |r| {
        if r.epoch >= 20 {
            Control::Stop
        } else {
            Control::Continue
        }
    });
    assert_eq!(out.status, RunStatus::Interrupted { epoch: 20 });
}

#[test]
fn minibatch_sgd_with_momentum_and_decay_trains() {
    let data = toy(64, 3, 5);
    for activation in [Activation::Relu, Activation::Gelu] {
        let shape = Shape {
            d: 3,
            width: 32,
            bias: false,
            activation,
        };
        let mut net = Network::<f32>::init(shape, 5, 1.0);
        let mut cfg = config(30, 0.05);
        cfg.batch_size = Some(16);
        cfg.momentum = 0.9;
        cfg.weight_decay = 1e-3;
        let out = train(&mut net, &data.cast(), None, &cfg, &mut |_| {
            Control::Continue
        });
        assert_eq!(out.status, RunStatus::Completed, "{activation:?}");
        assert!(
            out.final_loss < out.trajectory[0].train_loss,
            "seed 5 {activation:?}: loss did not decrease"
        );
        assert!(net.b().iter().all(|&b| b == 0.0), "biases stay off");
    }
}

#[test]
fn mixup_trains_on_mixed_data_but_records_the_original_loss() {
    let data = toy(48, 2, 6);
    let shape = Shape {
        d: 2,
        width: 24,
        bias: true,
        activation: Activation::Relu,
    };
    let mut plain = Network::<f64>::init(shape, 6, 1.0);
    let mut mixed = plain.clone();
    let cfg = config(50, 0.1);
    let a = train(&mut plain, &data, None, &cfg, &mut |_| Control::Continue);
    let b = train(
        &mut mixed,
        &data,
        None,
        &TrainConfig {
            mixup_alpha: Some(0.4),
            ..cfg.clone()
        },
        &mut |_| Control::Continue,
    );
    assert_eq!(
        a.trajectory[0].train_loss, b.trajectory[0].train_loss,
        "epoch 0 is the same network on the same data"
    );
    assert_ne!(
        plain.params, mixed.params,
        "seed 6: mixup changed the steps"
    );
    assert!(
        b.final_loss < b.trajectory[0].train_loss,
        "seed 6: mixup still fits the data"
    );
    let mut again = Network::<f64>::init(shape, 6, 1.0);
    train(
        &mut again,
        &data,
        None,
        &TrainConfig {
            mixup_alpha: Some(0.4),
            ..cfg
        },
        &mut |_| Control::Continue,
    );
    assert_eq!(again.params, mixed.params, "mixup draws are seeded");
}
