//! The `univariate` experiment: Qiao, Zhang, Singh, Soudry, Wang 2024 (arXiv:2406.06838).

use super::{Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::ReportFigure;
use crate::store::Store;
use std::path::Path;

/// About 30 noisy points of sin(pi x) on [-1, 1] fitted by a univariate ReLU network, step sizes from well below 1/(n^2 sigma) up to 0.4.
pub struct Univariate;

impl Experiment for Univariate {
    fn id(&self) -> &'static str {
        "univariate"
    }
    fn figure(&self) -> &'static str {
        "Qiao, Zhang, Singh, Soudry, Wang 2024 (arXiv:2406.06838)"
    }
    fn what(&self) -> &'static str {
        "About 30 noisy points of sin(pi x) on [-1, 1] fitted by a univariate ReLU network, step sizes from well below 1/(n^2 sigma) up to 0.4."
    }
    fn reported(&self) -> &'static str {
        "Larger eta: fewer linear pieces, knots away from data points, sparser output weights; sharpness tracks 2/eta; U-shaped test MSE against eta; interpolation only for eta ~ 1/(n^2 sigma)."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(super::super::literature::univariate_spec(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        super::super::literature::univariate(runs)
    }
    fn with_models(&self, store: &Store, runs: &[RunView], a: Analysis) -> Analysis {
        super::super::literature::significant_knots(store, runs, a)
    }
    fn figures(
        &self,
        store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        super::super::literature::draw_univariate(store, done, dir)
    }
}
