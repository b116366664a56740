//! Synthetic training problems (SCIENCE.md sections 2 and 7): input distributions, target
//! functions and label models, drawn deterministically from a seed. Everything is computed in
//! `f64`; callers cast a [`Dataset`] to the run's precision. Reading user files is the lab
//! crate's job.
//!
//! Each source of randomness has its own stream of the seed ([`Stream`]): training inputs come
//! from `Inputs`, subspace bases from `Geometry`, the target's random directions and teacher
//! weights from `Target`, label noise and Bernoulli draws from `Noise`, test inputs from `Test`.
//! Changing `sigma` therefore never changes the inputs, changing `n` never changes the target,
//! and changing the target never changes the inputs. Samples are drawn one after another, so
//! the first `m` samples of a data set of size `n > m` are the data set of size `m` (except for
//! the `grid` design, which depends on `n` by construction).

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, StandardNormal};

use crate::data::Dataset;
use crate::model::{Activation, Network, Shape};
use crate::rng::{stream, Stream};

/// A data specification that cannot be generated, or a spelling that cannot be parsed.
/// Every message names the setting at fault.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DataError {
    /// `n = 0`.
    #[error("n = 0: a training set needs at least one sample")]
    NoSamples,
    /// `d = 0`.
    #[error("d = 0: inputs need at least one dimension")]
    NoDimensions,
    /// A one-dimensional input distribution or target with `d != 1`.
    #[error("{setting} needs d = 1, but d = {d}")]
    NeedsOneDimension {
        /// The setting, e.g. ``input `grid` ``.
        setting: String,
        /// The requested dimension.
        d: usize,
    },
    /// An `interval` or `grid` whose bounds are not finite with `lo < hi`.
    #[error("input `{input}`: bounds must be finite with lo < hi, got lo = {lo}, hi = {hi}")]
    BadBounds {
        /// `interval` or `grid`.
        input: &'static str,
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// `subspaces` with `count = 0`, `dim = 0` or `dim > d`.
    #[error("input `subspaces`: need count >= 1 and 1 <= dim <= d, got count = {count}, dim = {dim}, d = {d}")]
    BadSubspaces {
        /// Number of subspaces.
        count: usize,
        /// Their dimension.
        dim: usize,
        /// The ambient dimension.
        d: usize,
    },
    /// `radial-beta` with a shape parameter that is not finite and positive.
    #[error("input `radial-beta`: alpha and beta must be finite and > 0, got alpha = {alpha}, beta = {beta}")]
    BadBetaShape {
        /// First shape parameter.
        alpha: f64,
        /// Second shape parameter.
        beta: f64,
    },
    /// Shell radii of an out-of-support test set that are not finite with `0 <= r_lo < r_hi`.
    #[error("shell test set: radii must be finite with 0 <= r_lo < r_hi, got r_lo = {r_lo}, r_hi = {r_hi}")]
    BadShell {
        /// Inner radius.
        r_lo: f64,
        /// Outer radius.
        r_hi: f64,
    },
    /// `teacher` with `width = 0`.
    #[error("target `teacher`: width must be >= 1")]
    NoTeacherWidth,
    /// A noise level that is negative or not finite.
    #[error("labels `regression`: sigma must be finite and >= 0, got sigma = {sigma}")]
    BadSigma {
        /// The requested noise level.
        sigma: f64,
    },
    /// A name that is not one of the known spellings.
    #[error("unknown {setting} `{value}`; expected one of {expected}")]
    UnknownName {
        /// Which setting was being parsed (`input`, `target`, `labels`).
        setting: &'static str,
        /// What was written.
        value: String,
        /// The accepted spellings.
        expected: &'static str,
    },
    /// A known name whose parameter list cannot be parsed.
    #[error("{setting} `{value}`: {problem}; write e.g. `{example}`")]
    BadParameters {
        /// Which setting was being parsed.
        setting: &'static str,
        /// What was written.
        value: String,
        /// What is wrong with it.
        problem: String,
        /// A correct spelling.
        example: &'static str,
    },
}

/// Where the training inputs come from.
///
/// Config spellings (see [`FromStr`]): `ball`, `sphere`, `gaussian`, `interval`,
/// `interval(lo, hi)`, `grid`, `grid(lo, hi)`, `subspaces`, `subspaces(count, dim)`,
/// `radial-beta`, `radial-beta(alpha, beta)`. A bare name takes the defaults documented on
/// each variant; [`fmt::Display`] writes the full spelling, which parses back to the same value.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum InputDist {
    /// Uniform in the unit ball `B^d_1` (the default): a Gaussian direction times a radius
    /// `U^(1/d)`, `U ~ Uniform[0, 1)`.
    #[default]
    Ball,
    /// Uniform on the unit sphere `S^(d-1)` (a normalised Gaussian vector).
    Sphere,
    /// Standard normal `N(0, I_d)`.
    Gaussian,
    /// Uniform on `[lo, hi)`; needs `d = 1`. Default `[-1, 1]`.
    Interval {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// The fixed design `lo + (hi - lo) i / (n - 1)`, `i = 0..n`, endpoints included (`n = 1`
    /// gives the midpoint); needs `d = 1`. Default `[-1, 1]`. Draws nothing at random; test
    /// inputs for a grid are uniform on `[lo, hi)`.
    Grid {
        /// First point.
        lo: f64,
        /// Last point.
        hi: f64,
    },
    /// A union of `count` random `dim`-dimensional linear subspaces of `R^d` (orthonormal bases
    /// from the `Geometry` stream). Each sample picks a subspace uniformly and is uniform in the
    /// unit ball of that subspace, so `||x|| <= 1`. Default `count = 3, dim = 1`.
    Subspaces {
        /// Number of subspaces, at least 1.
        count: usize,
        /// Their dimension, `1..=d`.
        dim: usize,
    },
    /// A uniform direction times a radius `~ Beta(alpha, beta)`, so `||x|| <= 1`. Default
    /// `alpha = beta = 2` (radii concentrated around 1/2).
    RadialBeta {
        /// First shape parameter, `> 0`.
        alpha: f64,
        /// Second shape parameter, `> 0`.
        beta: f64,
    },
}

const INPUT_NAMES: &str = "ball, sphere, gaussian, interval, grid, subspaces, radial-beta";

impl InputDist {
    /// The config name, without parameters.
    pub fn name(&self) -> &'static str {
        match self {
            InputDist::Ball => "ball",
            InputDist::Sphere => "sphere",
            InputDist::Gaussian => "gaussian",
            InputDist::Interval { .. } => "interval",
            InputDist::Grid { .. } => "grid",
            InputDist::Subspaces { .. } => "subspaces",
            InputDist::RadialBeta { .. } => "radial-beta",
        }
    }

    /// Checks the parameters against the input dimension `d`.
    pub fn check(&self, d: usize) -> Result<(), DataError> {
        if d == 0 {
            return Err(DataError::NoDimensions);
        }
        match *self {
            InputDist::Ball | InputDist::Sphere | InputDist::Gaussian => Ok(()),
            InputDist::Interval { lo, hi } | InputDist::Grid { lo, hi } => {
                if d != 1 {
                    return Err(DataError::NeedsOneDimension {
                        setting: format!("input `{}`", self.name()),
                        d,
                    });
                }
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(DataError::BadBounds {
                        input: self.name(),
                        lo,
                        hi,
                    });
                }
                Ok(())
            }
            InputDist::Subspaces { count, dim } => {
                if count == 0 || dim == 0 || dim > d {
                    return Err(DataError::BadSubspaces { count, dim, d });
                }
                Ok(())
            }
            InputDist::RadialBeta { alpha, beta } => {
                if !(alpha.is_finite() && beta.is_finite() && alpha > 0.0 && beta > 0.0) {
                    return Err(DataError::BadBetaShape { alpha, beta });
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for InputDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InputDist::Interval { lo, hi } | InputDist::Grid { lo, hi } => {
                write!(f, "{}({lo:?}, {hi:?})", self.name())
            }
            InputDist::Subspaces { count, dim } => write!(f, "subspaces({count}, {dim})"),
            InputDist::RadialBeta { alpha, beta } => write!(f, "radial-beta({alpha:?}, {beta:?})"),
            _ => f.write_str(self.name()),
        }
    }
}

/// Splits `name(a, b, ...)` into the name and its arguments; a bare name has none.
fn split_call(s: &str) -> Option<(&str, Vec<&str>)> {
    let s = s.trim();
    match s.find('(') {
        None => Some((s, Vec::new())),
        Some(open) => {
            let inner = s[open + 1..].strip_suffix(')')?;
            let args = if inner.trim().is_empty() {
                Vec::new()
            } else {
                inner.split(',').map(str::trim).collect()
            };
            Some((s[..open].trim(), args))
        }
    }
}

/// Parses exactly two arguments of type `T`, or returns the defaults when there are none.
fn two_args<T: FromStr + Copy>(
    setting: &'static str,
    value: &str,
    args: &[&str],
    defaults: (T, T),
    example: &'static str,
) -> Result<(T, T), DataError> {
    let bad = |problem: String| DataError::BadParameters {
        setting,
        value: value.to_string(),
        problem,
        example,
    };
    match args {
        [] => Ok(defaults),
        [a, b] => {
            let parse = |t: &str| {
                t.parse::<T>()
                    .map_err(|_| bad(format!("`{t}` is not a valid number")))
            };
            Ok((parse(a)?, parse(b)?))
        }
        _ => Err(bad(format!("expected 2 parameters, found {}", args.len()))),
    }
}

/// Rejects parameters given to a name that takes none.
fn no_args(
    setting: &'static str,
    value: &str,
    args: &[&str],
    example: &'static str,
) -> Result<(), DataError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(DataError::BadParameters {
            setting,
            value: value.to_string(),
            problem: "takes no parameters".to_string(),
            example,
        })
    }
}

impl FromStr for InputDist {
    type Err = DataError;

    /// Parses a config spelling (see the type's documentation); names are case-sensitive.
    fn from_str(s: &str) -> Result<Self, DataError> {
        let unknown = || DataError::UnknownName {
            setting: "input",
            value: s.to_string(),
            expected: INPUT_NAMES,
        };
        let (name, args) = split_call(s).ok_or_else(unknown)?;
        let input = match name {
            "ball" => no_args("input", s, &args, "ball").map(|_| InputDist::Ball)?,
            "sphere" => no_args("input", s, &args, "sphere").map(|_| InputDist::Sphere)?,
            "gaussian" => no_args("input", s, &args, "gaussian").map(|_| InputDist::Gaussian)?,
            "interval" => {
                let (lo, hi) = two_args("input", s, &args, (-1.0, 1.0), "interval(-1, 1)")?;
                InputDist::Interval { lo, hi }
            }
            "grid" => {
                let (lo, hi) = two_args("input", s, &args, (-1.0, 1.0), "grid(-1, 1)")?;
                InputDist::Grid { lo, hi }
            }
            "subspaces" => {
                let (count, dim) = two_args("input", s, &args, (3, 1), "subspaces(3, 1)")?;
                InputDist::Subspaces { count, dim }
            }
            "radial-beta" => {
                let (alpha, beta) = two_args("input", s, &args, (2.0, 2.0), "radial-beta(2, 2)")?;
                InputDist::RadialBeta { alpha, beta }
            }
            _ => return Err(unknown()),
        };
        Ok(input)
    }
}

/// Which target function `f*` the labels are drawn around.
///
/// Config spellings: `linear`, `holder`, `sine`, `piecewise`, `teacher`, `teacher(width)`,
/// `zero`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TargetKind {
    /// `f*(x) = w . x` with a fixed random unit `w` (a normalised Gaussian vector from the
    /// `Target` stream); the default, as in the papers.
    #[default]
    Linear,
    /// `f*(x) = (1/d) sum_{j=1..d} |u_j . x|^(1/2) + 1` with `d` random unit `u_j` (normalised
    /// Gaussian vectors from the `Target` stream), the Hölder-1/2 target of SCIENCE.md
    /// section 7 (`cod-variants`).
    Holder,
    /// `f*(x) = sin(pi x)`, one full period over `[-1, 1]`; needs `d = 1`.
    Sine,
    /// The continuous piecewise-linear function through `(-1, 0), (-0.5, 1), (0, 0),
    /// (0.5, 0.5), (1, 0.5)`, extended linearly beyond `[-1, 1]`: knots at `-0.5, 0, 0.5`,
    /// slopes `2, -2, 1, 0`. Equivalently `2x + 2 - 4 relu(x + 0.5) + 3 relu(x)
    /// - relu(x - 0.5)`. Needs `d = 1`.
    PiecewiseLinear,
    /// A random two-layer ReLU network with biases of this width, initialised as PyTorch's
    /// `nn.Linear` does (SCIENCE.md section 2) from the `Target` stream. Default width 16.
    Teacher {
        /// Number of hidden neurons, at least 1.
        width: usize,
    },
    /// `f*(x) = 0`: labels are pure noise.
    Zero,
}

const TARGET_NAMES: &str = "linear, holder, sine, piecewise, teacher, zero";

impl TargetKind {
    /// The config name, without parameters.
    pub fn name(&self) -> &'static str {
        match self {
            TargetKind::Linear => "linear",
            TargetKind::Holder => "holder",
            TargetKind::Sine => "sine",
            TargetKind::PiecewiseLinear => "piecewise",
            TargetKind::Teacher { .. } => "teacher",
            TargetKind::Zero => "zero",
        }
    }

    /// Checks the parameters against the input dimension `d`.
    pub fn check(&self, d: usize) -> Result<(), DataError> {
        if d == 0 {
            return Err(DataError::NoDimensions);
        }
        match *self {
            TargetKind::Sine | TargetKind::PiecewiseLinear if d != 1 => {
                Err(DataError::NeedsOneDimension {
                    setting: format!("target `{}`", self.name()),
                    d,
                })
            }
            TargetKind::Teacher { width: 0 } => Err(DataError::NoTeacherWidth),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TargetKind::Teacher { width } => write!(f, "teacher({width})"),
            _ => f.write_str(self.name()),
        }
    }
}

impl FromStr for TargetKind {
    type Err = DataError;

    /// Parses a config spelling (see the type's documentation); names are case-sensitive.
    fn from_str(s: &str) -> Result<Self, DataError> {
        let unknown = || DataError::UnknownName {
            setting: "target",
            value: s.to_string(),
            expected: TARGET_NAMES,
        };
        let (name, args) = split_call(s).ok_or_else(unknown)?;
        let example = "teacher(16)";
        let target = match name {
            "linear" => no_args("target", s, &args, "linear").map(|_| TargetKind::Linear)?,
            "holder" => no_args("target", s, &args, "holder").map(|_| TargetKind::Holder)?,
            "sine" => no_args("target", s, &args, "sine").map(|_| TargetKind::Sine)?,
            "piecewise" => {
                no_args("target", s, &args, "piecewise").map(|_| TargetKind::PiecewiseLinear)?
            }
            "zero" => no_args("target", s, &args, "zero").map(|_| TargetKind::Zero)?,
            "teacher" => match args.as_slice() {
                [] => TargetKind::Teacher { width: 16 },
                [w] => TargetKind::Teacher {
                    width: w.parse().map_err(|_| DataError::BadParameters {
                        setting: "target",
                        value: s.to_string(),
                        problem: format!("`{w}` is not a valid width"),
                        example,
                    })?,
                },
                _ => {
                    return Err(DataError::BadParameters {
                        setting: "target",
                        value: s.to_string(),
                        problem: format!("expected 1 parameter, found {}", args.len()),
                        example,
                    })
                }
            },
            _ => return Err(unknown()),
        };
        Ok(target)
    }
}

/// How labels are drawn around the target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Labels {
    /// `y = f*(x) + N(0, sigma^2)`, noise from the `Noise` stream (a standard normal draw per
    /// sample, times `sigma`, so changing `sigma` rescales the same noise). For square loss.
    Regression {
        /// Noise standard deviation, finite and `>= 0`; the papers' default is 1.
        sigma: f64,
    },
    /// `y in {-1, +1}` with `P(y = +1) = sigmoid(f*(x))`, one uniform draw per sample from the
    /// `Noise` stream. For logistic loss.
    Bernoulli,
}

impl Default for Labels {
    /// `Regression { sigma: 1.0 }`, the papers' default.
    fn default() -> Self {
        Labels::Regression { sigma: 1.0 }
    }
}

impl Labels {
    /// The config name: `regression` or `bernoulli`.
    pub fn name(&self) -> &'static str {
        match self {
            Labels::Regression { .. } => "regression",
            Labels::Bernoulli => "bernoulli",
        }
    }

    /// Checks the noise level.
    pub fn check(&self) -> Result<(), DataError> {
        match *self {
            Labels::Regression { sigma } if !(sigma.is_finite() && sigma >= 0.0) => {
                Err(DataError::BadSigma { sigma })
            }
            _ => Ok(()),
        }
    }
}

/// Everything needed to generate a training problem, apart from the seed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DataSpec {
    /// Number of training samples, at least 1.
    pub n: usize,
    /// Input dimension, at least 1.
    pub d: usize,
    /// Input distribution; default `ball`.
    pub input: InputDist,
    /// Target function; default `linear`.
    pub target: TargetKind,
    /// Label model; default regression with `sigma = 1`.
    pub labels: Labels,
}

impl DataSpec {
    /// The papers' default problem (SCIENCE.md section 7): inputs uniform in the unit ball, a
    /// linear target with a random unit direction, Gaussian noise with `sigma = 1`.
    pub fn new(n: usize, d: usize) -> Self {
        DataSpec {
            n,
            d,
            input: InputDist::default(),
            target: TargetKind::default(),
            labels: Labels::default(),
        }
    }

    /// Checks that the combination can be generated: `n, d >= 1`, one-dimensional inputs and
    /// targets only with `d = 1`, valid parameters.
    pub fn check(&self) -> Result<(), DataError> {
        if self.n == 0 {
            return Err(DataError::NoSamples);
        }
        self.input.check(self.d)?;
        self.target.check(self.d)?;
        self.labels.check()
    }
}

/// A standard normal `d`-vector, normalised; redrawn in the (probability zero) event that it
/// is zero.
fn unit_vector(rng: &mut ChaCha8Rng, d: usize) -> Vec<f64> {
    loop {
        let g: Vec<f64> = (0..d).map(|_| StandardNormal.sample(rng)).collect();
        let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            return g.into_iter().map(|v| v / norm).collect();
        }
    }
}

/// A uniform point of the unit ball of `R^d`: a uniform direction times `U^(1/d)`.
fn ball_point(rng: &mut ChaCha8Rng, d: usize) -> Vec<f64> {
    let dir = unit_vector(rng, d);
    let r = rng.random::<f64>().powf(1.0 / d as f64);
    dir.into_iter().map(|v| v * r).collect()
}

/// An orthonormal basis (`dim x d`, rows) of a uniformly random `dim`-dimensional subspace:
/// Gaussian vectors, Gram-Schmidt twice for accuracy, redrawn if one is (nearly) dependent.
fn random_basis(rng: &mut ChaCha8Rng, d: usize, dim: usize) -> Vec<f64> {
    let mut basis: Vec<f64> = Vec::with_capacity(dim * d);
    while basis.len() < dim * d {
        let mut g: Vec<f64> = (0..d).map(|_| StandardNormal.sample(rng)).collect();
        let before = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        for _ in 0..2 {
            for q in basis.chunks_exact(d) {
                let dot: f64 = q.iter().zip(&g).map(|(a, b)| a * b).sum();
                g.iter_mut().zip(q).for_each(|(gi, qi)| *gi -= dot * qi);
            }
        }
        let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 1e-8 * before && norm > 0.0 {
            basis.extend(g.into_iter().map(|v| v / norm));
        }
    }
    basis
}

/// Draws inputs of an [`InputDist`], holding the geometry (subspace bases) it fixes once per
/// seed.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSampler {
    dist: InputDist,
    d: usize,
    /// For `subspaces`: `count` bases, each `dim x d` row-major with orthonormal rows.
    bases: Vec<Vec<f64>>,
}

impl InputSampler {
    /// Checks `dist` against `d` and draws its geometry from the `Geometry` stream of `seed`
    /// (`count` orthonormal bases for `subspaces`, nothing otherwise). Costs `O(count dim^2 d)`.
    pub fn new(dist: InputDist, d: usize, seed: u64) -> Result<Self, DataError> {
        dist.check(d)?;
        let bases = match dist {
            InputDist::Subspaces { count, dim } => {
                let mut rng = stream(seed, Stream::Geometry);
                (0..count).map(|_| random_basis(&mut rng, d, dim)).collect()
            }
            _ => Vec::new(),
        };
        Ok(InputSampler { dist, d, bases })
    }

    /// The distribution drawn from.
    pub fn dist(&self) -> InputDist {
        self.dist
    }

    /// The input dimension.
    pub fn d(&self) -> usize {
        self.d
    }

    /// The subspace bases of `subspaces` (each `dim x d` row-major, orthonormal rows); empty
    /// for other distributions.
    pub fn bases(&self) -> &[Vec<f64>] {
        &self.bases
    }

    /// Draws `n` inputs (`n x d` row-major) from `rng`, one sample after another. For `grid`
    /// this is the fixed design and `rng` is untouched. Allocates the result.
    pub fn sample(&self, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let d = self.d;
        let mut x = Vec::with_capacity(n * d);
        match self.dist {
            InputDist::Grid { lo, hi } => {
                for i in 0..n {
                    x.push(if n == 1 {
                        0.5 * (lo + hi)
                    } else {
                        lo + (hi - lo) * i as f64 / (n - 1) as f64
                    });
                }
            }
            _ => {
                for _ in 0..n {
                    self.sample_one(rng, &mut x);
                }
            }
        }
        x
    }

    /// Draws `n` inputs as [`InputSampler::sample`] does, except that `grid` is replaced by
    /// uniform draws on `[lo, hi)` (a test set should not repeat the training design).
    pub fn sample_fresh(&self, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
        match self.dist {
            InputDist::Grid { lo, hi } => {
                let interval = InputSampler {
                    dist: InputDist::Interval { lo, hi },
                    d: self.d,
                    bases: Vec::new(),
                };
                interval.sample(n, rng)
            }
            _ => self.sample(n, rng),
        }
    }

    /// Appends one random sample to `x`.
    fn sample_one(&self, rng: &mut ChaCha8Rng, x: &mut Vec<f64>) {
        let d = self.d;
        match self.dist {
            InputDist::Ball => x.extend(ball_point(rng, d)),
            InputDist::Sphere => x.extend(unit_vector(rng, d)),
            InputDist::Gaussian => {
                x.extend((0..d).map(|_| Distribution::<f64>::sample(&StandardNormal, rng)))
            }
            InputDist::Interval { lo, hi } | InputDist::Grid { lo, hi } => {
                x.push(lo + (hi - lo) * rng.random::<f64>());
            }
            InputDist::Subspaces { count, dim } => {
                let basis = &self.bases[rng.random_range(0..count)];
                let c = ball_point(rng, dim);
                let start = x.len();
                x.resize(start + d, 0.0);
                for (ci, row) in c.iter().zip(basis.chunks_exact(d)) {
                    x[start..]
                        .iter_mut()
                        .zip(row)
                        .for_each(|(xj, bj)| *xj += ci * bj);
                }
            }
            InputDist::RadialBeta { alpha, beta } => {
                let dir = unit_vector(rng, d);
                // The parameters were checked in `new`, so the distribution exists; fall back
                // to radius 1/2 rather than panic if that ever changes.
                let r = Beta::new(alpha, beta).map(|b| b.sample(rng)).unwrap_or(0.5);
                x.extend(dir.into_iter().map(|v| v * r));
            }
        }
    }
}

/// The concrete form of a [`Target`], with its random draws.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetForm {
    /// `w . x`; `w` is a unit `d`-vector.
    Linear {
        /// The direction.
        w: Vec<f64>,
    },
    /// `(1/d) sum_j |u_j . x|^(1/2) + 1`; `u` is `d x d` row-major, rows unit vectors.
    Holder {
        /// The directions `u_j`, one per row.
        u: Vec<f64>,
    },
    /// `sin(pi x)`.
    Sine,
    /// The fixed piecewise-linear curve of [`TargetKind::PiecewiseLinear`].
    PiecewiseLinear,
    /// A teacher network.
    Teacher(Network<f64>),
    /// `0`.
    Zero,
}

/// A target function `f*: R^d -> R` with its random draws fixed.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    d: usize,
    form: TargetForm,
}

impl Target {
    /// Draws the target's randomness from the `Target` stream of `seed` (the direction `w`,
    /// the directions `u_j`, or the teacher's weights, drawn as `Network::init` draws them:
    /// `W` row by row, then `b`, `v`, `beta`). Costs `O(d^2)` for `holder`, `O(K d)` for a
    /// teacher.
    pub fn new(kind: TargetKind, d: usize, seed: u64) -> Result<Self, DataError> {
        kind.check(d)?;
        let mut rng = stream(seed, Stream::Target);
        let form = match kind {
            TargetKind::Linear => TargetForm::Linear {
                w: unit_vector(&mut rng, d),
            },
            TargetKind::Holder => TargetForm::Holder {
                u: (0..d).flat_map(|_| unit_vector(&mut rng, d)).collect(),
            },
            TargetKind::Sine => TargetForm::Sine,
            TargetKind::PiecewiseLinear => TargetForm::PiecewiseLinear,
            TargetKind::Zero => TargetForm::Zero,
            TargetKind::Teacher { width } => {
                let a1 = 1.0 / (d as f64).sqrt();
                let a2 = 1.0 / (width as f64).sqrt();
                let w: Vec<f64> = (0..width * d).map(|_| rng.random_range(-a1..a1)).collect();
                let b: Vec<f64> = (0..width).map(|_| rng.random_range(-a1..a1)).collect();
                let v: Vec<f64> = (0..width).map(|_| rng.random_range(-a2..a2)).collect();
                let beta = rng.random_range(-a2..a2);
                let shape = Shape {
                    d,
                    width,
                    bias: true,
                    activation: Activation::Relu,
                };
                // The lengths are right by construction.
                match Network::from_parts(shape, &w, &b, &v, beta) {
                    Some(net) => TargetForm::Teacher(net),
                    None => return Err(DataError::NoTeacherWidth),
                }
            }
        };
        Ok(Target { d, form })
    }

    /// The input dimension.
    pub fn d(&self) -> usize {
        self.d
    }

    /// The concrete form and its random draws.
    pub fn form(&self) -> &TargetForm {
        &self.form
    }

    /// `f*(x)` for one input of `d` values. `O(d)` (`O(d^2)` for `holder`, `O(K d)` for a
    /// teacher); allocates nothing. Assumes `x.len() == d`.
    pub fn eval(&self, x: &[f64]) -> f64 {
        debug_assert_eq!(x.len(), self.d, "Target::eval: input of wrong length");
        let dot = |a: &[f64]| a.iter().zip(x).map(|(p, q)| p * q).sum::<f64>();
        match &self.form {
            TargetForm::Linear { w } => dot(w),
            TargetForm::Holder { u } => {
                let d = self.d as f64;
                u.chunks_exact(self.d)
                    .map(|uj| dot(uj).abs().sqrt())
                    .sum::<f64>()
                    / d
                    + 1.0
            }
            TargetForm::Sine => (std::f64::consts::PI * x[0]).sin(),
            TargetForm::PiecewiseLinear => {
                let t = x[0];
                let relu = |z: f64| z.max(0.0);
                2.0 * t + 2.0 - 4.0 * relu(t + 0.5) + 3.0 * relu(t) - relu(t - 0.5)
            }
            TargetForm::Teacher(net) => net.predict(x),
            TargetForm::Zero => 0.0,
        }
    }

    /// `f*` at each row of `x` (`n x d` row-major); allocates the `n` results. Assumes
    /// `x.len()` is a multiple of `d`.
    pub fn eval_batch(&self, x: &[f64]) -> Vec<f64> {
        x.chunks_exact(self.d).map(|row| self.eval(row)).collect()
    }
}

/// A generated training problem: the training set, the target it came from, and what is
/// needed to draw test sets.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// What was generated.
    pub spec: DataSpec,
    /// The seed it was generated from.
    pub seed: u64,
    /// The training set, in `f64`.
    pub train: Dataset<f64>,
    /// The target function `f*`.
    pub target: Target,
    /// The input distribution with its geometry, reused for test sets.
    pub inputs: InputSampler,
}

/// Generates the training problem of `spec` from `seed`, in `f64`.
///
/// Inputs from the `Inputs` stream (geometry from `Geometry`), the target from `Target`, label
/// noise or Bernoulli draws from `Noise`; see the module documentation for what this makes
/// invariant. Costs `O(n d)` plus the target's evaluations; allocates the data set.
pub fn generate(spec: &DataSpec, seed: u64) -> Result<Problem, DataError> {
    spec.check()?;
    let inputs = InputSampler::new(spec.input, spec.d, seed)?;
    let target = Target::new(spec.target, spec.d, seed)?;
    let x = inputs.sample(spec.n, &mut stream(seed, Stream::Inputs));
    let f = target.eval_batch(&x);
    let mut noise = stream(seed, Stream::Noise);
    let y: Vec<f64> = match spec.labels {
        Labels::Regression { sigma } => f
            .iter()
            .map(|&fi| {
                let z: f64 = StandardNormal.sample(&mut noise);
                fi + sigma * z
            })
            .collect(),
        Labels::Bernoulli => f
            .iter()
            .map(|&fi| {
                let p = 1.0 / (1.0 + (-fi).exp());
                if noise.random::<f64>() < p {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect(),
    };
    let train = Dataset {
        n: spec.n,
        d: spec.d,
        x,
        y,
    };
    Ok(Problem {
        spec: *spec,
        seed,
        train,
        target,
        inputs,
    })
}

impl Problem {
    /// `n_test` fresh inputs from the `Test` stream of the problem's seed (uniform on
    /// `[lo, hi)` for a `grid`), labelled with the noiseless target `f*(x)`. For Bernoulli
    /// labels too the labels are `f*(x)`, the true logit, not signs: compare predictions with
    /// them by squared error, or threshold them yourself. The same `n_test` always gives the
    /// same set, and a larger one extends a smaller one. Allocates the set.
    pub fn test_set(&self, n_test: usize) -> Dataset<f64> {
        let x = self
            .inputs
            .sample_fresh(n_test, &mut stream(self.seed, Stream::Test));
        let y = self.target.eval_batch(&x);
        Dataset {
            n: n_test,
            d: self.spec.d,
            x,
            y,
        }
    }

    /// `n_test` inputs uniform in the shell `r_lo <= ||x|| <= r_hi` of `R^d` (a uniform direction
    /// times a radius of density proportional to `r^(d-1)` on `[r_lo, r_hi]`), from the
    /// `OutOfSupport` stream of the problem's seed, labelled with the noiseless target. With
    /// `r_lo >= 1` they lie outside the support of every input distribution bounded by the unit
    /// ball (ball, sphere, subspaces, radial-Beta, interval `[-1, 1]`). Errors naming the
    /// argument when `0 <= r_lo < r_hi` fails or a bound is not finite.
    pub fn shell_test_set(
        &self,
        n_test: usize,
        r_lo: f64,
        r_hi: f64,
    ) -> Result<Dataset<f64>, DataError> {
        if !(r_lo.is_finite() && r_hi.is_finite() && 0.0 <= r_lo && r_lo < r_hi) {
            return Err(DataError::BadShell { r_lo, r_hi });
        }
        let d = self.spec.d;
        let mut rng = stream(self.seed, Stream::OutOfSupport);
        let (lo_d, hi_d) = (r_lo.powi(d as i32), r_hi.powi(d as i32));
        let mut x = Vec::with_capacity(n_test * d);
        for _ in 0..n_test {
            let dir = unit_vector(&mut rng, d);
            let r = (lo_d + rng.random::<f64>() * (hi_d - lo_d)).powf(1.0 / d as f64);
            x.extend(dir.into_iter().map(|v| v * r));
        }
        let y = self.target.eval_batch(&x);
        Ok(Dataset { n: n_test, d, x, y })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norms(data: &Dataset<f64>) -> Vec<f64> {
        (0..data.n)
            .map(|i| data.row(i).iter().map(|v| v * v).sum::<f64>().sqrt())
            .collect()
    }

    fn spec(n: usize, d: usize, input: InputDist) -> DataSpec {
        DataSpec {
            input,
            ..DataSpec::new(n, d)
        }
    }

    #[test]
    fn ball_radius_follows_u_to_the_one_over_d() {
        // ||x||^d ~ Uniform[0, 1): mean 1/2, standard error sqrt(1/12 / n).
        for d in [1, 3, 10] {
            let n = 20_000;
            let p = generate(&spec(n, d, InputDist::Ball), 11).unwrap();
            let r = norms(&p.train);
            assert!(
                r.iter().all(|&r| r <= 1.0 + 1e-12),
                "seed 11, d = {d}: a sample outside the ball"
            );
            let mean = r.iter().map(|r| r.powi(d as i32)).sum::<f64>() / n as f64;
            let se = (1.0 / 12.0 / n as f64).sqrt();
            assert!(
                (mean - 0.5).abs() < 5.0 * se,
                "seed 11, d = {d}: mean ||x||^d = {mean}, expected 0.5"
            );
        }
    }

    #[test]
    fn shell_test_sets_lie_in_the_shell_with_uniform_volume_and_noiseless_labels() {
        let p = generate(&spec(50, 3, InputDist::Ball), 21).unwrap();
        let shell = p.shell_test_set(4000, 1.0, 1.5).unwrap();
        let radii: Vec<f64> = shell
            .x
            .chunks_exact(3)
            .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
            .collect();
        assert!(radii.iter().all(|r| (1.0..=1.5).contains(r)), "seed 21");
        // Uniform in volume: P(||x|| <= r) = (r^3 - 1) / (1.5^3 - 1); at the median radius
        // r = ((1 + 1.5^3) / 2)^(1/3) = 1.2856 half of the points lie inside.
        let median_r = ((1.0 + 1.5f64.powi(3)) / 2.0).cbrt();
        let inside = radii.iter().filter(|&&r| r <= median_r).count() as f64 / 4000.0;
        assert!((inside - 0.5).abs() < 0.03, "seed 21: {inside}");
        for (row, y) in shell.x.chunks_exact(3).zip(&shell.y) {
            assert_eq!(*y, p.target.eval(row), "seed 21: labels are f*(x)");
        }
        assert_eq!(shell, p.shell_test_set(4000, 1.0, 1.5).unwrap(), "seed 21");
        assert_ne!(shell.x[..3], p.test_set(3).x[..], "seed 21: its own stream");
        for (lo, hi) in [(1.5, 1.0), (-0.1, 1.0), (1.0, f64::NAN)] {
            let err = p.shell_test_set(10, lo, hi).unwrap_err().to_string();
            assert!(err.contains("shell"), "{err}");
        }
    }

    #[test]
    fn sphere_samples_have_unit_norm() {
        let p = generate(&spec(500, 7, InputDist::Sphere), 12).unwrap();
        assert!(
            norms(&p.train).iter().all(|r| (r - 1.0).abs() < 1e-12),
            "seed 12"
        );
    }

    #[test]
    fn gaussian_samples_have_unit_variance() {
        let p = generate(&spec(20_000, 2, InputDist::Gaussian), 13).unwrap();
        let var = p.train.x.iter().map(|v| v * v).sum::<f64>() / p.train.x.len() as f64;
        assert!((var - 1.0).abs() < 0.05, "seed 13: variance {var}");
    }

    #[test]
    fn subspace_samples_lie_in_one_subspace() {
        let (count, dim, d) = (4, 2, 6);
        let p = generate(&spec(300, d, InputDist::Subspaces { count, dim }), 14).unwrap();
        let bases = p.inputs.bases();
        assert_eq!(bases.len(), count, "seed 14");
        for basis in bases {
            for (a, qa) in basis.chunks_exact(d).enumerate() {
                for (b, qb) in basis.chunks_exact(d).enumerate() {
                    let dot: f64 = qa.iter().zip(qb).map(|(s, t)| s * t).sum();
                    let want = if a == b { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-12, "seed 14: basis not orthonormal");
                }
            }
        }
        let mut used = vec![0usize; count];
        for i in 0..p.train.n {
            let x = p.train.row(i);
            let nx = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!(nx <= 1.0 + 1e-12, "seed 14, sample {i}: ||x|| = {nx}");
            let residual = |basis: &Vec<f64>| {
                let mut r = x.to_vec();
                for q in basis.chunks_exact(d) {
                    let c: f64 = q.iter().zip(x).map(|(s, t)| s * t).sum();
                    r.iter_mut().zip(q).for_each(|(ri, qi)| *ri -= c * qi);
                }
                r.iter().map(|v| v * v).sum::<f64>().sqrt()
            };
            let best = (0..count)
                .min_by(|&a, &b| residual(&bases[a]).total_cmp(&residual(&bases[b])))
                .unwrap();
            assert!(
                residual(&bases[best]) < 1e-12,
                "seed 14, sample {i}: not in any subspace"
            );
            used[best] += 1;
        }
        assert!(
            used.iter().all(|&u| u > 30),
            "seed 14: subspaces used {used:?}"
        );
    }

    #[test]
    fn radial_beta_radius_has_the_beta_mean() {
        let (alpha, beta) = (2.0, 5.0);
        let n = 20_000;
        let p = generate(&spec(n, 3, InputDist::RadialBeta { alpha, beta }), 15).unwrap();
        let r = norms(&p.train);
        assert!(r.iter().all(|&r| r <= 1.0), "seed 15");
        let mean = r.iter().sum::<f64>() / n as f64;
        assert!(
            (mean - alpha / (alpha + beta)).abs() < 0.01,
            "seed 15: mean radius {mean}"
        );
    }

    #[test]
    fn grid_and_interval() {
        let p = generate(&spec(5, 1, InputDist::Grid { lo: -2.0, hi: 3.0 }), 16).unwrap();
        assert_eq!(p.train.x, vec![-2.0, -0.75, 0.5, 1.75, 3.0]);
        let one = generate(&spec(1, 1, InputDist::Grid { lo: -1.0, hi: 3.0 }), 16).unwrap();
        assert_eq!(one.train.x, vec![1.0]);
        let test = p.test_set(200);
        assert!(
            test.x.iter().all(|&t| (-2.0..3.0).contains(&t)),
            "seed 16: grid test set uniform"
        );
        assert_ne!(test.x[..5], p.train.x[..], "seed 16");
        let iv = generate(
            &spec(1000, 1, InputDist::Interval { lo: 0.5, hi: 0.75 }),
            16,
        )
        .unwrap();
        assert!(
            iv.train.x.iter().all(|&t| (0.5..0.75).contains(&t)),
            "seed 16"
        );
    }

    #[test]
    fn linear_and_holder_directions_are_unit() {
        let t = Target::new(TargetKind::Linear, 9, 17).unwrap();
        let TargetForm::Linear { w } = t.form() else {
            panic!("seed 17: not linear")
        };
        assert!(
            (w.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-12,
            "seed 17"
        );
        let h = Target::new(TargetKind::Holder, 4, 17).unwrap();
        let TargetForm::Holder { u } = h.form() else {
            panic!("seed 17: not holder")
        };
        for row in u.chunks_exact(4) {
            assert!(
                (row.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-12,
                "seed 17"
            );
        }
        assert_eq!(h.eval(&[0.0; 4]), 1.0, "holder at 0 is 1");
    }

    #[test]
    fn one_dimensional_targets_have_their_documented_values() {
        let pw = Target::new(TargetKind::PiecewiseLinear, 1, 0).unwrap();
        for (x, want) in [
            (-1.0, 0.0),
            (-0.5, 1.0),
            (0.0, 0.0),
            (0.5, 0.5),
            (1.0, 0.5),
            (-0.25, 0.5),
            (2.0, 0.5),
        ] {
            assert!((pw.eval(&[x]) - want).abs() < 1e-15, "piecewise at {x}");
        }
        let s = Target::new(TargetKind::Sine, 1, 0).unwrap();
        assert!((s.eval(&[0.5]) - 1.0).abs() < 1e-15);
        assert_eq!(s.eval_batch(&[0.0, 0.5]).len(), 2);
    }

    #[test]
    fn teacher_draws_pytorch_bounds_from_the_target_stream() {
        let t = Target::new(TargetKind::Teacher { width: 25 }, 4, 18).unwrap();
        let TargetForm::Teacher(net) = t.form() else {
            panic!("seed 18: not a teacher")
        };
        assert!(net.wt().iter().all(|w| w.abs() <= 0.5), "seed 18");
        assert!(net.v().iter().all(|v| v.abs() <= 0.2), "seed 18");
        assert!(net.b().iter().any(|&b| b != 0.0), "seed 18: biases on");
        let init = Network::<f64>::init(net.shape, 18, 1.0);
        assert_ne!(
            &init, net,
            "seed 18: the teacher must not reuse the Init stream"
        );
    }

    #[test]
    fn generation_is_deterministic_and_streams_are_separate() {
        let base = DataSpec {
            target: TargetKind::Holder,
            ..DataSpec::new(64, 3)
        };
        let a = generate(&base, 19).unwrap();
        let b = generate(&base, 19).unwrap();
        assert_eq!(a, b, "seed 19: same seed, same problem");
        let bits = |v: &[f64]| v.iter().map(|t| t.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.train.y), bits(&b.train.y), "seed 19");

        let louder = generate(
            &DataSpec {
                labels: Labels::Regression { sigma: 0.1 },
                ..base
            },
            19,
        )
        .unwrap();
        assert_eq!(
            a.train.x, louder.train.x,
            "seed 19: sigma must not change the inputs"
        );
        assert_eq!(
            a.target, louder.target,
            "seed 19: sigma must not change the target"
        );
        assert_ne!(a.train.y, louder.train.y, "seed 19");

        let other_target = generate(
            &DataSpec {
                target: TargetKind::Linear,
                ..base
            },
            19,
        )
        .unwrap();
        assert_eq!(
            a.train.x, other_target.train.x,
            "seed 19: the target must not change the inputs"
        );

        let fewer = generate(&DataSpec { n: 10, ..base }, 19).unwrap();
        assert_eq!(
            fewer.train.x[..],
            a.train.x[..30],
            "seed 19: n = 10 is a prefix of n = 64"
        );
        assert_eq!(fewer.train.y[..], a.train.y[..10], "seed 19");

        let other_seed = generate(&base, 20).unwrap();
        assert_ne!(a.train.x, other_seed.train.x, "seeds 19, 20");

        let t1 = a.test_set(100);
        assert_eq!(t1, a.test_set(100), "seed 19: test set is deterministic");
        assert_ne!(t1.x[..], a.train.x[..], "seed 19: test inputs are fresh");
        assert_eq!(
            t1.y,
            a.target.eval_batch(&t1.x),
            "seed 19: test labels are noiseless"
        );
    }

    #[test]
    fn zero_noise_labels_equal_the_target() {
        let s = DataSpec {
            labels: Labels::Regression { sigma: 0.0 },
            ..DataSpec::new(50, 2)
        };
        let p = generate(&s, 21).unwrap();
        assert_eq!(p.train.y, p.target.eval_batch(&p.train.x), "seed 21");
    }

    #[test]
    fn bernoulli_labels_are_signs_that_follow_the_logit() {
        // The default linear target in d = 1 is f*(x) = +-x; on x ~ U[-1, 1] a label agrees
        // with the sign of f* with probability int_0^1 sigmoid(t) dt = ln((1 + e) / 2) = 0.620.
        let s = DataSpec {
            input: InputDist::Interval { lo: -1.0, hi: 1.0 },
            labels: Labels::Bernoulli,
            ..DataSpec::new(4000, 1)
        };
        let p = generate(&s, 22).unwrap();
        assert!(
            p.train.y.iter().all(|&y| y == 1.0 || y == -1.0),
            "seed 22: labels must be +-1"
        );
        let agree = (0..p.train.n)
            .filter(|&i| p.train.y[i] * p.target.eval(p.train.row(i)) > 0.0)
            .count() as f64
            / p.train.n as f64;
        assert!(
            (agree - 0.620).abs() < 0.03,
            "seed 22: agreement {agree}, expected 0.620"
        );
    }

    #[test]
    fn invalid_combinations_are_errors_naming_the_setting() {
        let cases: Vec<(DataSpec, &str)> = vec![
            (DataSpec::new(0, 3), "n = 0"),
            (DataSpec::new(5, 0), "d = 0"),
            (
                spec(5, 2, InputDist::Interval { lo: -1.0, hi: 1.0 }),
                "input `interval` needs d = 1, but d = 2",
            ),
            (
                spec(5, 3, InputDist::Grid { lo: -1.0, hi: 1.0 }),
                "input `grid` needs d = 1",
            ),
            (spec(5, 1, InputDist::Grid { lo: 1.0, hi: 1.0 }), "lo < hi"),
            (
                spec(
                    5,
                    1,
                    InputDist::Interval {
                        lo: f64::NAN,
                        hi: 1.0,
                    },
                ),
                "lo = NaN",
            ),
            (
                spec(5, 3, InputDist::Subspaces { count: 2, dim: 4 }),
                "dim = 4, d = 3",
            ),
            (
                spec(5, 3, InputDist::Subspaces { count: 0, dim: 1 }),
                "count = 0",
            ),
            (
                spec(
                    5,
                    3,
                    InputDist::RadialBeta {
                        alpha: 0.0,
                        beta: 1.0,
                    },
                ),
                "alpha = 0",
            ),
            (
                DataSpec {
                    target: TargetKind::Sine,
                    ..DataSpec::new(5, 2)
                },
                "target `sine` needs d = 1",
            ),
            (
                DataSpec {
                    target: TargetKind::PiecewiseLinear,
                    ..DataSpec::new(5, 4)
                },
                "target `piecewise`",
            ),
            (
                DataSpec {
                    target: TargetKind::Teacher { width: 0 },
                    ..DataSpec::new(5, 4)
                },
                "teacher",
            ),
            (
                DataSpec {
                    labels: Labels::Regression {
                        sigma: f64::INFINITY,
                    },
                    ..DataSpec::new(5, 4)
                },
                "sigma = inf",
            ),
            (
                DataSpec {
                    labels: Labels::Regression { sigma: -1.0 },
                    ..DataSpec::new(5, 4)
                },
                "sigma = -1",
            ),
        ];
        for (s, words) in cases {
            match generate(&s, 0) {
                Ok(_) => panic!("{s:?} should be an error"),
                Err(e) => assert!(
                    e.to_string().contains(words),
                    "{s:?}: `{e}` lacks `{words}`"
                ),
            }
        }
    }

    #[test]
    fn spellings_parse_and_round_trip() {
        let inputs = [
            InputDist::Ball,
            InputDist::Sphere,
            InputDist::Gaussian,
            InputDist::Interval { lo: -0.5, hi: 2.0 },
            InputDist::Grid { lo: -1.0, hi: 1.0 },
            InputDist::Subspaces { count: 3, dim: 2 },
            InputDist::RadialBeta {
                alpha: 0.5,
                beta: 3.0,
            },
        ];
        for input in inputs {
            assert_eq!(input.to_string().parse::<InputDist>(), Ok(input), "{input}");
            assert_eq!(
                input.name().parse::<InputDist>().map(|i| i.name()),
                Ok(input.name())
            );
        }
        assert_eq!(
            "interval".parse(),
            Ok(InputDist::Interval { lo: -1.0, hi: 1.0 })
        );
        assert_eq!(
            "subspaces( 5 , 2 )".parse(),
            Ok(InputDist::Subspaces { count: 5, dim: 2 })
        );
        for target in [
            TargetKind::Linear,
            TargetKind::Holder,
            TargetKind::Sine,
            TargetKind::PiecewiseLinear,
            TargetKind::Teacher { width: 7 },
            TargetKind::Zero,
        ] {
            assert_eq!(
                target.to_string().parse::<TargetKind>(),
                Ok(target),
                "{target}"
            );
        }
        assert_eq!("teacher".parse(), Ok(TargetKind::Teacher { width: 16 }));
        let bad = [
            ("cube", "unknown input `cube`; expected one of ball"),
            ("interval(0)", "expected 2 parameters, found 1"),
            ("interval(a, 1)", "`a` is not a valid number"),
            ("ball(1)", "takes no parameters"),
            ("subspaces(2, 1", "unknown input"),
        ];
        for (s, words) in bad {
            let e = s.parse::<InputDist>().expect_err(s).to_string();
            assert!(e.contains(words), "`{s}`: `{e}` lacks `{words}`");
        }
        let e = "teacher(x)"
            .parse::<TargetKind>()
            .expect_err("teacher(x)")
            .to_string();
        assert!(e.contains("`x` is not a valid width"), "{e}");
        let e = "sin".parse::<TargetKind>().expect_err("sin").to_string();
        assert!(e.contains("unknown target `sin`"), "{e}");
    }
}
