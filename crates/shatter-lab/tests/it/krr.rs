//! Kernel ridge regression as a sweep arm (`model = "krr"`): stored beside the networks and
//! fitted as its own arm of the MSE-against-n rates.

use crate::sweep_into;
use shatter_lab::reproduce::analysis::fit_rates;
use shatter_lab::reproduce::load_views;
use shatter_lab::sweep::Parallelism;

/// Networks and two kernels over three sample sizes, seed 0 (9 runs, about a second).
const SIDE_BY_SIDE: &str = r#"name = "krr-side-by-side"
[base]
d = 1
epochs = 40
width_per_n = 2
lr = 0.2
n_test = 100
sigma = 0.3
target = "sine"
input = "interval"
[measure]
sharpness_every = 0
log_every = 10
[grid]
n = [16, 32, 64]
[[zip]]
model = ["network", "krr", "krr"]
kernel = ["ntk", "ntk", "gaussian"]
"#;

#[test]
fn a_sweep_stores_networks_and_kernels_and_fits_a_rate_for_each() {
    let dir = tempfile::tempdir().unwrap();
    let store = sweep_into(
        SIDE_BY_SIDE,
        &dir.path().join("r.db"),
        Parallelism {
            jobs: 1,
            threads_per_run: 1,
        },
    );
    let views = load_views(&store).expect("store reads back");
    assert_eq!(views.len(), 9, "3 sample sizes x 3 arms (seed 0)");
    let krr: Vec<_> = views
        .iter()
        .filter(|(v, _)| v.spec.model.as_deref() == Some("krr"))
        .collect();
    assert_eq!(krr.len(), 6, "two kernels x three sizes (seed 0)");
    for (v, stored) in &krr {
        assert_eq!(stored.status, "completed", "{}", v.run_id);
        assert!(stored.model_path.is_none(), "a kernel run keeps no model");
        assert!(
            v.summary.test_mse.is_some_and(f64::is_finite)
                && v.summary.krr_lambda.is_some_and(|l| l > 0.0),
            "kernel run {} lacks its errors: {:?} (seed 0)",
            v.run_id,
            v.summary
        );
    }
    // A network point keeps the id it had before `model` existed.
    let network = views
        .iter()
        .find(|(v, _)| v.spec.model.is_none())
        .expect("a network run");
    assert_eq!(network.0.spec.kernel, None, "networks ignore kernel");
    let arms: Vec<String> = fit_rates(&views.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>())
        .into_iter()
        .map(|f| f.arm)
        .collect();
    for arm in ["GD eta=0.2", "KRR ntk", "KRR gaussian"] {
        assert!(
            arms.iter().any(|a| a.ends_with(arm)),
            "no rate fit for arm {arm:?}; got {arms:?} (seed 0)"
        );
    }
}
