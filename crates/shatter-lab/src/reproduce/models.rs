//! The stored models of an experiment's runs and the training problems they were fitted to,
//! regenerated from their settings: what the analyses that read models (`univariate`,
//! `logistic`, `ood`, `sphere`) share.

use super::analysis::RunView;
use crate::io::ModelArrays;
use crate::spec::DataSource;
use crate::store::Store;
use shatter_core::data::generate::{generate, Problem};

/// The logit `f(x)` of a univariate network stored as arrays (ReLU, `d = 1`).
pub(crate) fn logit(m: &ModelArrays, x: f64) -> f64 {
    m.w.iter()
        .zip(&m.b)
        .zip(&m.v)
        .map(|((w, b), v)| v * (w * x + b).max(0.0))
        .sum::<f64>()
        + m.beta
}

/// The stored model of a univariate run (`d = 1`) and its regenerated training problem, when
/// both are available.
pub(crate) fn univariate_model_and_problem(
    store: &Store,
    r: &RunView,
) -> Option<(ModelArrays, Problem)> {
    stored_model_and_problem(store, r)
        .filter(|(model, problem)| model.d == 1 && problem.train.d == 1)
}

/// The stored model of a run and its regenerated training problem; `None` when the run has no
/// usable model (listed in the report's warning, `Store::unusable_models`) or reads its data
/// from files.
pub(crate) fn stored_model_and_problem(
    store: &Store,
    r: &RunView,
) -> Option<(ModelArrays, Problem)> {
    let stored = store.load(&r.run_id).ok()??;
    let model = store.load_model(&stored)?.ok()?;
    Some((model, problem_of(r)?))
}

/// The training problem a run generated (regenerated from its settings and seed); `None` for
/// data read from files.
pub(crate) fn problem_of(r: &RunView) -> Option<Problem> {
    let config = r.spec.check(None).ok()?;
    let DataSource::Generated(data) = config.data else {
        return None;
    };
    generate(&data, config.seed).ok()
}
