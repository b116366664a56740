//! The `gelu` experiment: Liang, Qiao, Wang, Parhi 2025, Fig. 8.

use super::{About, Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::ReportFigure;
use crate::store::Store;
use std::path::Path;

/// The dims experiment with GELU activations.
pub struct Gelu;

const ABOUT: About = About {
    id: "gelu",
    figure: "Liang, Qiao, Wang, Parhi 2025, Fig. 8",
    what: "The dims experiment with GELU activations.",
    reported: "The same trend as with ReLU.",
};

impl Experiment for Gelu {
    fn about(&self) -> &'static About {
        &ABOUT
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
