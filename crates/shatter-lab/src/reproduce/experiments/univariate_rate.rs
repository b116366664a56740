//! The `univariate-rate` experiment: Qiao, Zhang, Singh, Soudry, Wang 2024
//! (arXiv:2406.06838), the interior MSE rate `n^(-4/5)` of GD against kernel ridge regression.

use super::{Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::ReportFigure;
use crate::reproduce::univariate_2024 as u;
use crate::store::Store;
use std::path::Path;

/// Test MSE inside [-0.9, 0.9] against n for a piecewise-linear target: GD at a fixed large eta against kernel ridge regression on the same data.
pub struct UnivariateRate;

impl Experiment for UnivariateRate {
    fn id(&self) -> &'static str {
        "univariate-rate"
    }
    fn figure(&self) -> &'static str {
        "Qiao, Zhang, Singh, Soudry, Wang 2024 (arXiv:2406.06838), interior MSE rate"
    }
    fn what(&self) -> &'static str {
        "Test MSE inside [-0.9, 0.9] against n (32 to 1024) for a piecewise-linear target with sigma = 0.5: GD at eta = 0.2 against kernel ridge regression (NTK, Laplace) on the same data."
    }
    fn reported(&self) -> &'static str {
        "Inside the data support the MSE of stable minima is O~(n^(-4/5)); no kernel ridge regression does better than n^(-3/4) on the class."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(u::rate_spec(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        u::rate(runs)
    }
    fn figures(
        &self,
        _store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        u::draw_rate(done, dir)
    }
}
