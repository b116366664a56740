//! `shatter bench`: seconds per GD step, per Hessian-vector product and per sharpness estimate,
//! and GFLOP/s counting `4 n K d + 6 n K` flops per step (the figure BENCHMARKS.md records).

use super::{usage, with_threads};
use crate::args::{BenchArgs, Global};
use shatter_core::data::generate::{generate, DataSpec};
use shatter_core::grad::{forward, hvp, loss_and_gradient, loss_and_gradient_fused, Workspace};
use shatter_core::hessian::hvp::SharpnessTracker;
use shatter_core::hessian::lanczos::LanczosOptions;
use shatter_core::train::{train, Control, TrainConfig};
use shatter_core::{Activation, Dataset, Float, Loss, Network, Shape};
use std::time::Instant;

/// One shape's timings.
#[derive(Debug, serde::Serialize)]
struct Timing {
    name: String,
    precision: &'static str,
    activation: &'static str,
    threads: usize,
    d: usize,
    n: usize,
    width: usize,
    seconds_per_gd_step: f64,
    gflops_gd_step: f64,
    seconds_per_gradient: f64,
    seconds_per_gradient_storing: f64,
    seconds_per_hvp: f64,
    seconds_per_sharpness: f64,
    hvps_per_sharpness: usize,
    seconds_per_20_hvp: f64,
}

fn time_per_call(min_seconds: f64, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut reps = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        let s = t.elapsed().as_secs_f64();
        if s >= min_seconds || reps > 1 << 24 {
            return s / reps as f64;
        }
        reps = (reps * 2).max((reps as f64 * min_seconds / s.max(1e-9) * 1.1) as usize);
    }
}

fn bench_shape<F: Float>(
    name: &str,
    d: usize,
    n: usize,
    width: usize,
    activation: Activation,
    args: &BenchArgs,
    threads: usize,
) -> Timing {
    let problem = generate(&DataSpec::new(n, d), 0).expect("a valid default problem");
    let data: Dataset<F> = problem.train.cast();
    let shape = Shape {
        d,
        width,
        bias: true,
        activation,
    };
    let net0 = Network::<F>::init(shape, 0, 1.0);
    let mut ws = Workspace::new(shape, n);
    let mut grad = vec![F::zero(); shape.len()];
    // The streaming gradient training runs on most epochs, and the one that keeps the
    // pre-activations for Hessian-vector products (epochs with a sharpness estimate).
    let seconds_per_gradient = time_per_call(args.seconds / 4.0, || {
        loss_and_gradient_fused(&net0, &data, Loss::Square, &mut ws, &mut grad);
    });
    let seconds_per_gradient_storing = time_per_call(args.seconds / 4.0, || {
        loss_and_gradient(&net0, &data, Loss::Square, &mut ws, &mut grad);
    });
    // Whole GD steps through the trainer (gradient, clipping, update), 200 epochs at a time.
    let epochs = 200;
    let cfg = TrainConfig {
        epochs,
        lr: 0.01,
        weight_decay: 0.0,
        clip: Some(50.0),
        momentum: 0.0,
        batch_size: None,
        mixup_alpha: None,
        loss: Loss::Square,
        sharpness_every: 0,
        test_every: 0,
        log_every: epochs,
        lanczos: LanczosOptions {
            max_iter: 2,
            ..LanczosOptions::default()
        },
        seed: 0,
    };
    let mut net = net0.clone();
    let per_run = time_per_call(args.seconds / 4.0, || {
        net.params.copy_from_slice(&net0.params);
        train(&mut net, &data, None, &cfg, &mut |_| Control::Continue);
    });
    // Subtract the final sharpness estimate the trainer always makes (2 products at most).
    forward(&net0, &data, Loss::Square, &mut ws);
    let dir = grad.clone();
    let mut out = vec![F::zero(); shape.len()];
    let seconds_per_hvp = time_per_call(args.seconds / 4.0, || {
        hvp(&net0, &data, &mut ws, &dir, &mut out)
    });
    let seconds_per_gd_step =
        ((per_run - 2.0 * seconds_per_hvp - seconds_per_gradient) / epochs as f64).max(0.0);
    // A cold-start estimate at the default tolerance, as `shatter train` makes its first one.
    let opts = LanczosOptions {
        top_k: 1,
        smallest: false,
        ..LanczosOptions::default()
    };
    let mut products = 0;
    let mut tracker = SharpnessTracker::<F>::new(shape, opts);
    let seconds_per_sharpness = time_per_call(args.seconds / 4.0, || {
        tracker.forget();
        products = tracker
            .measure(&net0, &data, &mut ws)
            .map(|e| e.products)
            .unwrap_or(0);
    });
    let flops = (4 * n * width * d + 6 * n * width) as f64;
    Timing {
        name: name.to_string(),
        precision: F::NAME,
        activation: activation.name(),
        threads,
        d,
        n,
        width,
        seconds_per_gd_step,
        gflops_gd_step: flops / seconds_per_gd_step / 1e9,
        seconds_per_gradient,
        seconds_per_gradient_storing,
        seconds_per_hvp,
        seconds_per_sharpness,
        hvps_per_sharpness: products,
        seconds_per_20_hvp: 20.0 * seconds_per_hvp,
    }
}

pub fn run(args: BenchArgs, global: &Global) -> anyhow::Result<()> {
    let shapes: Vec<(String, usize, usize, usize)> = match (args.d, args.n, args.width) {
        (Some(d), Some(n), Some(k)) => vec![(format!("gd_step/d{d}_n{n}_k{k}"), d, n, k)],
        _ => vec![
            ("gd_step/d10_n512_k2048".into(), 10, 512, 2048),
            ("gd_step/d1_n30_k1000".into(), 1, 30, 1000),
        ],
    };
    let threads = super::cores(global);
    let activation = match args.activation.as_str() {
        "relu" => Activation::Relu,
        "gelu" => Activation::Gelu,
        other => {
            return Err(usage(format!(
                "--activation {other:?}: must be relu or gelu"
            )))
        }
    };
    let mut results = Vec::new();
    for (name, d, n, k) in shapes {
        if d == 0 || n == 0 || k == 0 {
            return Err(usage("--d, --n and --width must be at least 1"));
        }
        let t = match args.precision.as_str() {
            "f32" => with_threads(threads, || {
                bench_shape::<f32>(&name, d, n, k, activation, &args, threads)
            })?,
            "f64" => with_threads(threads, || {
                bench_shape::<f64>(&name, d, n, k, activation, &args, threads)
            })?,
            other => return Err(usage(format!("--precision {other:?}: must be f32 or f64"))),
        };
        println!(
            "{:<26} {} {} threads={} step {:>8.3} ms ({:>5.1} GFLOP/s)  gradient {:>7.3} ms (storing z {:>7.3} ms)  hvp {:>7.3} ms  20 hvp {:>7.3} ms  sharpness to 1e-4 ({} hvp) {:>7.3} ms",
            t.name,
            t.precision,
            t.activation,
            t.threads,
            t.seconds_per_gd_step * 1e3,
            t.gflops_gd_step,
            t.seconds_per_gradient * 1e3,
            t.seconds_per_gradient_storing * 1e3,
            t.seconds_per_hvp * 1e3,
            t.seconds_per_20_hvp * 1e3,
            t.hvps_per_sharpness,
            t.seconds_per_sharpness * 1e3
        );
        results.push(t);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&results)? + "\n")?;
    }
    Ok(())
}
