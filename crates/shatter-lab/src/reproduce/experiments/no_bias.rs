//! The `no-bias` experiment: Liang, Qiao, Wang, Parhi 2025 (discussion of the mechanism).

use super::{Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::ReportFigure;
use crate::store::Store;
use std::path::Path;

/// The shattering setting (d = 10, eta = 0.9, no decay) with and without hidden biases.
pub struct NoBias;

impl Experiment for NoBias {
    fn id(&self) -> &'static str {
        "no-bias"
    }
    fn figure(&self) -> &'static str {
        "Liang, Qiao, Wang, Parhi 2025 (discussion of the mechanism)"
    }
    fn what(&self) -> &'static str {
        "The shattering setting (d = 10, eta = 0.9, no decay) with and without hidden biases."
    }
    fn reported(&self) -> &'static str {
        "Without biases every neuron is a half-space through the origin and shattering disappears."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(super::super::literature::shattering_variant_spec(
            self.id(),
            true,
            scale,
        ))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        super::super::literature::no_bias(runs)
    }
    fn figures(
        &self,
        _store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        super::super::literature::draw_shattering_bars(self.id(), true, done, dir)
    }
}
