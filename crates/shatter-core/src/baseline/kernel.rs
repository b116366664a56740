//! Kernels for kernel ridge regression: Laplace, Gaussian, and the neural tangent kernel of a
//! two-layer ReLU network with biases. [`Kernel`] is what a user asks for (a bandwidth may be
//! left to the median heuristic); [`KernelFn`] is the resolved function that is evaluated.
//! Gram matrices are built here; solving with them is `krr`'s job.

use std::fmt;
use std::str::FromStr;

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::BaselineError;
use crate::data::Dataset;

/// The median heuristic looks at the pairwise distances of at most this many training inputs
/// (the first ones; samples are i.i.d., so they are a random subset): about 2.1 million
/// distances, 16 MiB.
pub const MEDIAN_MAX_POINTS: usize = 2048;

/// A kernel as the user chooses it. `FromStr` and [`Kernel::name`] spell the variants
/// `laplace`, `gaussian` and `ntk`; `laplace:0.5` and `gaussian:0.5` fix the bandwidth.
///
/// A bandwidth of `None` is resolved by [`Kernel::resolve`] to the median pairwise Euclidean
/// distance of the training inputs ([`median_pairwise_distance`]), the usual heuristic that
/// puts a typical pair of points at kernel value `exp(-1)` (Laplace) or `exp(-1/2)` (Gaussian).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kernel {
    /// `k(x, x') = exp(-||x - x'|| / h)`; `h` = `bandwidth`, or the median heuristic.
    Laplace {
        /// Bandwidth `h > 0`; `None` for the median pairwise distance.
        bandwidth: Option<f64>,
    },
    /// `k(x, x') = exp(-||x - x'||^2 / (2 h^2))`; `h` = `bandwidth`, or the median heuristic.
    Gaussian {
        /// Bandwidth `h > 0`; `None` for the median pairwise distance.
        bandwidth: Option<f64>,
    },
    /// The NTK of a two-layer ReLU network with biases; see [`KernelFn::ReluNtk`].
    ReluNtk,
}

impl Kernel {
    /// The kernel's name without its bandwidth: `laplace`, `gaussian` or `ntk`.
    pub fn name(&self) -> &'static str {
        match self {
            Kernel::Laplace { .. } => "laplace",
            Kernel::Gaussian { .. } => "gaussian",
            Kernel::ReluNtk => "ntk",
        }
    }

    /// The kernel function for `train`: fills a missing bandwidth with the median pairwise
    /// distance of `train`'s inputs and checks a given one.
    ///
    /// Cost: `O(min(n, 2048)^2 d)` when a bandwidth is missing, nothing otherwise; allocates
    /// the distances (at most 16 MiB).
    ///
    /// # Errors
    /// [`BaselineError::InvalidBandwidth`] for a bandwidth that is not positive and finite;
    /// [`BaselineError::DegenerateBandwidth`] when the median distance is zero (fewer than two
    /// distinct inputs).
    pub fn resolve(&self, train: &Dataset<f64>) -> Result<KernelFn, BaselineError> {
        let bandwidth = |given: Option<f64>| -> Result<f64, BaselineError> {
            match given {
                Some(h) if h > 0.0 && h.is_finite() => Ok(h),
                Some(h) => Err(BaselineError::InvalidBandwidth { bandwidth: h }),
                None => {
                    let median = median_pairwise_distance(train);
                    if median > 0.0 && median.is_finite() {
                        Ok(median)
                    } else {
                        Err(BaselineError::DegenerateBandwidth { n: train.n, median })
                    }
                }
            }
        };
        Ok(match *self {
            Kernel::Laplace { bandwidth: h } => KernelFn::Laplace {
                bandwidth: bandwidth(h)?,
            },
            Kernel::Gaussian { bandwidth: h } => KernelFn::Gaussian {
                bandwidth: bandwidth(h)?,
            },
            Kernel::ReluNtk => KernelFn::ReluNtk,
        })
    }
}

impl fmt::Display for Kernel {
    /// Writes the spelling `FromStr` reads back: `laplace`, `gaussian:0.5`, `ntk`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kernel::Laplace { bandwidth: Some(h) } | Kernel::Gaussian { bandwidth: Some(h) } => {
                write!(f, "{}:{h}", self.name())
            }
            _ => f.write_str(self.name()),
        }
    }
}

impl FromStr for Kernel {
    type Err = BaselineError;

    /// Reads `laplace`, `gaussian`, `ntk` (case-insensitive, surrounding spaces ignored), and
    /// `laplace:H` or `gaussian:H` with a positive bandwidth `H`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || BaselineError::UnknownKernel {
            name: s.to_string(),
        };
        let lower = s.trim().to_ascii_lowercase();
        let (name, bandwidth) = match lower.split_once(':') {
            Some((name, h)) => {
                let h: f64 = h.trim().parse().map_err(|_| unknown())?;
                if !(h > 0.0 && h.is_finite()) {
                    return Err(BaselineError::InvalidBandwidth { bandwidth: h });
                }
                (name.trim().to_string(), Some(h))
            }
            None => (lower, None),
        };
        match (name.as_str(), bandwidth) {
            ("laplace", h) => Ok(Kernel::Laplace { bandwidth: h }),
            ("gaussian", h) => Ok(Kernel::Gaussian { bandwidth: h }),
            ("ntk", None) => Ok(Kernel::ReluNtk),
            _ => Err(unknown()),
        }
    }
}

/// A resolved kernel function, ready to evaluate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KernelFn {
    /// `k(x, x') = exp(-||x - x'|| / h)`.
    Laplace {
        /// Bandwidth `h > 0`.
        bandwidth: f64,
    },
    /// `k(x, x') = exp(-||x - x'||^2 / (2 h^2))`.
    Gaussian {
        /// Bandwidth `h > 0`.
        bandwidth: f64,
    },
    /// Neural tangent kernel of `f(x) = (1/sqrt(K)) sum_k v_k relu(w_k . x + b_k) + beta` with
    /// `w_k, b_k, v_k ~ N(0, 1)`, in the infinite-width limit `K -> infinity`:
    ///
    /// `Theta(x, x') = 1/2 |u| |u'| (k1(theta) + cos(theta) k0(theta)) + 1`,
    ///
    /// with `u = (x, 1)`, `u' = (x', 1)`, `cos(theta) = u . u' / (|u| |u'|)`,
    /// `k0 = (pi - theta) / pi`, `k1 = (sin(theta) + (pi - theta) cos(theta)) / pi`.
    ///
    /// Derivation: the bias is folded into the input, `w_k . x + b_k = (w_k, b_k) . u`. The NTK
    /// is the expected inner product of parameter gradients, a sum over parameter groups.
    /// `v_k`: `d f / d v_k = relu(w_k . u) / sqrt(K)`, so the group contributes
    /// `E[relu(w . u) relu(w . u')] = |u| |u'| k1 / 2` (the order-1 arc-cosine kernel of Cho
    /// and Saul, with their factor 2 taken out). `(w_k, b_k)`: the gradient is
    /// `v_k 1[w_k . u > 0] u / sqrt(K)`, contributing
    /// `E[v^2] P(w . u > 0, w . u' > 0) u . u' = k0 / 2 * |u| |u'| cos(theta)` (the order-0
    /// arc-cosine kernel). `beta`: gradient 1, contributing the constant 1. Other
    /// parameterisations (PyTorch's uniform initialisation, `1/d` scalings) change the three
    /// terms' weights, not the kernel's character; ridge regression absorbs an overall scale
    /// into `lambda`, which cross-validation chooses.
    ReluNtk,
}

impl KernelFn {
    /// `k(a, b)`. Reads `min(a.len(), b.len())` coordinates (callers pass equal lengths).
    ///
    /// Cost `O(d)`; allocates nothing. Symmetric to the last bit: `k(a, b) == k(b, a)`.
    #[inline]
    pub fn eval(&self, a: &[f64], b: &[f64]) -> f64 {
        match *self {
            KernelFn::Laplace { bandwidth } => (-squared_distance(a, b).sqrt() / bandwidth).exp(),
            KernelFn::Gaussian { bandwidth } => {
                (-squared_distance(a, b) / (2.0 * bandwidth * bandwidth)).exp()
            }
            KernelFn::ReluNtk => {
                let (mut dot, mut aa, mut bb) = (1.0, 1.0, 1.0);
                for (&p, &q) in a.iter().zip(b) {
                    dot += p * q;
                    aa += p * p;
                    bb += q * q;
                }
                let norms = (aa * bb).sqrt();
                let cos = (dot / norms).clamp(-1.0, 1.0);
                let theta = cos.acos();
                let sin = (1.0 - cos * cos).max(0.0).sqrt();
                let k0 = (std::f64::consts::PI - theta) / std::f64::consts::PI;
                let k1 = (sin + (std::f64::consts::PI - theta) * cos) / std::f64::consts::PI;
                0.5 * norms * (k1 + cos * k0) + 1.0
            }
        }
    }

    /// The `n x n` Gram matrix `K_ij = k(x_i, x_j)` of `data`'s inputs.
    ///
    /// Cost `O(n^2 d)`, rows in parallel (rayon); each entry is computed by one thread in a
    /// fixed order, so the bytes do not depend on the thread count. Allocates the matrix
    /// (`8 n^2` bytes).
    pub fn gram(&self, data: &Dataset<f64>) -> DMatrix<f64> {
        let n = data.n;
        let mut entries = vec![0.0; n * n];
        if n > 0 {
            entries.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
                let xi = data.row(i);
                for (j, entry) in row.iter_mut().enumerate() {
                    *entry = self.eval(xi, data.row(j));
                }
            });
        }
        // Row-major fill of a symmetric matrix: the column-major reading is the same matrix.
        DMatrix::from_vec(n, n, entries)
    }
}

impl fmt::Display for KernelFn {
    /// `laplace:H`, `gaussian:H` or `ntk`, with the resolved bandwidth.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelFn::Laplace { bandwidth } => write!(f, "laplace:{bandwidth}"),
            KernelFn::Gaussian { bandwidth } => write!(f, "gaussian:{bandwidth}"),
            KernelFn::ReluNtk => f.write_str("ntk"),
        }
    }
}

/// `||a - b||^2` over the common length.
#[inline]
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(&p, &q)| (p - q) * (p - q)).sum()
}

/// Median Euclidean distance between distinct pairs of the first `min(n, 2048)` inputs of
/// `data` ([`MEDIAN_MAX_POINTS`]); the upper median (element `len / 2` in sorted order) when
/// the number of pairs is even. `0` when there are fewer than two samples.
///
/// Cost `O(m^2 d)` with `m = min(n, 2048)`, a linear-time selection after; allocates the
/// `m (m - 1) / 2` distances. Deterministic.
pub fn median_pairwise_distance(data: &Dataset<f64>) -> f64 {
    let m = data.n.min(MEDIAN_MAX_POINTS);
    if m < 2 {
        return 0.0;
    }
    let mut distances: Vec<f64> = (0..m)
        .into_par_iter()
        .flat_map_iter(|i| {
            let xi = data.row(i);
            (i + 1..m).map(move |j| squared_distance(xi, data.row(j)).sqrt())
        })
        .collect();
    let middle = distances.len() / 2;
    let (_, median, _) = distances.select_nth_unstable_by(middle, f64::total_cmp);
    *median
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};
    use nalgebra::SymmetricEigen;
    use rand::Rng;
    use rand_distr::{Distribution, StandardNormal};

    fn uniform_inputs(n: usize, d: usize, seed: u64) -> Dataset<f64> {
        let mut rng = stream(seed, Stream::Inputs);
        let x: Vec<f64> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        Dataset::new(d, x, vec![0.0; n]).expect("consistent lengths")
    }

    fn eigen_range(k: DMatrix<f64>) -> (f64, f64) {
        let eig = SymmetricEigen::new(k);
        let min = eig
            .eigenvalues
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let max = eig
            .eigenvalues
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (min, max)
    }

    #[test]
    fn names_parse_and_print() {
        for (text, kernel) in [
            ("laplace", Kernel::Laplace { bandwidth: None }),
            ("gaussian", Kernel::Gaussian { bandwidth: None }),
            ("ntk", Kernel::ReluNtk),
            (
                "gaussian:0.5",
                Kernel::Gaussian {
                    bandwidth: Some(0.5),
                },
            ),
            (
                "laplace:2",
                Kernel::Laplace {
                    bandwidth: Some(2.0),
                },
            ),
        ] {
            assert_eq!(text.parse::<Kernel>(), Ok(kernel), "parsing {text}");
            assert_eq!(kernel.to_string().parse::<Kernel>(), Ok(kernel), "{text}");
        }
        assert_eq!(" NTK ".parse::<Kernel>(), Ok(Kernel::ReluNtk));
        for bad in ["rbf", "ntk:1", "gaussian:x", ""] {
            assert!(
                matches!(
                    bad.parse::<Kernel>(),
                    Err(BaselineError::UnknownKernel { .. })
                ),
                "{bad:?} should be an unknown kernel"
            );
        }
        assert_eq!(
            "laplace:-1".parse::<Kernel>(),
            Err(BaselineError::InvalidBandwidth { bandwidth: -1.0 })
        );
    }

    #[test]
    fn median_bandwidth_resolves_and_degenerate_data_is_an_error() {
        // Points 0, 1, 3 on a line: distances 1, 2, 3; median 2.
        let data = Dataset::new(1, vec![0.0, 1.0, 3.0], vec![0.0; 3]).expect("lengths");
        assert_eq!(median_pairwise_distance(&data), 2.0);
        assert_eq!(
            Kernel::Gaussian { bandwidth: None }.resolve(&data),
            Ok(KernelFn::Gaussian { bandwidth: 2.0 })
        );
        let same = Dataset::new(2, vec![1.0; 6], vec![0.0; 3]).expect("lengths");
        assert!(matches!(
            Kernel::Laplace { bandwidth: None }.resolve(&same),
            Err(BaselineError::DegenerateBandwidth { n: 3, .. })
        ));
        assert_eq!(
            Kernel::Laplace {
                bandwidth: Some(0.0)
            }
            .resolve(&same),
            Err(BaselineError::InvalidBandwidth { bandwidth: 0.0 })
        );
    }

    #[test]
    fn gaussian_and_laplace_gram_matrices_are_psd() {
        let data = uniform_inputs(60, 3, 11);
        for kernel in [
            Kernel::Gaussian { bandwidth: None },
            Kernel::Laplace { bandwidth: None },
        ] {
            let k = kernel.resolve(&data).expect("bandwidth").gram(&data);
            assert_eq!(
                k,
                k.transpose(),
                "{kernel} Gram matrix not symmetric (seed 11)"
            );
            let (min, max) = eigen_range(k);
            assert!(
                min >= -1e-10 * max,
                "{kernel} Gram matrix (seed 11) has eigenvalue {min}, largest {max}"
            );
        }
    }

    #[test]
    fn ntk_gram_matrix_is_psd() {
        let data = uniform_inputs(60, 3, 12);
        let k = KernelFn::ReluNtk.gram(&data);
        assert_eq!(k, k.transpose(), "NTK Gram matrix not symmetric (seed 12)");
        let (min, max) = eigen_range(k);
        assert!(
            min >= -1e-10 * max,
            "NTK Gram matrix (seed 12) has eigenvalue {min}, largest {max}"
        );
    }

    /// The NTK formula against the empirical tangent kernel of a random network of width
    /// 20000: `(1/K) sum_k [relu(z_k) relu(z'_k) + v_k^2 1[z_k > 0] 1[z'_k > 0] u . u'] + 1`.
    #[test]
    fn ntk_matches_monte_carlo_over_a_wide_network() {
        let (n, d, width, seed) = (6, 3, 20_000, 13);
        let data = uniform_inputs(n, d, seed);
        let mut rng = stream(seed, Stream::Init);
        let mut empirical = DMatrix::<f64>::zeros(n, n);
        let mut z = vec![0.0; n];
        for _ in 0..width {
            let w: Vec<f64> = (0..=d).map(|_| StandardNormal.sample(&mut rng)).collect();
            let v: f64 = StandardNormal.sample(&mut rng);
            for (i, zi) in z.iter_mut().enumerate() {
                *zi = data.row(i).iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + w[d];
            }
            for i in 0..n {
                for j in 0..n {
                    let uu = data
                        .row(i)
                        .iter()
                        .zip(data.row(j))
                        .map(|(a, b)| a * b)
                        .sum::<f64>()
                        + 1.0;
                    let both = if z[i] > 0.0 && z[j] > 0.0 { 1.0 } else { 0.0 };
                    empirical[(i, j)] += z[i].max(0.0) * z[j].max(0.0) + v * v * both * uu;
                }
            }
        }
        empirical /= width as f64;
        empirical.add_scalar_mut(1.0);
        let exact = KernelFn::ReluNtk.gram(&data);
        let scale = exact.amax();
        let worst = (&empirical - &exact).amax();
        assert!(
            worst <= 0.03 * scale,
            "NTK differs from its Monte-Carlo estimate (width {width}, seed {seed}) by {worst} \
             at scale {scale}:\nexact {exact}\nempirical {empirical}"
        );
    }

    #[test]
    fn ntk_on_the_diagonal_is_squared_norm_plus_two() {
        // theta = 0: k0 = k1 = 1, so Theta(x, x) = |u|^2 + 1 = |x|^2 + 2.
        let x = [0.3, -0.4];
        let value = KernelFn::ReluNtk.eval(&x, &x);
        assert!(
            (value - 2.25).abs() < 1e-12,
            "Theta(x, x) = {value}, expected 2.25"
        );
    }

    #[test]
    fn gram_is_identical_for_one_and_two_threads() {
        let data = uniform_inputs(40, 2, 14);
        let gram_with = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool")
                .install(|| {
                    (
                        KernelFn::ReluNtk.gram(&data),
                        median_pairwise_distance(&data),
                    )
                })
        };
        assert_eq!(gram_with(1), gram_with(2), "seed 14");
    }
}
