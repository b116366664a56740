//! The `mixup` experiment: Issue 7 (mixup beside the shattering setting).

use super::{Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::ReportFigure;
use crate::store::Store;
use std::path::Path;

/// The shattering setting (d = 10, eta = 0.9, no decay) trained on mixup batches with alpha in {0.2, 1} beside plain GD.
pub struct Mixup;

impl Experiment for Mixup {
    fn id(&self) -> &'static str {
        "mixup"
    }
    fn figure(&self) -> &'static str {
        "Issue 7 (mixup beside the shattering setting)"
    }
    fn what(&self) -> &'static str {
        "The shattering setting (d = 10, eta = 0.9, no decay) trained on mixup batches with alpha in {0.2, 1} beside plain GD."
    }
    fn reported(&self) -> &'static str {
        "No number in the literature: the report measures how mixup changes the fraction of neurons firing on few points and the test MSE."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(super::super::literature::shattering_variant_spec(
            self.id(),
            false,
            scale,
        ))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        super::super::literature::mixup(runs)
    }
    fn figures(
        &self,
        _store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        super::super::literature::draw_shattering_bars(self.id(), false, done, dir)
    }
}
