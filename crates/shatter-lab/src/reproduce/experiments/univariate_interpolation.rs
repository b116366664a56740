//! The `univariate-interpolation` experiment: Qiao, Zhang, Singh, Soudry, Wang 2024
//! (arXiv:2406.06838), interpolation against width and step size, and the sharpness of the
//! interpolating networks.

use super::{Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::ReportFigure;
use crate::reproduce::univariate_2024 as u;
use crate::store::Store;
use std::path::Path;

/// n = 30 noisy points of sin(pi x) fitted with K = 100 to 1000 neurons, eta from below 1/(n^2 sigma) to 0.4: who fits the noise, at what test error and what sharpness.
pub struct UnivariateInterpolation;

impl Experiment for UnivariateInterpolation {
    fn id(&self) -> &'static str {
        "univariate-interpolation"
    }
    fn figure(&self) -> &'static str {
        "Qiao, Zhang, Singh, Soudry, Wang 2024 (arXiv:2406.06838), interpolation and sharpness"
    }
    fn what(&self) -> &'static str {
        "n = 30 noisy points of sin(pi x) fitted with K = 100 to 1000 neurons, eta from below 1/(n^2 sigma) to 0.4: which (eta, K) fit the noise, their test MSE against the runs that do not, and the sharpness of the interpolants against 2/eta."
    }
    fn reported(&self) -> &'static str {
        "Stable minima cannot interpolate noisy labels: interpolation only for eta ~ 1/(n^2 sigma); interpolating solutions are sharp (sharpness far above 2/eta of large steps) and generalise worse."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(u::interpolation_spec(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        u::interpolation(runs)
    }
    fn figures(
        &self,
        _store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        u::draw_interpolation(done, dir)
    }
}
