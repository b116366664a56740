//! The `logistic` experiment: Qiao and Wang 2025 (arXiv:2512.01473).

use super::{Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::ReportFigure;
use crate::store::Store;
use std::path::Path;

/// Univariate logistic regression with labels drawn from sigmoid(sin(pi x)): sharpness, path norm and excess risk against step size and training length.
pub struct Logistic;

impl Experiment for Logistic {
    fn id(&self) -> &'static str {
        "logistic"
    }
    fn figure(&self) -> &'static str {
        "Qiao and Wang 2025 (arXiv:2512.01473)"
    }
    fn what(&self) -> &'static str {
        "Univariate logistic regression with labels drawn from sigmoid(sin(pi x)): sharpness, path norm and excess risk against step size and training length."
    }
    fn reported(&self) -> &'static str {
        "Flatness alone does not control logistic regression: flat solutions can fit noisy labels with a growing norm; a norm bound is needed as well."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(super::super::literature::logistic_spec(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        super::super::literature::logistic(runs)
    }
    fn with_models(&self, store: &Store, runs: &[RunView], a: Analysis) -> Analysis {
        super::super::literature::logistic_margins(store, runs, a)
    }
    fn figures(
        &self,
        store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        super::super::literature::draw_logistic(store, done, dir)
    }
}
