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
        _ => PAPER_SHAPES
            .iter()
            .map(|&(d, n, k)| (format!("gd_step/d{d}_n{n}_k{k}"), d, n, k))
            .collect(),
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
    let peers = if args.peers {
        let shapes: Vec<(usize, usize, usize)> =
            results.iter().map(|t| (t.d, t.n, t.width)).collect();
        let peers = run_peers(&args, &shapes, threads)?;
        print_peers(&results, &peers);
        Some(peers)
    } else {
        None
    };
    if let Some(path) = &args.json {
        let doc = serde_json::json!({ "shatter": results, "peers": peers });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")?;
    }
    Ok(())
}

/// The shapes `shatter bench` times by default: the cod sweep's corners and its largest
/// `d = 1` run, the shattering run, the univariate run and an under-parameterised run.
const PAPER_SHAPES: &[(usize, usize, usize)] = &[
    (1, 32, 128),
    (3, 128, 512),
    (5, 512, 2048),
    (1, 512, 1024),
    (10, 512, 2048),
    (1, 30, 1000),
    (5, 1024, 64),
];

/// The peers, embedded so that `--peers` runs from any directory: (name, script).
const PEER_SCRIPTS: &[(&str, &str)] = &[
    ("jax", include_str!("../../../../bench/peer_jax.py")),
    ("pytorch", include_str!("../../../../bench/peer_torch.py")),
];
const SGEMM_SCRIPT: &str = include_str!("../../../../bench/sgemm.py");

/// What the peers measured in this run.
#[derive(Debug, serde::Serialize)]
struct PeerResults {
    /// The machine's fp32 limit: numpy sgemm GFLOP/s on the same threads.
    sgemm_gflops: f64,
    /// Each peer's JSON lines, one per shape.
    timings: Vec<serde_json::Value>,
}

/// Runs `script` (as `python -c`) with the interpreter of `--python` on `threads` threads (pinned to the first
/// `threads` cores when `taskset` exists) and parses its JSON lines.
fn run_python(
    args: &BenchArgs,
    name: &str,
    script: &str,
    extra: &[String],
    threads: usize,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let cpus = format!("0-{}", threads.saturating_sub(1));
    let pin = which("taskset");
    let mut cmd = match &pin {
        Some(taskset) => {
            let mut c = std::process::Command::new(taskset);
            c.arg("-c").arg(&cpus).arg(&args.python);
            c
        }
        None => std::process::Command::new(&args.python),
    };
    let t = threads.to_string();
    cmd.arg("-c")
        .arg(script)
        .args(extra)
        .env("OPENBLAS_NUM_THREADS", &t)
        .env("OMP_NUM_THREADS", &t)
        .env("MKL_NUM_THREADS", &t)
        .env("JAX_PLATFORMS", "cpu");
    // One thread: XLA's own pool off; more: XLA uses the cores `taskset` leaves it.
    if threads == 1 {
        cmd.env(
            "XLA_FLAGS",
            "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
        );
    }
    let out = cmd.output().map_err(|e| {
        anyhow::anyhow!(
            "--peers: cannot run {} for the {name} peer: {e}",
            args.python.display()
        )
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        anyhow::bail!(
            "--peers: the {name} peer failed under {} ({}): {last}",
            args.python.display(),
            out.status
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("--peers: the {name} peer printed {l:?}: {e}"))
        })
        .collect()
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

fn run_peers(
    args: &BenchArgs,
    shapes: &[(usize, usize, usize)],
    threads: usize,
) -> anyhow::Result<PeerResults> {
    let list = shapes
        .iter()
        .map(|(d, n, k)| format!("{d},{n},{k}"))
        .collect::<Vec<_>>()
        .join(";");
    let sgemm = run_python(args, "sgemm", SGEMM_SCRIPT, &[], threads)?;
    let sgemm_gflops = sgemm
        .first()
        .and_then(|v| v["gflops"].as_f64())
        .ok_or_else(|| anyhow::anyhow!("--peers: the sgemm script printed no rate"))?;
    let mut timings = Vec::new();
    for (name, script) in PEER_SCRIPTS {
        let mut extra = vec![
            "--shapes".to_string(),
            list.clone(),
            "--seconds".to_string(),
            args.seconds.to_string(),
        ];
        if *name == "pytorch" {
            extra.extend(["--threads".to_string(), threads.to_string()]);
        }
        timings.extend(run_python(args, name, script, &extra, threads)?);
    }
    Ok(PeerResults {
        sgemm_gflops,
        timings,
    })
}

/// One line per shape and peer: the peer's step and how many times faster shatter's is, and
/// shatter's step against the machine's sgemm rate.
fn print_peers(results: &[Timing], peers: &PeerResults) {
    println!(
        "machine fp32 limit (numpy sgemm, {} threads): {:.1} GFLOP/s",
        results.first().map_or(0, |t| t.threads),
        peers.sgemm_gflops
    );
    for t in results {
        println!(
            "{:<26} shatter {:>8.4} ms ({:>5.1} GFLOP/s, {:>4.1}% of sgemm)",
            t.name,
            t.seconds_per_gd_step * 1e3,
            t.gflops_gd_step,
            100.0 * t.gflops_gd_step / peers.sgemm_gflops
        );
        for p in peers.timings.iter().filter(|p| {
            p["d"].as_u64() == Some(t.d as u64)
                && p["n"].as_u64() == Some(t.n as u64)
                && p["width"].as_u64() == Some(t.width as u64)
        }) {
            let step = p["seconds_per_gd_step"].as_f64().unwrap_or(f64::NAN);
            println!(
                "{:<26}   {:<48} {:>8.4} ms: shatter {:.2}x faster",
                "",
                p["peer"].as_str().unwrap_or("peer"),
                step * 1e3,
                step / t.seconds_per_gd_step
            );
        }
    }
}
