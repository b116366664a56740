//! The `geometry` experiment: Liang, Cloninger, Parhi, Wang 2025 (arXiv:2510.18120).

use super::{Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};

/// Test MSE against n for inputs on a union of m-dimensional subspaces of R^D (m = 1, 2; D = 5, 10), beside full-dimensional ball and radial-Beta inputs in R^10.
pub struct Geometry;

impl Experiment for Geometry {
    fn id(&self) -> &'static str {
        "geometry"
    }
    fn figure(&self) -> &'static str {
        "Liang, Cloninger, Parhi, Wang 2025 (arXiv:2510.18120)"
    }
    fn what(&self) -> &'static str {
        "Test MSE against n for inputs on a union of m-dimensional subspaces of R^D (m = 1, 2; D = 5, 10), beside full-dimensional ball and radial-Beta inputs in R^10."
    }
    fn reported(&self) -> &'static str {
        "Rates of stable minima follow the intrinsic dimension m, not the ambient D."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(super::super::literature::geometry_spec(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        super::super::literature::geometry(runs)
    }
}
