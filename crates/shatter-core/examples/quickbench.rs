use rand::{Rng, SeedableRng};
use shatter_core::grad::*;
use shatter_core::*;
fn main() {
    let (d, n, k) = (10, 512, 2048);
    let shape = Shape {
        d,
        width: k,
        bias: true,
        activation: Activation::Relu,
    };
    let net = Network::<f32>::init(shape, 1, 1.0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let x: Vec<f32> = (0..n * d).map(|_| rng.random_range(-0.3..0.3)).collect();
    let y: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let data = Dataset::new(d, x, y).unwrap();
    let mut ws = Workspace::new(shape, n);
    let mut g = vec![0f32; shape.len()];
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let reps = 500;
            for _ in 0..20 {
                loss_and_gradient(&net, &data, Loss::Square, &mut ws, &mut g);
            }
            let t = std::time::Instant::now();
            for _ in 0..reps {
                forward(&net, &data, Loss::Square, &mut ws);
            }
            let f = t.elapsed().as_secs_f64() / reps as f64;
            let t = std::time::Instant::now();
            for _ in 0..reps {
                backward(&net, &data, &mut ws, &mut g);
            }
            let b = t.elapsed().as_secs_f64() / reps as f64;
            let fl = (4 * n * k * d + 6 * n * k) as f64;
            let dir = g.clone();
            let mut out = vec![0f32; shape.len()];
            let t2 = std::time::Instant::now();
            for _ in 0..reps {
                hvp(&net, &data, &mut ws, &dir, &mut out);
            }
            let h = t2.elapsed().as_secs_f64() / reps as f64;
            println!(
                "threads {threads}: fwd {:.3} bwd {:.3} step {:.3} ms, {:.1} GFLOP/s; hvp {:.3} ms",
                f * 1e3,
                b * 1e3,
                (f + b) * 1e3,
                fl / (f + b) / 1e9,
                h * 1e3
            );
        });
    }
}
