//! Measurements of trained networks (SCIENCE.md sections 4 to 6): the weight function `g` and
//! its population version `g_P` (`weight`), the weighted variation norm and the flatness bound
//! (`variation`), neural shattering statistics (`shattering`), univariate shape measures
//! (`univariate`), generalisation gaps and empirical rates (`generalisation`), and what the
//! support's geometry allows: isolating caps and per-class output outside it (`support`).
//!
//! Everything here is a pure function of a network, a data set and a few numbers the caller
//! measured elsewhere (the top Hessian eigenvalue comes from `hessian`, the loss from the
//! trainer). Measurements are computed in `f64` whatever the network's [`Float`](crate::Float);
//! work parallelised over neurons gives the same bytes for any thread count because each
//! neuron's numbers are computed by one thread in a fixed order.
//!
//! The norms and `g` are defined for ReLU networks; for a GELU network they are evaluated by
//! the same formulas on its parameters (the flatness bound is not claimed there), and a GELU
//! neuron fires where its gate `Phi(z)` is not negligible (`z_ik > GELU_OFF_Z`, see
//! `shattering`), not where `z_ik > 0`.

pub mod generalisation;
pub mod shattering;
pub mod support;
pub mod univariate;
pub mod variation;
pub mod weight;

pub use generalisation::{
    generalisation_gap, loglog_rate, mse_from_half_loss, GeneralisationGap, RateFit,
};
pub use shattering::{
    firing_threshold, neuron_stats, shattering_summary, NeuronClass, NeuronStats,
    ShatteringSummary, GELU_OFF_Z, LOW_RATE, NEGLIGIBLE_AMPLITUDE,
};
pub use support::{
    class_outputs, isolating_network, isolation, ClassOutput, ClassOutputs, Isolation, OutputClass,
};
pub use univariate::{
    interior_of, points_within, univariate_summary, Knot, UnivariateSummary, DEFAULT_KNOT_TOL,
    INTERIOR_MARGIN, PIECE_MERGE_TOL, PIECE_SLOPE_TOL,
};
pub use variation::{
    bound_holds_certified, flatness_bound, neuron_groups, path_norm, variation_summary, vg_norm,
    vg_reduced, VariationSummary, DEFAULT_MERGE_TOL,
};
pub use weight::{neuron_weights, population_weight, weight, weight_one_side};

use crate::data::Dataset;
use crate::float::Float;
use crate::model::Network;

/// What can be wrong with the inputs of a measurement.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeasureError {
    /// The network and the data set disagree on the input dimension.
    #[error("the network takes d = {network} inputs but the data set has d = {data}")]
    DimensionMismatch {
        /// Input dimension of the network.
        network: usize,
        /// Input dimension of the data set.
        data: usize,
    },
    /// A measurement over the training inputs was asked of an empty data set.
    #[error("{what}: the data set has no samples")]
    EmptyData {
        /// Which measurement.
        what: &'static str,
    },
    /// A univariate measure was asked of a network with `d != 1`.
    #[error("{what} is defined for univariate inputs only, but d = {d}")]
    NotUnivariate {
        /// Which measurement.
        what: &'static str,
        /// The input dimension found.
        d: usize,
    },
    /// A number the caller passed is not finite or out of its range.
    #[error("{what} = {value} is out of range: {expected}")]
    OutOfRange {
        /// Which argument.
        what: &'static str,
        /// The value passed.
        value: f64,
        /// What the argument must satisfy.
        expected: &'static str,
    },
    /// Two arrays that must have equal lengths do not.
    #[error("{what}: lengths {left} and {right} differ")]
    LengthMismatch {
        /// Which arrays.
        what: &'static str,
        /// Length of the first.
        left: usize,
        /// Length of the second.
        right: usize,
    },
}

/// Checks that `net` and `data` fit together and that `data` is not empty.
pub(crate) fn check_pair<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    what: &'static str,
) -> Result<(), MeasureError> {
    if net.shape.d != data.d {
        return Err(MeasureError::DimensionMismatch {
            network: net.shape.d,
            data: data.d,
        });
    }
    if data.n == 0 {
        return Err(MeasureError::EmptyData { what });
    }
    Ok(())
}

/// Checks that `value` is finite (and, when `nonneg`, not negative).
pub(crate) fn check_number(
    what: &'static str,
    value: f64,
    nonneg: bool,
) -> Result<f64, MeasureError> {
    if !value.is_finite() {
        return Err(MeasureError::OutOfRange {
            what,
            value,
            expected: "a finite number",
        });
    }
    if nonneg && value < 0.0 {
        return Err(MeasureError::OutOfRange {
            what,
            value,
            expected: "a number >= 0",
        });
    }
    Ok(value)
}

/// The network's per-neuron numbers in `f64`: `w` as `K x d` row-major, `b`, `v`.
pub(crate) struct Neurons {
    pub d: usize,
    pub k: usize,
    pub w: Vec<f64>,
    pub b: Vec<f64>,
    pub v: Vec<f64>,
}

impl Neurons {
    pub(crate) fn of<F: Float>(net: &Network<F>) -> Self {
        let (d, k) = (net.shape.d, net.shape.width);
        Neurons {
            d,
            k,
            w: net.w_matrix().iter().map(|x| x.to64()).collect(),
            b: net.b().iter().map(|x| x.to64()).collect(),
            v: net.v().iter().map(|x| x.to64()).collect(),
        }
    }

    /// `w_k` (`d` values).
    #[inline]
    pub(crate) fn w(&self, k: usize) -> &[f64] {
        &self.w[k * self.d..(k + 1) * self.d]
    }

    /// `||w_k||`.
    #[inline]
    pub(crate) fn w_norm(&self, k: usize) -> f64 {
        self.w(k).iter().map(|x| x * x).sum::<f64>().sqrt()
    }
}

/// The training inputs in `f64`, `n x d` row-major.
pub(crate) fn inputs64<F: Float>(data: &Dataset<F>) -> Vec<f64> {
    data.x.iter().map(|x| x.to64()).collect()
}

/// Median of a slice (mean of the two middle values for even length); `None` when empty.
/// Sorts a copy with `total_cmp`.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        0.5 * (s[m - 1] + s[m])
    })
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Random networks and data sets for the tests of this module.

    use crate::data::Dataset;
    use crate::model::{Activation, Network, Shape};
    use rand::Rng;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// `n` points uniform in the unit ball of `R^d`, with labels `y = x_1 + noise`.
    pub fn ball_data(n: usize, d: usize, seed: u64) -> Dataset<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Vec::with_capacity(n * d);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let g: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
            let norm = g.iter().map(|a| a * a).sum::<f64>().sqrt();
            let r = rng.random::<f64>().powf(1.0 / d as f64);
            let row: Vec<f64> = g.iter().map(|a| a / norm * r).collect();
            y.push(row[0] + 0.1 * Distribution::<f64>::sample(&StandardNormal, &mut rng));
            x.extend(row);
        }
        Dataset::new(d, x, y).expect("consistent lengths")
    }

    /// A network with Gaussian weights scaled by `scale`, biases in `(-0.5, 0.5)`.
    pub fn random_net(d: usize, k: usize, seed: u64, scale: f64) -> Network<f64> {
        let shape = Shape {
            d,
            width: k,
            bias: true,
            activation: Activation::Relu,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let w: Vec<f64> = (0..k * d)
            .map(|_| scale * Distribution::<f64>::sample(&StandardNormal, &mut rng))
            .collect();
        let b: Vec<f64> = (0..k).map(|_| rng.random_range(-0.5..0.5)).collect();
        let v: Vec<f64> = (0..k).map(|_| StandardNormal.sample(&mut rng)).collect();
        Network::from_parts(shape, &w, &b, &v, 0.3).expect("consistent lengths")
    }
}
