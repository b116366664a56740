//! The trace and the spectral density of a symmetric operator from random probes: Hutchinson's
//! estimator `E[z^T A z] = tr A` with Rademacher `z`, and stochastic Lanczos quadrature (SLQ,
//! Ubaru, Chen and Saad 2017; Ghorbani, Krishnan and Xiao 2019 for Hessians), which turns a few
//! Lanczos runs into a smoothed eigenvalue density. The recurrence is the one in `lanczos`;
//! the operator (a Hessian-vector product) comes from elsewhere.

use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use super::lanczos::{tridiagonal_eigen, LanczosError, LanczosWorkspace, Step, SymmetricOperator};
use crate::rng::{stream, Stream};

/// What can go wrong when estimating a trace or a density.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TraceError {
    /// No probes were asked for.
    #[error("num_probes is 0; at least one probe is needed")]
    NoProbes,
    /// Hutch++ was given too few operator products.
    #[error("Hutch++ with {products} products; at least 4 are needed (a sketch, its image and two residual probes)")]
    TooFewProducts {
        /// The number of products asked for.
        products: usize,
    },
    /// No Lanczos steps were asked for.
    #[error("steps is 0; stochastic Lanczos quadrature needs at least one step per probe")]
    NoSteps,
    /// The operator returned a NaN or infinite entry (for a Hessian: a diverged network).
    #[error("probe {probe}: operator returned a non-finite entry at index {index}")]
    NonFiniteProduct {
        /// Which probe (0-based).
        probe: usize,
        /// Index of the first bad entry.
        index: usize,
    },
    /// The smoothing width is not a positive finite number.
    #[error("density smoothing width sigma = {sigma}; it must be finite and > 0")]
    InvalidSigma {
        /// The width given.
        sigma: f64,
    },
    /// A density grid needs at least two points.
    #[error("density grid of {points} points; at least 2 are needed")]
    TooFewPoints {
        /// The number of points asked for.
        points: usize,
    },
    /// The Lanczos recurrence failed.
    #[error("probe {probe}: {source}")]
    Lanczos {
        /// Which probe (0-based).
        probe: usize,
        /// What went wrong.
        source: LanczosError,
    },
}

/// A Monte Carlo estimate of a trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceEstimate {
    /// The mean of `z^T A z` over the probes.
    pub mean: f64,
    /// The standard error of that mean: sample standard deviation over `sqrt(probes)`;
    /// infinite for one probe, 0 for `dim == 0`.
    pub standard_error: f64,
    /// Probes used.
    pub probes: usize,
}

/// Fills `z` with independent signs `+-1` from `rng` (64 signs per draw, fixed order).
fn rademacher(rng: &mut ChaCha8Rng, z: &mut [f64]) {
    for chunk in z.chunks_mut(64) {
        let bits = rng.next_u64();
        for (i, x) in chunk.iter_mut().enumerate() {
            *x = if (bits >> i) & 1 == 1 { 1.0 } else { -1.0 };
        }
    }
}

/// Hutchinson's trace estimate: the mean of `z^T A z` over `num_probes` Rademacher probes `z`
/// drawn from `Stream::Probes` of `seed`, with its standard error.
///
/// The estimator is unbiased; its variance is `2 sum_{i != j} A_ij^2` per probe. One operator
/// product per probe; allocates two vectors of length `dim` per call. Deterministic for a seed.
///
/// # Errors
/// `num_probes == 0`, or a non-finite operator product ([`TraceError`]).
pub fn hutchinson_trace<O: SymmetricOperator + ?Sized>(
    op: &mut O,
    num_probes: usize,
    seed: u64,
) -> Result<TraceEstimate, TraceError> {
    if num_probes == 0 {
        return Err(TraceError::NoProbes);
    }
    let dim = op.dim();
    if dim == 0 {
        return Ok(TraceEstimate {
            mean: 0.0,
            standard_error: 0.0,
            probes: num_probes,
        });
    }
    let mut rng = stream(seed, Stream::Probes);
    let mut z = vec![0.0; dim];
    let mut az = vec![0.0; dim];
    let mut samples = Vec::with_capacity(num_probes);
    for probe in 0..num_probes {
        rademacher(&mut rng, &mut z);
        op.apply(&z, &mut az);
        if let Some(index) = az.iter().position(|x| !x.is_finite()) {
            return Err(TraceError::NonFiniteProduct { probe, index });
        }
        samples.push(z.iter().zip(&az).map(|(a, b)| a * b).sum::<f64>());
    }
    let n = num_probes as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let standard_error = if num_probes > 1 {
        let variance = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (variance / n).sqrt()
    } else {
        f64::INFINITY
    };
    Ok(TraceEstimate {
        mean,
        standard_error,
        probes: num_probes,
    })
}

/// The Hutch++ trace estimate (Meyer, Musco, Musco and Woodruff 2021) from `products` operator
/// products, with a variance-based standard error.
///
/// A third of the products (`k = products / 3`) sketch the range: `Q = orth(A S)` for `k`
/// Rademacher columns `S`; another `k` give `tr(Q^T A Q)` exactly; the remaining
/// `g = products - 2k` are Hutchinson probes of the deflated remainder,
/// `z^T (I - QQ^T) A (I - QQ^T) z`. The estimate is `tr(Q^T A Q) + mean(samples)`, unbiased
/// given `Q`; its standard error is the samples' standard deviation over `sqrt(g)` (the first
/// term has no variance given `Q`). For a matrix whose trace is dominated by a few large
/// eigenvalues (a Hessian at the edge of stability), the remainder is small and the error falls
/// like `1/products` rather than `1/sqrt(products)`. `probes` in the result counts products.
///
/// Draws from `Stream::Probes` of `seed`; deterministic. Allocates `2k + 2` vectors of length
/// `dim`; `O(k^2 dim)` arithmetic for the orthogonalisation.
///
/// # Errors
/// Fewer than 4 products, or a non-finite operator product ([`TraceError`]).
pub fn hutch_plus_plus<O: SymmetricOperator + ?Sized>(
    op: &mut O,
    products: usize,
    seed: u64,
) -> Result<TraceEstimate, TraceError> {
    if products < 4 {
        return Err(TraceError::TooFewProducts { products });
    }
    let dim = op.dim();
    if dim == 0 {
        return Ok(TraceEstimate {
            mean: 0.0,
            standard_error: 0.0,
            probes: products,
        });
    }
    let k = products / 3;
    let g = products - 2 * k;
    let mut rng = stream(seed, Stream::Probes);
    let apply = |op: &mut O, x: &[f64], y: &mut [f64], probe: usize| {
        op.apply(x, y);
        match y.iter().position(|v| !v.is_finite()) {
            Some(index) => Err(TraceError::NonFiniteProduct { probe, index }),
            None => Ok(()),
        }
    };
    // Sketch and orthonormalise (two passes of modified Gram-Schmidt; dependent columns dropped).
    let mut z = vec![0.0; dim];
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(k);
    for probe in 0..k {
        rademacher(&mut rng, &mut z);
        let mut y = vec![0.0; dim];
        apply(op, &z, &mut y, probe)?;
        let before = dot(&y, &y).sqrt();
        for _pass in 0..2 {
            for q in &basis {
                let c = dot(q, &y);
                y.iter_mut().zip(q).for_each(|(a, b)| *a -= c * b);
            }
        }
        let after = dot(&y, &y).sqrt();
        if after > 1e-10 * before && after > 0.0 {
            y.iter_mut().for_each(|a| *a /= after);
            basis.push(y);
        }
    }
    // The exact part: tr(Q^T A Q); the products a rank-deficient sketch saves are left unused.
    let mut aq = vec![0.0; dim];
    let mut exact = 0.0;
    for (j, q) in basis.iter().enumerate() {
        apply(op, q, &mut aq, k + j)?;
        exact += dot(q, &aq);
    }
    // Hutchinson on the remainder.
    let mut samples = Vec::with_capacity(g);
    let mut az = vec![0.0; dim];
    for probe in 0..g {
        rademacher(&mut rng, &mut z);
        for q in &basis {
            let c = dot(q, &z);
            z.iter_mut().zip(q).for_each(|(a, b)| *a -= c * b);
        }
        apply(op, &z, &mut az, 2 * k + probe)?;
        samples.push(dot(&z, &az));
    }
    let n = g as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let variance = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Ok(TraceEstimate {
        mean: exact + mean,
        standard_error: (variance / n).sqrt(),
        probes: products,
    })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Settings of [`spectral_density`].
#[derive(Clone, Debug, PartialEq)]
pub struct SlqOptions {
    /// Random probes (independent Lanczos runs); default 10, range `>= 1`.
    pub num_probes: usize,
    /// Lanczos steps per probe; default 30, range `>= 1`, clamped to the dimension. Each run
    /// gives a Gauss quadrature rule with this many nodes.
    pub steps: usize,
    /// Seed of the probes, drawn from `Stream::Probes`. Default 0.
    pub seed: u64,
}

impl Default for SlqOptions {
    fn default() -> Self {
        Self {
            num_probes: 10,
            steps: 30,
            seed: 0,
        }
    }
}

/// A spectral density estimate from stochastic Lanczos quadrature: quadrature nodes (Ritz
/// values) and weights, to be smoothed by a Gaussian of width `sigma`.
#[derive(Clone, Debug, PartialEq)]
pub struct SpectralDensity {
    /// `(node, weight)`: the Ritz values `theta_j` of each probe's run and their weights
    /// `tau_j / num_probes`, `tau_j` the squared first component of the `j`-th eigenvector of
    /// `T_m`. Each probe's weights sum to `1 / num_probes`, all of them to 1. Grouped by probe,
    /// ascending within a probe.
    pub nodes: Vec<(f64, f64)>,
    /// The operator's dimension.
    pub dim: usize,
    /// Probes used.
    pub probes: usize,
}

/// A smoothed spectral density on an even grid.
#[derive(Clone, Debug, PartialEq)]
pub struct DensityGrid {
    /// The grid, ascending and evenly spaced.
    pub points: Vec<f64>,
    /// The density at each point (integrates to about 1).
    pub density: Vec<f64>,
    /// The Gaussian width used.
    pub sigma: f64,
}

impl DensityGrid {
    /// The trapezoid-rule integral of the density over the grid: about 1 when the grid covers
    /// the nodes with a margin of a few `sigma` and `sigma` spans a few grid steps.
    pub fn integral(&self) -> f64 {
        self.points
            .windows(2)
            .zip(self.density.windows(2))
            .map(|(t, d)| 0.5 * (t[1] - t[0]) * (d[0] + d[1]))
            .sum()
    }
}

/// How many `sigma` of margin [`SpectralDensity::on_grid`] leaves around the nodes.
const GRID_MARGIN_SIGMAS: f64 = 5.0;

impl SpectralDensity {
    /// The SLQ trace estimate `dim * sum_j weight_j * node_j`, the mean over probes of
    /// `dim * q^T A q`: a cross-check of [`hutchinson_trace`] (with the same seed the probes
    /// are the same, normalised). `O(nodes)`.
    pub fn trace_estimate(&self) -> f64 {
        self.dim as f64 * self.nodes.iter().map(|(t, w)| t * w).sum::<f64>()
    }

    /// The smallest and largest node, or `None` when there are none (`dim == 0`).
    pub fn support(&self) -> Option<(f64, f64)> {
        let mut nodes = self.nodes.iter().map(|&(t, _)| t);
        let first = nodes.next()?;
        Some(nodes.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t))))
    }

    /// The default smoothing width: `(max - min) / 100` over the nodes; when all nodes
    /// coincide, `1e-3 * |node|`, or `1e-3` for a node at 0 (or no nodes).
    pub fn default_sigma(&self) -> f64 {
        match self.support() {
            Some((lo, hi)) if hi > lo => (hi - lo) / 100.0,
            Some((lo, _)) if lo != 0.0 => 1e-3 * lo.abs(),
            _ => 1e-3,
        }
    }

    /// The smoothed density `sum_j weight_j * N(t; node_j, sigma^2)` at `t`. `O(nodes)`.
    pub fn density_at(&self, t: f64, sigma: f64) -> f64 {
        let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        self.nodes
            .iter()
            .map(|&(node, weight)| {
                let u = (t - node) / sigma;
                weight * norm * (-0.5 * u * u).exp()
            })
            .sum()
    }

    /// The smoothed density on `points` evenly spaced points from `min node - 5 sigma` to
    /// `max node + 5 sigma`, with `sigma` given or [`SpectralDensity::default_sigma`].
    /// `O(points * nodes)`; allocates the two output vectors.
    ///
    /// # Errors
    /// `points < 2` or a `sigma` that is not finite and positive ([`TraceError`]).
    pub fn on_grid(&self, points: usize, sigma: Option<f64>) -> Result<DensityGrid, TraceError> {
        if points < 2 {
            return Err(TraceError::TooFewPoints { points });
        }
        let sigma = sigma.unwrap_or_else(|| self.default_sigma());
        if !(sigma > 0.0 && sigma.is_finite()) {
            return Err(TraceError::InvalidSigma { sigma });
        }
        let (lo, hi) = self.support().unwrap_or((0.0, 0.0));
        let (lo, hi) = (
            lo - GRID_MARGIN_SIGMAS * sigma,
            hi + GRID_MARGIN_SIGMAS * sigma,
        );
        let step = (hi - lo) / (points - 1) as f64;
        let grid: Vec<f64> = (0..points).map(|i| lo + step * i as f64).collect();
        let density = grid.iter().map(|&t| self.density_at(t, sigma)).collect();
        Ok(DensityGrid {
            points: grid,
            density,
            sigma,
        })
    }
}

/// Stochastic Lanczos quadrature: the spectral density of a symmetric operator.
///
/// For each of `opts.num_probes` probes `q = z / sqrt(dim)`, `z` Rademacher from
/// `Stream::Probes` of `opts.seed`, runs `m = min(opts.steps, dim)` Lanczos steps with full
/// reorthogonalisation (fewer if the Krylov space turns out invariant, where the rule is then
/// exact) and keeps the Ritz values `theta_j` of `T_m` with weights `tau_j = s_j[0]^2`: the
/// Gauss quadrature rule of the measure `q^T delta(t - A) q`, whose average over probes
/// estimates the density `(1/dim) sum_i delta(t - lambda_i)`.
///
/// Cost: `num_probes * m` operator products, `O(num_probes * m^2 * dim)` reorthogonalisation
/// and `num_probes` eigendecompositions of `m x m` matrices. Allocates one Lanczos workspace of
/// `m x dim` f64, reused across probes, and the output. Deterministic for a seed.
///
/// # Errors
/// `num_probes == 0`, `steps == 0`, or a non-finite operator product ([`TraceError`]).
pub fn spectral_density<O: SymmetricOperator + ?Sized>(
    op: &mut O,
    opts: &SlqOptions,
) -> Result<SpectralDensity, TraceError> {
    if opts.num_probes == 0 {
        return Err(TraceError::NoProbes);
    }
    if opts.steps == 0 {
        return Err(TraceError::NoSteps);
    }
    let dim = op.dim();
    let steps = opts.steps.min(dim);
    let mut nodes = Vec::with_capacity(opts.num_probes * steps);
    if dim == 0 {
        return Ok(SpectralDensity {
            nodes,
            dim,
            probes: opts.num_probes,
        });
    }
    let mut rng = stream(opts.seed, Stream::Probes);
    let mut ws = LanczosWorkspace::new(dim, steps);
    let mut z = vec![0.0; dim];
    let probe_weight = 1.0 / opts.num_probes as f64;
    for probe in 0..opts.num_probes {
        rademacher(&mut rng, &mut z);
        ws.reset(dim, steps);
        // A Rademacher vector is never zero, so the start is always accepted.
        let started = ws.set_start(&z);
        debug_assert!(started, "Rademacher probe rejected as a start");
        while ws.steps() < steps {
            let outcome = ws.step(op).map_err(|source| match source {
                LanczosError::NonFiniteProduct { index, .. } => {
                    TraceError::NonFiniteProduct { probe, index }
                }
                source => TraceError::Lanczos { probe, source },
            })?;
            if outcome == Step::Breakdown {
                break;
            }
        }
        let (values, vectors) = tridiagonal_eigen(ws.tridiagonal())
            .map_err(|source| TraceError::Lanczos { probe, source })?;
        for (j, &theta) in values.iter().enumerate() {
            let first = vectors[(0, j)];
            nodes.push((theta, first * first * probe_weight));
        }
    }
    Ok(SpectralDensity {
        nodes,
        dim,
        probes: opts.num_probes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hessian::dense::symmetric_eigenvalues;
    use crate::hessian::lanczos::tests::{random_symmetric, with_spectrum};
    use crate::hessian::lanczos::DenseOperator;
    use nalgebra::DMatrix;

    fn operator(m: &DMatrix<f64>) -> DenseOperator {
        DenseOperator::new(m.clone()).expect("test matrices are square")
    }

    #[test]
    fn hutchinson_is_within_four_standard_errors_of_the_trace() {
        for (n, seed) in [(10, 81), (50, 82), (200, 83)] {
            let m = random_symmetric(n, seed) + DMatrix::identity(n, n) * 3.0;
            let exact = m.trace();
            let estimate = hutchinson_trace(&mut operator(&m), 200, seed).expect("valid call");
            let case = format!("n = {n}, seed {seed}");
            assert_eq!(estimate.probes, 200, "{case}");
            assert!(
                estimate.standard_error.is_finite() && estimate.standard_error > 0.0,
                "{case}: {estimate:?}"
            );
            assert!(
                (estimate.mean - exact).abs() <= 4.0 * estimate.standard_error,
                "{case}: estimate {estimate:?}, exact trace {exact}"
            );
        }
        // A diagonal matrix has a zero-variance estimator: exact with one probe.
        let seed = 84;
        let diagonal = DMatrix::from_diagonal(&nalgebra::DVector::from_fn(7, |i, _| i as f64));
        let estimate = hutchinson_trace(&mut operator(&diagonal), 1, seed).expect("valid call");
        assert_eq!(estimate.mean, 21.0, "seed {seed}");
        assert!(
            estimate.standard_error.is_infinite(),
            "seed {seed}: one probe has no error"
        );
    }

    #[test]
    fn hutchinson_is_deterministic_and_handles_edges() {
        let seed = 85;
        let m = random_symmetric(30, seed);
        let a = hutchinson_trace(&mut operator(&m), 5, seed).expect("valid call");
        let b = hutchinson_trace(&mut operator(&m), 5, seed).expect("valid call");
        assert_eq!(a.mean.to_bits(), b.mean.to_bits(), "seed {seed}");
        assert_eq!(
            hutchinson_trace(&mut operator(&m), 0, seed),
            Err(TraceError::NoProbes)
        );
        let empty = hutchinson_trace(&mut operator(&DMatrix::zeros(0, 0)), 3, seed).expect("dim 0");
        assert_eq!((empty.mean, empty.standard_error), (0.0, 0.0));
        let mut poisoned = DMatrix::identity(3, 3);
        poisoned[(1, 1)] = f64::NAN;
        assert!(matches!(
            hutchinson_trace(&mut operator(&poisoned), 3, seed),
            Err(TraceError::NonFiniteProduct { probe: 0, index: 1 })
        ));
    }

    #[test]
    fn slq_weights_trace_and_density_are_consistent() {
        let seed = 91;
        let n = 120;
        let mut lambdas: Vec<f64> = (0..n - 3)
            .map(|i| -1.0 + 3.0 * i as f64 / n as f64)
            .collect();
        lambdas.extend([8.0, 6.0, 5.5]);
        let m = with_spectrum(&lambdas, seed);
        let exact_trace: f64 = lambdas.iter().sum();
        let opts = SlqOptions {
            num_probes: 40,
            steps: 25,
            seed,
        };
        let density = spectral_density(&mut operator(&m), &opts).expect("valid call");
        let case = format!("n = {n}, seed {seed}");
        assert_eq!(density.nodes.len(), 40 * 25, "{case}");
        let total: f64 = density.nodes.iter().map(|(_, w)| w).sum();
        assert!(
            (total - 1.0).abs() < 1e-12,
            "{case}: weights sum to {total}"
        );
        for probe in density.nodes.chunks(25) {
            let sum: f64 = probe.iter().map(|(_, w)| w).sum();
            assert!(
                (sum - 1.0 / 40.0).abs() < 1e-12,
                "{case}: a probe's weights sum to {sum}"
            );
        }
        // The Ritz values lie in the spectrum's hull, and the extremes are found.
        let (lo, hi) = density.support().expect("nodes");
        assert!(
            lo >= -1.0 - 1e-9 && hi <= 8.0 + 1e-9,
            "{case}: support {lo}..{hi}"
        );
        assert!((hi - 8.0).abs() < 1e-6, "{case}: largest node {hi}");
        // The SLQ trace is an unbiased estimate with the same probes as Hutchinson's: equal up
        // to rounding, and close to the exact trace.
        let slq_trace = density.trace_estimate();
        let hutchinson = hutchinson_trace(&mut operator(&m), 40, seed).expect("valid call");
        assert!(
            (slq_trace - hutchinson.mean).abs() < 1e-9 * exact_trace.abs().max(1.0),
            "{case}: SLQ trace {slq_trace} vs Hutchinson {}",
            hutchinson.mean
        );
        assert!(
            (slq_trace - exact_trace).abs() <= 4.0 * hutchinson.standard_error,
            "{case}: SLQ trace {slq_trace}, exact {exact_trace}, standard error {}",
            hutchinson.standard_error
        );
        // The smoothed density integrates to one, with the default and a wider sigma.
        for sigma in [None, Some(0.3)] {
            let grid = density.on_grid(400, sigma).expect("valid grid");
            let integral = grid.integral();
            assert!(
                (integral - 1.0).abs() < 1e-3,
                "{case}: sigma {:?}: density integrates to {integral}",
                grid.sigma
            );
            assert!(
                grid.density.iter().all(|d| *d >= 0.0),
                "{case}: negative density"
            );
        }
        assert!(
            (density.default_sigma() - (hi - lo) / 100.0).abs() < 1e-15,
            "{case}"
        );
    }

    #[test]
    fn slq_with_full_steps_recovers_the_exact_spectrum() {
        // With m = dim steps each probe's rule holds every eigenvalue (distinct spectrum).
        let seed = 92;
        let m = random_symmetric(12, seed);
        let exact = symmetric_eigenvalues(&m).expect("finite symmetric");
        let opts = SlqOptions {
            num_probes: 2,
            steps: 50,
            seed,
        };
        let density = spectral_density(&mut operator(&m), &opts).expect("valid call");
        for probe in density.nodes.chunks(12) {
            for ((theta, _), lambda) in probe.iter().zip(&exact) {
                assert!(
                    (theta - lambda).abs() < 1e-9,
                    "seed {seed}: {theta} vs {lambda}"
                );
            }
        }
        let trace = density.trace_estimate();
        let hutchinson = hutchinson_trace(&mut operator(&m), 2, seed).expect("valid call");
        assert!((trace - hutchinson.mean).abs() < 1e-9, "seed {seed}");
    }

    #[test]
    fn slq_handles_degenerate_operators_and_bad_input() {
        let seed = 93;
        // The zero operator: every probe breaks down at the first step.
        let zero = spectral_density(&mut operator(&DMatrix::zeros(6, 6)), &SlqOptions::default())
            .expect("zero operator");
        assert_eq!(zero.nodes.len(), 10, "zero operator: {zero:?}");
        assert!(
            zero.nodes.iter().all(|&(t, _)| t == 0.0),
            "zero operator: {zero:?}"
        );
        assert_eq!(zero.trace_estimate(), 0.0);
        let grid = zero.on_grid(101, None).expect("fallback sigma");
        assert!(
            (grid.integral() - 1.0).abs() < 1e-3,
            "zero operator: {}",
            grid.integral()
        );
        // Dimension 0.
        let empty = spectral_density(&mut operator(&DMatrix::zeros(0, 0)), &SlqOptions::default())
            .expect("dim 0");
        assert!(empty.nodes.is_empty() && empty.support().is_none());
        assert_eq!(empty.trace_estimate(), 0.0);
        // Bad input.
        let m = random_symmetric(5, seed);
        let bad = |num_probes, steps| SlqOptions {
            num_probes,
            steps,
            seed,
        };
        assert_eq!(
            spectral_density(&mut operator(&m), &bad(0, 5)),
            Err(TraceError::NoProbes)
        );
        assert_eq!(
            spectral_density(&mut operator(&m), &bad(2, 0)),
            Err(TraceError::NoSteps)
        );
        let density = spectral_density(&mut operator(&m), &bad(2, 3)).expect("valid call");
        assert_eq!(
            density.on_grid(1, None),
            Err(TraceError::TooFewPoints { points: 1 })
        );
        for sigma in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    density.on_grid(10, Some(sigma)),
                    Err(TraceError::InvalidSigma { .. })
                ),
                "sigma {sigma} accepted"
            );
        }
        let mut poisoned = DMatrix::identity(3, 3);
        poisoned[(0, 0)] = f64::INFINITY;
        assert!(matches!(
            spectral_density(&mut operator(&poisoned), &bad(2, 3)),
            Err(TraceError::NonFiniteProduct { probe: 0, .. })
        ));
        // Determinism.
        let again = spectral_density(&mut operator(&m), &bad(2, 3)).expect("valid call");
        assert_eq!(density, again, "seed {seed}");
    }
    #[test]
    fn hutch_plus_plus_is_within_a_few_standard_errors_over_seeds() {
        let n = 60;
        let mut lambdas: Vec<f64> = (0..n).map(|i| 0.1 * ((i * 7) % 11) as f64 - 0.3).collect();
        lambdas[0] = 40.0;
        lambdas[1] = 25.0;
        lambdas[2] = 11.0;
        let m = crate::hessian::lanczos::tests::with_spectrum(&lambdas, 5);
        let exact = m.trace();
        let mut z_scores = Vec::new();
        for seed in 0..40 {
            let e = hutch_plus_plus(&mut operator(&m), 30, seed).expect("valid call");
            assert_eq!(e.probes, 30);
            assert!(
                e.standard_error.is_finite() && e.standard_error > 0.0,
                "{e:?}"
            );
            let z = (e.mean - exact) / e.standard_error;
            assert!(z.abs() < 5.0, "seed {seed}: {e:?} against {exact}");
            z_scores.push(z);
        }
        // The standard errors are calibrated: the z-scores' spread is about 1.
        let rms = (z_scores.iter().map(|z| z * z).sum::<f64>() / z_scores.len() as f64).sqrt();
        assert!((0.5..1.6).contains(&rms), "z-score rms {rms}");
    }

    #[test]
    fn hutch_plus_plus_needs_fewer_products_than_hutchinson_on_a_low_rank_dominated_matrix() {
        let n = 80;
        let mut lambdas: Vec<f64> = (0..n).map(|i| 0.02 * (i % 9) as f64).collect();
        for (i, l) in [50.0, 30.0, 20.0, 12.0, 8.0].iter().enumerate() {
            lambdas[i] = *l;
        }
        let m = crate::hessian::lanczos::tests::with_spectrum(&lambdas, 9);
        let exact = m.trace();
        let rms = |f: &dyn Fn(u64) -> f64| {
            let s: f64 = (0..50).map(|seed| (f(seed) - exact).powi(2)).sum();
            (s / 50.0).sqrt()
        };
        let plus = rms(&|seed| hutch_plus_plus(&mut operator(&m), 30, seed).unwrap().mean);
        let hutch = rms(&|seed| hutchinson_trace(&mut operator(&m), 90, seed).unwrap().mean);
        assert!(
            plus < hutch,
            "Hutch++ with 30 products: rms error {plus}; Hutchinson with 90: {hutch}"
        );
    }

    #[test]
    fn hutch_plus_plus_handles_edges() {
        let m = random_symmetric(12, 3);
        assert_eq!(
            hutch_plus_plus(&mut operator(&m), 3, 0),
            Err(TraceError::TooFewProducts { products: 3 })
        );
        let a = hutch_plus_plus(&mut operator(&m), 9, 4).unwrap();
        let b = hutch_plus_plus(&mut operator(&m), 9, 4).unwrap();
        assert_eq!(a.mean.to_bits(), b.mean.to_bits());
        // A rank-2 matrix is recovered exactly by its sketch.
        let u = DMatrix::from_fn(12, 2, |i, j| ((i + 3 * j) % 5) as f64 - 2.0);
        let low = &u * u.transpose();
        let e = hutch_plus_plus(&mut operator(&low), 12, 1).unwrap();
        assert!((e.mean - low.trace()).abs() < 1e-9 * low.trace(), "{e:?}");
        let empty = hutch_plus_plus(&mut operator(&DMatrix::zeros(0, 0)), 6, 0).unwrap();
        assert_eq!(empty.mean, 0.0);
        let mut poisoned = DMatrix::identity(3, 3);
        poisoned[(2, 2)] = f64::INFINITY;
        assert!(matches!(
            hutch_plus_plus(&mut operator(&poisoned), 6, 0),
            Err(TraceError::NonFiniteProduct { .. })
        ));
    }
}
