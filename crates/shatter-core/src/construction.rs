//! The lower-bound construction of the 2025 paper (Section 4): boundary-localised ReLU atoms
//! `f_j(x) = a relu(u_j . x - t)` with `t` close to 1, whose activation regions are thin caps
//! `{x in B^d : u_j . x > t}` of the unit ball. Caps that are pairwise disjoint can each fit
//! one noise pattern; under the population weight `g_P` of SCIENCE.md section 4 each atom
//! costs only `|f_j|_Vg = a g_P(t) ~ a (1 - t)^(d+2)`, so many of them fit under a fixed
//! budget on `|f|_Vg`, and the number of disjoint caps grows exponentially with `d`.
//!
//! This module owns the geometry (a seeded greedy packing of cap directions, the spherical-cap
//! bounds on its size), the closed forms and quadratures of the atoms' norms for
//! `x ~ Uniform(B^d)`, and the check of the flatness bound on the network made of the atoms
//! on a sample (through `measure` and `hessian`). The weight function itself lives in
//! `measure::weight`; drawing and reporting are left to the lab.
//!
//! Two caps `{u_i . x > t}` and `{u_j . x > t}` of the ball are disjoint exactly when the
//! angle between `u_i` and `u_j` is at least the cap's angular diameter `2 arccos t`:
//! `max_{|x| <= 1} min(u_i . x, u_j . x) = cos(phi/2)` at `x = (u_i + u_j)/|u_i + u_j|`. In
//! cosines: `u_i . u_j <= cos(2 arccos t) = 2 t^2 - 1`.

use crate::data::generate::{InputDist, InputSampler};
use crate::data::Dataset;
use crate::grad::{forward, Workspace};
use crate::hessian::hvp::SharpnessTracker;
use crate::hessian::lanczos::{LanczosError, LanczosOptions};
use crate::loss::Loss;
use crate::measure::weight::{ball_marginal_constant, population_weight, quadrature_rule};
use crate::measure::{bound_holds_certified, flatness_bound, neuron_weights, MeasureError};
use crate::model::{Activation, Network, Shape};
use crate::rng::{stream, Stream};
use rand::Rng;

/// What is wrong with the settings of a construction, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConstructionError {
    /// A setting is out of its range.
    #[error("{field} = {value} is out of range: {expected}")]
    OutOfRange {
        /// The setting, as spelled in the CLI and the CSV (`offset`, `d`, ...).
        field: &'static str,
        /// The value given.
        value: f64,
        /// What it must satisfy.
        expected: &'static str,
    },
    /// A measurement on the sample failed.
    #[error(transparent)]
    Measure(#[from] MeasureError),
    /// Lanczos failed on the atom network (non-finite Hessian-vector products).
    #[error("sharpness of the atom network: {0}")]
    Lanczos(#[from] LanczosError),
}

fn out_of_range(field: &'static str, value: f64, expected: &'static str) -> ConstructionError {
    ConstructionError::OutOfRange {
        field,
        value,
        expected,
    }
}

/// The settings of one construction.
#[derive(Clone, Debug, PartialEq)]
pub struct CapSpec {
    /// Input dimension `d`; at least 1.
    pub d: usize,
    /// Offset `t` of every atom, in the open interval `(0, 1)`; the cap height is `1 - t`.
    pub offset: f64,
    /// Amplitude `a` of every atom (its output weight times `||w|| = 1`); finite, `> 0`.
    pub amplitude: f64,
    /// Budget on `|f|_Vg` (population weight) that the atoms must fit under; finite, `> 0`.
    pub budget: f64,
    /// The greedy packing stops after this many consecutive rejected candidates; at least 1.
    pub patience: usize,
    /// The greedy packing stops at this many caps; at least 1.
    pub max_caps: usize,
    /// Seed of the candidate directions (`Stream::Geometry`) and of the sign pattern
    /// (`Stream::Noise`).
    pub seed: u64,
}

impl CapSpec {
    /// Checks every field; the error names the first one out of range.
    pub fn check(&self) -> Result<(), ConstructionError> {
        if self.d == 0 {
            return Err(out_of_range("d", 0.0, "an integer >= 1"));
        }
        check_offset(self.offset)?;
        if !(self.amplitude.is_finite() && self.amplitude > 0.0) {
            return Err(out_of_range(
                "amplitude",
                self.amplitude,
                "a finite number > 0",
            ));
        }
        if !(self.budget.is_finite() && self.budget > 0.0) {
            return Err(out_of_range("budget", self.budget, "a finite number > 0"));
        }
        if self.patience == 0 {
            return Err(out_of_range("patience", 0.0, "an integer >= 1"));
        }
        if self.max_caps == 0 {
            return Err(out_of_range("max_caps", 0.0, "an integer >= 1"));
        }
        Ok(())
    }
}

fn check_offset(t: f64) -> Result<f64, ConstructionError> {
    if !(t.is_finite() && t > 0.0 && t < 1.0) {
        return Err(out_of_range(
            "offset",
            t,
            "a number in the open interval (0, 1) (the cap height 1 - t must be in (0, 1))",
        ));
    }
    Ok(t)
}

fn check_d(d: usize) -> Result<usize, ConstructionError> {
    if d == 0 {
        return Err(out_of_range("d", 0.0, "an integer >= 1"));
    }
    Ok(d)
}

/// Angular radius `arccos t` of the cap `{u . x > t}` on the unit sphere.
pub fn cap_angle(t: f64) -> f64 {
    t.clamp(-1.0, 1.0).acos()
}

/// The largest cosine two cap directions may have for their caps to be disjoint:
/// `cos(2 arccos t) = 2 t^2 - 1` (module docs).
pub fn disjoint_cosine(t: f64) -> f64 {
    2.0 * t * t - 1.0
}

/// Whether the caps of directions `a` and `b` (unit vectors) at offset `t` are disjoint in the
/// ball: `a . b <= 2 t^2 - 1`. The same test the packing accepts candidates with.
pub fn caps_disjoint(a: &[f64], b: &[f64], t: f64) -> bool {
    dot(a, b) <= disjoint_cosine(t)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A packing of cap directions: unit vectors with pairwise angles at least `2 arccos t`.
#[derive(Clone, Debug, PartialEq)]
pub struct CapPacking {
    /// Input dimension.
    pub d: usize,
    /// Offset `t` of the caps.
    pub offset: f64,
    /// The directions, `count x d` row-major, in the order they were accepted.
    pub directions: Vec<f64>,
    /// Candidates drawn in all (accepted and rejected).
    pub candidates: usize,
}

impl CapPacking {
    /// Number of caps.
    pub fn count(&self) -> usize {
        self.directions.len() / self.d.max(1)
    }

    /// Direction `j` (`d` values).
    pub fn direction(&self, j: usize) -> &[f64] {
        &self.directions[j * self.d..(j + 1) * self.d]
    }
}

/// Greedy random packing: candidates uniform on the sphere `S^(d-1)` from the `Geometry`
/// stream of `seed`, each accepted when its cap is disjoint from every accepted one
/// ([`caps_disjoint`]); stops after `patience` consecutive rejections or at `max_caps` caps.
///
/// A pure function of `(d, t, patience, max_caps, seed)`. Cost `O(candidates count d)`;
/// allocates the directions. When it stops, the free part of the sphere (where a new centre
/// could go) has a normalised area of about `1 / patience` or less, so the count is close
/// to a maximal packing's, which [`packing_bounds`] brackets.
pub fn pack_caps(spec: &CapSpec) -> Result<CapPacking, ConstructionError> {
    spec.check()?;
    let (d, t) = (spec.d, spec.offset);
    let sampler = InputSampler::new(InputDist::Sphere, d, spec.seed)
        .map_err(|_| out_of_range("d", d as f64, "an integer >= 1"))?;
    let mut rng = stream(spec.seed, Stream::Geometry);
    let limit = disjoint_cosine(t);
    let mut directions: Vec<f64> = Vec::new();
    let (mut misses, mut candidates) = (0usize, 0usize);
    while misses < spec.patience && directions.len() / d < spec.max_caps {
        let u = sampler.sample(1, &mut rng);
        candidates += 1;
        let free = directions.chunks_exact(d).all(|a| dot(a, &u) <= limit);
        if free {
            directions.extend_from_slice(&u);
            misses = 0;
        } else {
            misses += 1;
        }
    }
    Ok(CapPacking {
        d,
        offset: t,
        directions,
        candidates,
    })
}

/// Normalised surface area `sigma_d(theta)` of a spherical cap of angular radius `theta` on
/// `S^(d-1)`: `int_0^theta sin^(d-2) phi dphi / int_0^pi sin^(d-2) phi dphi` (`d >= 2`, by
/// 192-point Gauss-Legendre on `[0, theta]`, the denominator in closed form
/// `sqrt(pi) Gamma((d-1)/2) / Gamma(d/2)`); for `d = 1` the sphere is two points and a cap of
/// radius below `pi` holds one of them (1/2). `theta` is clamped to `[0, pi]`.
pub fn sphere_cap_fraction(theta: f64, d: usize) -> Result<f64, ConstructionError> {
    let d = check_d(d)?;
    if !theta.is_finite() {
        return Err(out_of_range("angle", theta, "a finite number"));
    }
    let theta = theta.clamp(0.0, std::f64::consts::PI);
    if d == 1 {
        return Ok(if theta < std::f64::consts::PI {
            0.5
        } else {
            1.0
        });
    }
    let m = (d - 2) as i32;
    let integral: f64 = quadrature_rule()
        .iter()
        .map(|&(y, w)| w * theta * (theta * y).sin().powi(m))
        .sum();
    let df = d as f64;
    let total = std::f64::consts::PI.sqrt()
        * (libm::lgamma(0.5 * (df - 1.0)) - libm::lgamma(0.5 * df)).exp();
    Ok((integral / total).min(1.0))
}

/// Bounds on the size of a maximal packing of caps at offset `t` in dimension `d`:
/// `(1 / sigma(2 theta), 1 / sigma(theta))` with `theta = arccos t` ([`sphere_cap_fraction`]).
/// Every packing has at most the upper one (the caps of radius `theta` around the centres are
/// disjoint on the sphere); a maximal one has at least the lower one (the caps of radius
/// `2 theta` around its centres cover the sphere).
pub fn packing_bounds(t: f64, d: usize) -> Result<(f64, f64), ConstructionError> {
    let theta = cap_angle(check_offset(t)?);
    let lower = 1.0 / sphere_cap_fraction(2.0 * theta, d)?;
    let upper = 1.0 / sphere_cap_fraction(theta, d)?;
    Ok((lower, upper))
}

/// Moments of the atom `relu(u . x - t)` for `x ~ Uniform(B^d)`: `(P(u.x > t),
/// E[(u.x - t)_+^2])`, by the substitution `s = 1 - (1 - t) y^2` of `measure::weight` (the
/// integrands become `y^d` times functions analytic on `[0, 1]`), so no digits are lost near
/// `t = 1`. `t` in `(0, 1)`.
fn cap_moments(t: f64, d: usize) -> (f64, f64) {
    let c = ball_marginal_constant(d);
    let df = d as f64;
    let e = 0.5 * (df - 1.0);
    let h = 1.0 - t;
    let (mut ia, mut ic) = (0.0, 0.0);
    for &(y, w) in quadrature_rule() {
        let y2 = y * y;
        let common = 2.0 * y.powi(d as i32) * (2.0 - h * y2).powf(e) * w;
        ia += common;
        ic += common * (1.0 - y2) * (1.0 - y2);
    }
    (
        c * h.powf(0.5 * (df + 1.0)) * ia,
        c * h.powf(0.5 * (df + 5.0)) * ic,
    )
}

/// `P(u . x > t)` for `x ~ Uniform(B^d)`: the share of the ball in one cap.
pub fn cap_probability(t: f64, d: usize) -> Result<f64, ConstructionError> {
    Ok(cap_moments(check_offset(t)?, check_d(d)?).0)
}

/// `||relu(u . x - t)||_{L2(P)}^2 = E[(u . x - t)_+^2]` for `x ~ Uniform(B^d)`:
/// `c_d int_t^1 (s - t)^2 (1 - s^2)^((d-1)/2) ds`, by quadrature (it matches the closed forms
/// for `d = 1`, `(1 - t)^3 / 6`, to 1e-12 and for `d = 3` to 1e-9, the closed form's own
/// cancellation near `t = 1`; tested).
pub fn atom_l2_squared(t: f64, d: usize) -> Result<f64, ConstructionError> {
    Ok(cap_moments(check_offset(t)?, check_d(d)?).1)
}

/// `|f|_Vg` of one atom `a relu(u . x - t)` under the population weight of `Uniform(B^d)`:
/// `a g_P(t)` (SCIENCE.md section 4; `||w|| = 1`).
pub fn atom_population_vg(amplitude: f64, t: f64, d: usize) -> Result<f64, ConstructionError> {
    let t = check_offset(t)?;
    Ok(amplitude * population_weight(t, check_d(d)?)?)
}

/// A construction: the packing and the numbers that follow from it in closed form.
#[derive(Clone, Debug, PartialEq)]
pub struct Construction {
    /// The settings.
    pub spec: CapSpec,
    /// The cap directions.
    pub packing: CapPacking,
    /// `(lower, upper)` of [`packing_bounds`].
    pub packing_bounds: (f64, f64),
    /// `P(u . x > t)`: the share of the ball in one cap.
    pub cap_probability: f64,
    /// `|f_j|_Vg = a g_P(t)` of one atom under the population weight.
    pub atom_vg: f64,
    /// `||f_j||_{L2(P)} = a sqrt(E[(u.x - t)_+^2])` of one atom.
    pub atom_l2: f64,
    /// `||f_i - f_j||_{L2(P)}` of two distinct atoms: their supports are disjoint, so
    /// `sqrt(||f_i||^2 + ||f_j||^2) = sqrt(2) atom_l2`.
    pub separation: f64,
    /// `budget / atom_vg`: how many atoms the budget pays for (infinite when `g_P(t)` is 0 in
    /// floating point).
    pub budget_capacity: f64,
    /// Atoms that fit under the budget with disjoint caps: `min(caps, floor(budget_capacity))`.
    pub atoms_under_budget: usize,
}

impl Construction {
    /// Packs the caps and evaluates the closed forms. Cost of [`pack_caps`] plus two
    /// quadratures.
    pub fn build(spec: &CapSpec) -> Result<Construction, ConstructionError> {
        let packing = pack_caps(spec)?;
        let (d, t, a) = (spec.d, spec.offset, spec.amplitude);
        let atom_vg = atom_population_vg(a, t, d)?;
        let (p, m2) = cap_moments(t, d);
        let atom_l2 = a * m2.sqrt();
        let budget_capacity = if atom_vg > 0.0 {
            spec.budget / atom_vg
        } else {
            f64::INFINITY
        };
        let affordable = if budget_capacity >= usize::MAX as f64 {
            usize::MAX
        } else {
            budget_capacity.floor() as usize
        };
        Ok(Construction {
            spec: spec.clone(),
            packing_bounds: packing_bounds(t, d)?,
            cap_probability: p,
            atom_vg,
            atom_l2,
            separation: std::f64::consts::SQRT_2 * atom_l2,
            budget_capacity,
            atoms_under_budget: packing.count().min(affordable),
            packing,
        })
    }

    /// The atoms' signs: a Rademacher pattern (`+1` or `-1` each) from the `Noise` stream of
    /// the seed, one per cap, the noise pattern the atoms fit.
    pub fn signs(&self) -> Vec<f64> {
        let mut rng = stream(self.spec.seed, Stream::Noise);
        (0..self.packing.count())
            .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
            .collect()
    }

    /// The network of the first `atoms` atoms with their signs: width `atoms`, `w_j = u_j`,
    /// `b_j = -t`, `v_j = sign_j a`, `beta = 0`. Errors when `atoms` is 0 or more than the
    /// caps packed.
    pub fn network(&self, atoms: usize) -> Result<Network<f64>, ConstructionError> {
        let count = self.packing.count();
        if atoms == 0 || atoms > count {
            return Err(out_of_range(
                "atoms",
                atoms as f64,
                "between 1 and the number of caps packed",
            ));
        }
        let d = self.spec.d;
        let shape = Shape {
            d,
            width: atoms,
            bias: true,
            activation: Activation::Relu,
        };
        let signs = self.signs();
        let w = &self.packing.directions[..atoms * d];
        let b = vec![-self.spec.offset; atoms];
        let v: Vec<f64> = signs[..atoms]
            .iter()
            .map(|s| s * self.spec.amplitude)
            .collect();
        Network::from_parts(shape, w, &b, &v, 0.0)
            .ok_or_else(|| out_of_range("atoms", atoms as f64, "consistent lengths"))
    }

    /// `f_j(x) = sign_j a relu(u_j . x - t)` for every atom `j` at `x` (`d` values), written
    /// into `out` (one value per cap).
    pub fn atom_values(&self, x: &[f64], signs: &[f64], out: &mut [f64]) {
        let t = self.spec.offset;
        for (j, o) in out.iter_mut().enumerate() {
            let z = dot(self.packing.direction(j), x) - t;
            *o = signs[j] * self.spec.amplitude * z.max(0.0);
        }
    }

    /// Monte Carlo estimate of `||f_i - f_j||_{L2(P)}^2` over `n` points uniform in the ball
    /// (`Inputs` stream of `seed`): the sample mean of `(f_i - f_j)^2` and its standard error.
    /// Errors when `n < 2` or an index is not a cap.
    pub fn monte_carlo_separation_squared(
        &self,
        i: usize,
        j: usize,
        n: usize,
        seed: u64,
    ) -> Result<(f64, f64), ConstructionError> {
        let count = self.packing.count();
        for idx in [i, j] {
            if idx >= count {
                return Err(out_of_range(
                    "atom index",
                    idx as f64,
                    "below the number of caps packed",
                ));
            }
        }
        if n < 2 {
            return Err(out_of_range("n", n as f64, "an integer >= 2"));
        }
        let d = self.spec.d;
        let x = ball_sample(d, n, seed)?;
        let (t, a) = (self.spec.offset, self.spec.amplitude);
        let values: Vec<f64> = x
            .chunks_exact(d)
            .map(|p| {
                let fi = a * (dot(self.packing.direction(i), p) - t).max(0.0);
                let fj = a * (dot(self.packing.direction(j), p) - t).max(0.0);
                (fi - fj) * (fi - fj)
            })
            .collect();
        Ok(mean_and_se(&values))
    }

    /// The atom network of the first `atoms` atoms on `n` points uniform in the ball
    /// (`Inputs` stream of `seed`), labelled by the network itself (the construction
    /// interpolates its labels, `L = 0`): its empirical `|f|_Vg`, which caps hold sample
    /// points, and the flatness bound of SCIENCE.md section 4 with `lambda_max` from Lanczos
    /// (certified error bound; `rel_tol` 1e-10, at most 300 products).
    ///
    /// Cost: the sample (`n d`), `neuron_weights` (`3 atoms n d`), and Lanczos (each product
    /// about two gradient evaluations, `O(n atoms d)`). Errors when `n == 0` or `atoms` is out
    /// of range.
    pub fn check_on_sample(
        &self,
        atoms: usize,
        n: usize,
        seed: u64,
    ) -> Result<SampleCheck, ConstructionError> {
        if n == 0 {
            return Err(out_of_range("n", 0.0, "an integer >= 1"));
        }
        let net = self.network(atoms)?;
        let d = self.spec.d;
        let x = ball_sample(d, n, seed)?;
        let signs = self.signs();
        let mut values = vec![0.0; self.packing.count()];
        let mut y = Vec::with_capacity(n);
        let mut per_cap = vec![0usize; atoms];
        for p in x.chunks_exact(d) {
            self.atom_values(p, &signs, &mut values);
            y.push(values[..atoms].iter().sum::<f64>());
            for (j, c) in per_cap.iter_mut().enumerate() {
                if dot(self.packing.direction(j), p) > self.spec.offset {
                    *c += 1;
                }
            }
        }
        let data = Dataset::new(d, x, y)
            .ok_or_else(|| out_of_range("n", n as f64, "consistent lengths"))?;
        let g = neuron_weights(&net, &data)?;
        let a = self.spec.amplitude;
        let atom_vg_empirical: Vec<f64> = g.iter().map(|g| a * g).collect();
        let vg_empirical: f64 = atom_vg_empirical.iter().sum();
        let mut ws = Workspace::new(net.shape, n);
        let loss = forward(&net, &data, Loss::Square, &mut ws);
        let options = LanczosOptions {
            top_k: 1,
            smallest: false,
            rel_tol: 1e-10,
            max_iter: 300,
            check_every: 1,
            seed,
        };
        let mut tracker = SharpnessTracker::<f64>::new(net.shape, options);
        let est = tracker.measure(&net, &data, &mut ws)?;
        let radius = data.radius();
        let bound = flatness_bound(est.sharpness, loss, radius)?;
        Ok(SampleCheck {
            n,
            atoms,
            atoms_hit: per_cap.iter().filter(|&&c| c > 0).count(),
            points_in_caps: per_cap.iter().sum(),
            max_points_per_cap: per_cap.iter().copied().max().unwrap_or(0),
            vg_population: atoms as f64 * self.atom_vg,
            vg_empirical,
            atom_vg_empirical,
            radius,
            loss,
            lambda_max: est.sharpness,
            lambda_error: est.error_bound,
            bound,
            bound_holds: bound_holds_certified(vg_empirical, bound, est.error_bound),
        })
    }
}

/// The atom network on a sample: what [`Construction::check_on_sample`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleCheck {
    /// Sample size.
    pub n: usize,
    /// Atoms in the network.
    pub atoms: usize,
    /// Atoms whose cap holds at least one sample point (the others have empirical `g = 0`).
    pub atoms_hit: usize,
    /// Sample points inside some cap (each lies in at most one: the caps are disjoint).
    pub points_in_caps: usize,
    /// The most sample points in one cap.
    pub max_points_per_cap: usize,
    /// `atoms * a g_P(t)`: the network's `|f|_Vg` under the population weight.
    pub vg_population: f64,
    /// The network's `|f|_Vg` under the empirical weight of the sample (parameter form).
    pub vg_empirical: f64,
    /// Each atom's `|f_j|_Vg` under the empirical weight.
    pub atom_vg_empirical: Vec<f64>,
    /// `R = max_i ||x_i||`.
    pub radius: f64,
    /// Training loss (1/(2n) convention) at the network's own labels: 0 up to rounding.
    pub loss: f64,
    /// Top Hessian eigenvalue of that loss at the network (Lanczos).
    pub lambda_max: f64,
    /// Certified error bound on `lambda_max`.
    pub lambda_error: f64,
    /// `lambda_max/2 - 1/2 + (R + 1) sqrt(2 L)`.
    pub bound: f64,
    /// Whether `vg_empirical <= bound` (with `lambda_error`; Theorem 3.2 says it must).
    pub bound_holds: bool,
}

/// `n` points uniform in the unit ball of `R^d` from the `Inputs` stream of `seed`
/// (`n x d` row-major).
pub fn ball_sample(d: usize, n: usize, seed: u64) -> Result<Vec<f64>, ConstructionError> {
    let sampler = InputSampler::new(InputDist::Ball, check_d(d)?, seed)
        .map_err(|_| out_of_range("d", d as f64, "an integer >= 1"))?;
    let mut rng = stream(seed, Stream::Inputs);
    Ok(sampler.sample(n, &mut rng))
}

fn mean_and_se(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hessian::dense::{dense_matrix, symmetric_eigenvalues};
    use crate::hessian::hvp::HessianOperator;
    use crate::measure::weight::weight;

    fn spec(d: usize, t: f64) -> CapSpec {
        CapSpec {
            d,
            offset: t,
            amplitude: 1.0,
            budget: 1.0,
            patience: 500,
            max_caps: 100_000,
            seed: 3,
        }
    }

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(1e-300)
    }

    /// Pairwise disjointness by brute force twice over: the cosine test for every pair, and
    /// 200000 points on the sphere (where caps are widest), none inside two caps.
    #[test]
    fn packed_caps_are_pairwise_disjoint() {
        for (d, t) in [(2usize, 0.9), (3, 0.8), (4, 0.9), (5, 0.95)] {
            let p = pack_caps(&spec(d, t)).unwrap();
            let k = p.count();
            assert!(k >= 2, "d = {d}, t = {t}: {k} caps");
            for i in 0..k {
                let norm = dot(p.direction(i), p.direction(i));
                assert!(
                    (norm - 1.0).abs() < 1e-12,
                    "direction {i} has norm^2 {norm}"
                );
                for j in 0..i {
                    let c = dot(p.direction(i), p.direction(j));
                    let angle = c.clamp(-1.0, 1.0).acos();
                    assert!(
                        angle >= 2.0 * t.acos() - 1e-12,
                        "d = {d}, t = {t}: caps {i} and {j} at angle {angle}"
                    );
                }
            }
            let x = {
                let s = InputSampler::new(InputDist::Sphere, d, 99).unwrap();
                s.sample(200_000, &mut stream(99, Stream::Test))
            };
            let mut covered = 0;
            for q in x.chunks_exact(d) {
                let inside = (0..k).filter(|&j| dot(p.direction(j), q) > t).count();
                assert!(
                    inside <= 1,
                    "d = {d}, t = {t}: a point lies in {inside} caps"
                );
                covered += inside;
            }
            // The caps cover k sigma(theta) of the sphere; the points see that share.
            let share = covered as f64 / 200_000.0;
            let want = k as f64 * sphere_cap_fraction(t.acos(), d).unwrap();
            let se = (want * (1.0 - want) / 200_000.0).sqrt();
            assert!(
                (share - want).abs() < 5.0 * se + 1e-9,
                "d = {d}, t = {t}: share {share} vs {want}"
            );
        }
    }

    #[test]
    fn packing_is_a_pure_function_of_its_settings() {
        let a = pack_caps(&spec(4, 0.9)).unwrap();
        let b = pack_caps(&spec(4, 0.9)).unwrap();
        assert_eq!(a, b);
        let c = pack_caps(&CapSpec {
            seed: 4,
            ..spec(4, 0.9)
        })
        .unwrap();
        assert_ne!(a.directions, c.directions, "another seed, other directions");
    }

    /// The packing obeys the area bound, and in d = 2 (caps are arcs of the circle) reaches
    /// close to the exact maximum floor(pi / arccos t).
    #[test]
    fn packing_sizes_respect_the_cap_area_bounds() {
        for (d, t) in [(2usize, 0.9), (3, 0.9), (4, 0.85), (6, 0.9)] {
            let p = pack_caps(&CapSpec {
                patience: 3000,
                ..spec(d, t)
            })
            .unwrap();
            let (lower, upper) = packing_bounds(t, d).unwrap();
            let k = p.count() as f64;
            assert!(k <= upper, "d = {d}: {k} caps above the bound {upper}");
            // Greedy stops once the free area is below about 1/patience: at least 70% of the
            // lower bound a maximal packing must reach.
            assert!(k >= 0.7 * lower, "d = {d}: {k} caps, lower bound {lower}");
        }
        let t: f64 = 0.9;
        let exact = (std::f64::consts::PI / t.acos()).floor();
        let p = pack_caps(&CapSpec {
            patience: 5000,
            ..spec(2, t)
        })
        .unwrap();
        assert!(p.count() as f64 <= exact);
        assert!(p.count() as f64 >= exact - 2.0, "{} of {exact}", p.count());
    }

    /// sigma_d(theta) against closed forms (d = 2: theta/pi; d = 3: (1 - cos theta)/2) and
    /// Monte Carlo on the sphere for d = 5.
    #[test]
    fn cap_fraction_matches_closed_forms_and_monte_carlo() {
        for theta in [0.1f64, 0.5, 1.0, 2.0, 3.0] {
            let s2 = sphere_cap_fraction(theta, 2).unwrap();
            assert!(rel(s2, theta / std::f64::consts::PI) < 1e-13, "{s2}");
            let s3 = sphere_cap_fraction(theta, 3).unwrap();
            assert!(rel(s3, 0.5 * (1.0 - theta.cos())) < 1e-12, "{s3}");
        }
        assert!(rel(sphere_cap_fraction(std::f64::consts::PI, 7).unwrap(), 1.0) < 1e-12);
        let (d, theta, n) = (5usize, 0.9f64, 200_000usize);
        let s = InputSampler::new(InputDist::Sphere, d, 5).unwrap();
        let x = s.sample(n, &mut stream(5, Stream::Test));
        let hits = x.chunks_exact(d).filter(|q| q[0] > theta.cos()).count() as f64 / n as f64;
        let want = sphere_cap_fraction(theta, d).unwrap();
        let se = (want * (1.0 - want) / n as f64).sqrt();
        assert!((hits - want).abs() < 5.0 * se, "{hits} vs {want}");
    }

    /// E[(u.x - t)_+^2] and P(u.x > t): closed forms for d = 1 and d = 3, Monte Carlo for
    /// d = 4 and 6 (tolerance five standard errors).
    #[test]
    fn atom_norms_match_closed_forms_and_monte_carlo() {
        for t in [0.1f64, 0.5, 0.9, 0.999] {
            let h = 1.0 - t;
            assert!(rel(atom_l2_squared(t, 1).unwrap(), h.powi(3) / 6.0) < 1e-12);
            assert!(rel(cap_probability(t, 1).unwrap(), h / 2.0) < 1e-12);
            // d = 3: density 3/4 (1 - s^2); int_t^1 (s - t)^2 (1 - s^2) ds
            // = h^3/3 (1 + t) - h^4/4 ... written exactly: with s = t + r, r in [0, h],
            // 1 - s^2 = h (2 - h) ... use the polynomial in r: (1-t^2) - 2 t r - r^2.
            let m2 = 0.75
                * ((1.0 - t * t) * h.powi(3) / 3.0 - 2.0 * t * h.powi(4) / 4.0 - h.powi(5) / 5.0);
            let got = atom_l2_squared(t, 3).unwrap();
            assert!(rel(got, m2) < 1e-9, "t = {t}: {got} vs {m2}");
        }
        for (d, t) in [(4usize, 0.5f64), (6, 0.3)] {
            let n = 400_000;
            let x = ball_sample(d, n, 17).unwrap();
            let sq: Vec<f64> = x
                .chunks_exact(d)
                .map(|p| (p[0] - t).max(0.0).powi(2))
                .collect();
            let (m, se) = mean_and_se(&sq);
            let want = atom_l2_squared(t, d).unwrap();
            assert!(
                (m - want).abs() < 5.0 * se,
                "d = {d}: {m} +- {se} vs {want}"
            );
            let ind: Vec<f64> = x
                .chunks_exact(d)
                .map(|p| if p[0] > t { 1.0 } else { 0.0 })
                .collect();
            let (m, se) = mean_and_se(&ind);
            let want = cap_probability(t, d).unwrap();
            assert!(
                (m - want).abs() < 5.0 * se,
                "d = {d}: {m} +- {se} vs {want}"
            );
        }
    }

    /// `|f|_Vg` of one atom under g_P against a Monte Carlo evaluation of the formula of
    /// SCIENCE.md section 4 on a large sample (the empirical g), and its (1 - t)^(d+2) decay.
    #[test]
    fn atom_vg_matches_monte_carlo_weight() {
        for (d, t, a) in [(2usize, 0.6f64, 2.0f64), (3, 0.5, 0.5)] {
            let n = 200_000;
            let x = ball_sample(d, n, 23).unwrap();
            let data = Dataset::new(d, x, vec![0.0; n]).unwrap();
            let mut u = vec![0.0; d];
            u[d - 1] = 1.0;
            let g_emp = weight(&data, &u, t).unwrap();
            let want = atom_population_vg(a, t, d).unwrap();
            assert!(
                rel(a * g_emp, want) < 0.03,
                "d = {d}: {} vs {want}",
                a * g_emp
            );
        }
        let d = 4;
        let r =
            atom_population_vg(1.0, 0.999, d).unwrap() / atom_population_vg(1.0, 0.99, d).unwrap();
        assert!(rel(r.log10(), -(d as f64 + 2.0)) < 0.02, "decade ratio {r}");
    }

    /// Disjoint supports: ||f_i - f_j||^2 = ||f_i||^2 + ||f_j||^2, checked by Monte Carlo.
    #[test]
    fn separation_matches_monte_carlo() {
        let c = Construction::build(&CapSpec {
            amplitude: 3.0,
            ..spec(3, 0.6)
        })
        .unwrap();
        assert!(c.packing.count() >= 2);
        let (m, se) = c.monte_carlo_separation_squared(0, 1, 400_000, 31).unwrap();
        let want = c.separation * c.separation;
        assert!((m - want).abs() < 5.0 * se, "{m} +- {se} vs {want}");
        assert!(rel(want, 2.0 * 9.0 * atom_l2_squared(0.6, 3).unwrap()) < 1e-12);
    }

    /// The flatness bound holds on the atom network, with lambda_max from a dense Hessian
    /// eigensolver agreeing with Lanczos.
    #[test]
    fn flatness_bound_holds_on_atom_network_dense_hessian() {
        let c = Construction::build(&CapSpec {
            amplitude: 4.0,
            ..spec(2, 0.7)
        })
        .unwrap();
        let atoms = c.packing.count();
        let check = c.check_on_sample(atoms, 60, 5).unwrap();
        assert!(
            check.loss < 1e-28,
            "labels are the network's outputs: {}",
            check.loss
        );
        assert!(check.atoms_hit > 0, "some cap holds a point: {check:?}");
        assert!(check.bound_holds, "{check:?}");
        // Dense Hessian on the same sample.
        let net = c.network(atoms).unwrap();
        let x = ball_sample(2, 60, 5).unwrap();
        let signs = c.signs();
        let mut vals = vec![0.0; atoms];
        let y: Vec<f64> = x
            .chunks_exact(2)
            .map(|p| {
                c.atom_values(p, &signs, &mut vals);
                vals.iter().sum()
            })
            .collect();
        let data = Dataset::new(2, x, y).unwrap();
        let mut ws = Workspace::new(net.shape, data.n);
        forward(&net, &data, Loss::Square, &mut ws);
        let (mut input, mut output) = (vec![0.0; net.shape.len()], vec![0.0; net.shape.len()]);
        let mut op = HessianOperator::new(&net, &data, &mut ws, &mut input, &mut output);
        let eigs = symmetric_eigenvalues(&dense_matrix(&mut op)).unwrap();
        let top = eigs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(
            (top - check.lambda_max).abs() <= 1e-8 * top.max(1.0),
            "dense {top} vs Lanczos {}",
            check.lambda_max
        );
        let vg = crate::measure::vg_norm(&net, &data).unwrap();
        assert!(rel(vg, check.vg_empirical) < 1e-12);
        assert!(vg <= 0.5 * top - 0.5 + 1e-9, "|f|_Vg {vg} vs lambda {top}");
        assert!(
            top >= 1.0 - 1e-9,
            "the output bias alone gives curvature 1: {top}"
        );
    }

    #[test]
    fn budget_counts_follow_the_closed_forms() {
        let c = Construction::build(&CapSpec {
            budget: 1e-3,
            amplitude: 1.0,
            ..spec(2, 0.3)
        })
        .unwrap();
        let affordable = (1e-3 / c.atom_vg).floor() as usize;
        assert_eq!(c.atoms_under_budget, c.packing.count().min(affordable));
        assert!(rel(c.budget_capacity * c.atom_vg, 1e-3) < 1e-12);
    }

    #[test]
    fn bad_settings_name_the_field() {
        let field = |s: CapSpec| match pack_caps(&s) {
            Err(ConstructionError::OutOfRange { field, .. }) => field,
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(field(spec(0, 0.9)), "d");
        for t in [0.0, 1.0, 1.5, -0.2, f64::NAN] {
            assert_eq!(field(spec(3, t)), "offset", "t = {t}");
        }
        assert_eq!(
            field(CapSpec {
                amplitude: 0.0,
                ..spec(3, 0.9)
            }),
            "amplitude"
        );
        assert_eq!(
            field(CapSpec {
                amplitude: f64::INFINITY,
                ..spec(3, 0.9)
            }),
            "amplitude"
        );
        assert_eq!(
            field(CapSpec {
                budget: -1.0,
                ..spec(3, 0.9)
            }),
            "budget"
        );
        assert_eq!(
            field(CapSpec {
                patience: 0,
                ..spec(3, 0.9)
            }),
            "patience"
        );
        assert_eq!(
            field(CapSpec {
                max_caps: 0,
                ..spec(3, 0.9)
            }),
            "max_caps"
        );
        let msg = pack_caps(&spec(3, 1.2)).unwrap_err().to_string();
        assert!(msg.contains("offset = 1.2"), "{msg}");
        assert!(atom_l2_squared(0.5, 0).is_err());
        assert!(cap_probability(1.0, 3).is_err());
        let c = Construction::build(&spec(2, 0.9)).unwrap();
        assert!(c.network(0).is_err());
        assert!(c.network(c.packing.count() + 1).is_err());
        assert!(c.check_on_sample(1, 0, 0).is_err());
        assert!(c.monte_carlo_separation_squared(0, 999, 10, 0).is_err());
    }
}
