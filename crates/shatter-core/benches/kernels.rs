//! Criterion benchmarks of the kernels at the papers' shapes: one GD gradient (the streaming
//! kernels training runs on most epochs, and the storing ones of epochs with a sharpness
//! estimate), one Hessian-vector product, and a cold-start sharpness estimate certified to the
//! default tolerance. `cargo bench -p shatter-core --bench kernels` runs them on the current
//! rayon pool (every core); `RAYON_NUM_THREADS=1` runs them per core. BENCHMARKS.md records
//! the figures beside the machine's measured sgemm rate.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shatter_core::data::generate::{generate, DataSpec};
use shatter_core::grad::{forward, hvp, loss_and_gradient, loss_and_gradient_fused, Workspace};
use shatter_core::hessian::hvp::SharpnessTracker;
use shatter_core::hessian::lanczos::LanczosOptions;
use shatter_core::{Activation, Dataset, Loss, Network, Shape};
use std::time::Duration;

/// (d, n, K): the cod sweep's corners, the shattering run and the under-parameterised widths.
const SHAPES: &[(usize, usize, usize)] = &[
    (1, 32, 128),
    (3, 128, 512),
    (5, 512, 2048),
    (10, 512, 2048),
    (5, 1024, 64),
    (5, 1024, 16),
];

fn problem(d: usize, n: usize, width: usize) -> (Network<f32>, Dataset<f32>) {
    let data: Dataset<f32> = generate(&DataSpec::new(n, d), 0)
        .expect("a valid default problem")
        .train
        .cast();
    let shape = Shape {
        d,
        width,
        bias: true,
        activation: Activation::Relu,
    };
    (Network::init(shape, 0, 1.0), data)
}

fn kernels(c: &mut Criterion) {
    for &(d, n, width) in SHAPES {
        let (net, data) = problem(d, n, width);
        let shape = net.shape;
        let mut ws = Workspace::new(shape, n);
        let mut grad = vec![0.0f32; shape.len()];
        let name = format!("d{d}_n{n}_k{width}");
        let mut group = c.benchmark_group("gradient");
        // The flops of one step, `4 n K d + 6 n K`, so criterion reports GFLOP/s as elements.
        group.throughput(Throughput::Elements(
            (4 * n * width * d + 6 * n * width) as u64,
        ));
        group.bench_function(BenchmarkId::new("streaming", &name), |b| {
            b.iter(|| loss_and_gradient_fused(&net, &data, Loss::Square, &mut ws, &mut grad))
        });
        group.bench_function(BenchmarkId::new("storing", &name), |b| {
            b.iter(|| loss_and_gradient(&net, &data, Loss::Square, &mut ws, &mut grad))
        });
        group.finish();
        forward(&net, &data, Loss::Square, &mut ws);
        let dir = grad.clone();
        let mut out = vec![0.0f32; shape.len()];
        c.bench_function(&format!("hvp/{name}"), |b| {
            b.iter(|| hvp(&net, &data, &mut ws, &dir, &mut out))
        });
        let opts = LanczosOptions {
            top_k: 1,
            smallest: false,
            ..LanczosOptions::default()
        };
        let mut tracker = SharpnessTracker::<f32>::new(shape, opts);
        c.bench_function(&format!("sharpness/{name}"), |b| {
            b.iter(|| {
                tracker.forget();
                tracker.measure(&net, &data, &mut ws).map(|e| e.sharpness)
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = kernels
}
criterion_main!(benches);
