//! Training sets: the [`Dataset`] container. Generators of inputs and targets (SCIENCE.md
//! sections 2 and 7) live in `generate`; reading user files is the lab crate's job.

pub mod generate;

pub use generate::{
    generate, DataError, DataSpec, InputDist, InputSampler, Labels, Problem, Target, TargetForm,
    TargetKind,
};

use crate::float::Float;

/// `n` samples of `d` inputs and one label each.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<F> {
    /// Number of samples.
    pub n: usize,
    /// Input dimension.
    pub d: usize,
    /// Inputs, `n x d` row-major.
    pub x: Vec<F>,
    /// Labels (`n`); in `{-1, +1}` for logistic loss.
    pub y: Vec<F>,
}

impl<F: Float> Dataset<F> {
    /// Wraps inputs and labels; `None` when `x.len() != n d` or `y.len() != n`.
    pub fn new(d: usize, x: Vec<F>, y: Vec<F>) -> Option<Self> {
        let n = y.len();
        (d > 0 && x.len() == n * d).then_some(Dataset { n, d, x, y })
    }

    /// Input `i` (`d` values).
    #[inline]
    pub fn row(&self, i: usize) -> &[F] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    /// `R = max_i ||x_i||`, in `f64`.
    pub fn radius(&self) -> f64 {
        (0..self.n)
            .map(|i| {
                self.row(i)
                    .iter()
                    .map(|v| v.to64() * v.to64())
                    .sum::<f64>()
                    .sqrt()
            })
            .fold(0.0, f64::max)
    }

    /// Converts to another precision.
    pub fn cast<G: Float>(&self) -> Dataset<G> {
        Dataset {
            n: self.n,
            d: self.d,
            x: self.x.iter().map(|&v| G::of(v.to64())).collect(),
            y: self.y.iter().map(|&v| G::of(v.to64())).collect(),
        }
    }
}
