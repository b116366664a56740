//! Integration tests of shatter-lab: sweep specs, the results store, export.

mod batched;
mod curvature;
mod export;
mod interior;
mod krr;
mod run_dir;
mod store;
mod store_identity;
mod sweep_spec;

use shatter_lab::store::Store;
use shatter_lab::sweep::{run_sweep, Parallelism, SweepSpec};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// A tiny sweep: 2 dimensions x 2 sample sizes x 2 arms, 20 epochs, seed 0 (8 runs, well
/// under a second).
pub const TINY: &str = r#"name = "tiny"
[base]
epochs = 20
width_per_n = 2
n_test = 40
[measure]
sharpness_every = 0
log_every = 5
[grid]
d = [1, 2]
n = [8, 12]
[[zip]]
lr = [0.2, 0.01]
weight_decay = [0.0, 0.1]
"#;

/// Runs `points` into `store` one at a time, not stopped, under the sweep name `name`.
pub fn sweep_points(
    points: &[shatter_lab::sweep::Point],
    store: &mut Store,
    name: &str,
    keep: shatter_lab::sweep::Keep,
) -> shatter_lab::sweep::SweepReport {
    let serial = Parallelism {
        jobs: 1,
        threads_per_run: 1,
    };
    run_sweep(
        points,
        store,
        name,
        keep,
        serial,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .expect("sweep runs")
}

/// Runs `text` into a fresh store at `db` with the given parallelism.
pub fn sweep_into(text: &str, db: &Path, parallelism: Parallelism) -> Store {
    let spec = SweepSpec::from_toml(text, "tiny.toml").expect("tiny spec parses");
    let points = spec.points().expect("tiny spec expands");
    let mut store = Store::open_writer(db).expect("store opens");
    let stop = AtomicBool::new(false);
    let report = run_sweep(
        &points,
        &mut store,
        &spec.name,
        spec.keep,
        parallelism,
        &stop,
        &mut |_| {},
    )
    .expect("sweep runs");
    assert!(
        !report.interrupted && report.failures.is_empty(),
        "{report:?}"
    );
    store
}
