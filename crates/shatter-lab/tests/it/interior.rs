//! `interior_test_mse`: the test MSE over the test points inside `[-0.9, 0.9]`, for a network
//! and a kernel run, against a brute-force recomputation from the regenerated test set.

use shatter_core::baseline::{default_lambdas, fit_krr_cv};
use shatter_core::data::generate;
use shatter_core::train::Control;
use shatter_lab::run::{execute, RunOptions};
use shatter_lab::spec::{DataSource, ModelKind};
use shatter_lab::sweep::SweepSpec;

/// One network and one Laplace kernel on the same 40 points of the piecewise target, seed 3.
const PAIR: &str = r#"name = "interior"
[base]
d = 1
n = 40
width = 30
lr = 0.1
epochs = 300
input = "interval"
target = "piecewise"
sigma = 0.3
n_test = 500
seed = 3
[measure]
sharpness_every = 0
log_every = 100
[[zip]]
model = ["network", "krr"]
kernel = ["ntk", "laplace"]
"#;

#[test]
fn interior_mse_is_the_mean_over_the_test_points_inside() {
    let points = SweepSpec::from_toml(PAIR, "pair.toml")
        .unwrap()
        .points()
        .unwrap();
    assert_eq!(points.len(), 2);
    for p in &points {
        let out = execute(&p.config, &RunOptions::default(), &mut |_| {
            Control::Continue
        })
        .unwrap();
        let DataSource::Generated(spec) = &p.config.data else {
            panic!("generated data")
        };
        let problem = generate(spec, p.config.seed).unwrap();
        let test = problem.test_set(p.config.n_test);
        let predict: Box<dyn Fn(f64) -> f64> = match &p.config.model {
            ModelKind::Network => {
                let m = out.model.clone();
                Box::new(move |x| {
                    m.w.iter()
                        .zip(&m.b)
                        .zip(&m.v)
                        .map(|((w, b), v)| v * (w * x + b).max(0.0))
                        .sum::<f64>()
                        + m.beta
                })
            }
            ModelKind::Krr { kernel, folds } => {
                let (model, _) = fit_krr_cv(
                    &problem.train,
                    *kernel,
                    &default_lambdas(),
                    *folds,
                    p.config.seed,
                )
                .unwrap();
                Box::new(move |x| model.predict(&[x]).unwrap())
            }
        };
        let (mut inside, mut all) = ((0.0, 0usize), 0.0);
        for (x, y) in test.x.iter().zip(&test.y) {
            let r2 = (predict(*x) - y).powi(2);
            all += r2;
            if (-0.9..=0.9).contains(x) {
                inside = (inside.0 + r2, inside.1 + 1);
            }
        }
        let want = inside.0 / inside.1 as f64;
        let got = out.summary.interior_test_mse.expect("an interior MSE");
        // The network is evaluated in f32 by the run, in f64 here.
        assert!(
            (got - want).abs() <= 1e-4 * want,
            "{}: interior {got} against brute force {want} (seed 3)",
            p.label
        );
        assert!(
            inside.1 > 400 && inside.1 < 500,
            "{} test points inside",
            inside.1
        );
        let whole = out.summary.test_mse.unwrap();
        assert!(
            (whole - all / test.n as f64).abs() <= 1e-4 * whole,
            "{}: test MSE {whole} (seed 3)",
            p.label
        );
    }
}

#[test]
fn runs_outside_an_interval_have_no_interior_mse() {
    let text = PAIR
        .replace("input = \"interval\"\n", "")
        .replace("target = \"piecewise\"", "target = \"linear\"");
    let points = SweepSpec::from_toml(&text, "ball.toml")
        .unwrap()
        .points()
        .unwrap();
    let out = execute(&points[0].config, &RunOptions::default(), &mut |_| {
        Control::Continue
    })
    .unwrap();
    assert!(out.summary.test_mse.is_some());
    assert_eq!(out.summary.interior_test_mse, None);
}
