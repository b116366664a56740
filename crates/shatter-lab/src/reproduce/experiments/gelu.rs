//! The `gelu` experiment: Liang, Qiao, Wang, Parhi 2025, Fig. 8.

use super::{Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::ReportFigure;
use crate::store::Store;
use std::path::Path;

/// The dims experiment with GELU activations.
pub struct Gelu;

impl Experiment for Gelu {
    fn id(&self) -> &'static str {
        "gelu"
    }
    fn figure(&self) -> &'static str {
        "Liang, Qiao, Wang, Parhi 2025, Fig. 8"
    }
    fn what(&self) -> &'static str {
        "The dims experiment with GELU activations."
    }
    fn reported(&self) -> &'static str {
        "The same trend as with ReLU."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(super::dims::spec(scale, true))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        super::dims::claims(runs)
    }
    fn figures(
        &self,
        _store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        super::dims::active_fraction(done, dir)
    }
}
