//! Every eigenvalue above a threshold (the outliers central-flow analyses track, above
//! `1.5/eta`), each with a certified bound and a certificate that none was missed; and the
//! smallest eigenvalue with a bound of its own.
//!
//! Outliers come from restarted Lanczos with locking: a round runs Lanczos (full
//! reorthogonalisation, the recurrence of `lanczos`) on the operator deflated against the
//! vectors locked so far, `P A P` with `P = I - Y Y^T`, and locks the Ritz vectors above the
//! threshold; rounds go on until one locks nothing. Then a Rayleigh-Ritz step on the locked
//! space gives the reported values and their residual bounds, computed directly from `A Z`:
//!
//! - each value `theta_i` has an eigenvalue of `A` within `||A z_i - theta_i z_i||`
//!   (Kahan-Parlett), and with `R = A Z - Z Theta` there are `k` distinct eigenvalues, one within
//!   `||R||_F` of each `theta_i` (Kahan 1967, Parlett Theorem 11.5.1): `block_bound`;
//! - by interlacing, `theta_i <= lambda_i(A)`, so at least `#{theta_i > tau}` eigenvalues lie
//!   above the threshold `tau`;
//! - by Courant-Fischer, `lambda_{k+1}(A) <= lambda_max(P A P)`; the last round (deflated against
//!   the final space, from a fresh random start) runs until its top Ritz value has converged
//!   (residual bound within 1% of it) and bounds `lambda_max(P A P)` by that value plus its
//!   residual bound: `missed_bound`. When it lies below `tau`, no eigenvalue above the threshold
//!   was missed. As for every Lanczos estimate of `lambda_max`, this assumes the converged top
//!   Ritz value belongs to the top eigenvalue, i.e. the random start is not (nearly) orthogonal
//!   to the top eigenvector of `P A P`; a round stopped at its step cap before converging
//!   leaves the result not `complete`.
//!
//! The smallest eigenvalue is the top eigenvalue of `-A`, found by [`extreme_eigenvalues`] from
//! a cold random start (a warm start from the top eigenvector, as the sharpness tracker uses,
//! leaves the bottom of the spectrum nearly absent from the Krylov space).

use nalgebra::DMatrix;
use rand::Rng;
use rand_distr::StandardNormal;

use super::lanczos::{
    extreme_eigenvalues, tridiagonal_eigen, LanczosError, LanczosOptions, LanczosWorkspace,
    RitzValue, Step, SymmetricOperator,
};
use crate::rng::{stream, Stream};

/// Settings of [`eigenvalues_above`].
#[derive(Clone, Debug, PartialEq)]
pub struct OutlierOptions {
    /// The threshold `tau` (absolute, in the operator's units): eigenvalues above it are
    /// reported. Must be finite and `> 0` (the deflated operator is zero on the locked space,
    /// which must stay below it).
    pub threshold: f64,
    /// The most eigenvalues reported; default 64, range `>= 1`. When more lie above the
    /// threshold, the result is not `complete`.
    pub max_count: usize,
    /// Relative tolerance on each Ritz value's bound before it is locked; default `1e-4`.
    pub rel_tol: f64,
    /// Lanczos steps per round; default 100, range `>= 1`, clamped to the dimension.
    pub max_iter: usize,
    /// Seed of the starting vectors (`Stream::Probes`). Default 0.
    pub seed: u64,
}

impl Default for OutlierOptions {
    fn default() -> Self {
        Self {
            threshold: 1.0,
            max_count: 64,
            rel_tol: 1e-4,
            max_iter: 100,
            seed: 0,
        }
    }
}

impl OutlierOptions {
    fn validate(&self) -> Result<(), LanczosError> {
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(LanczosError::InvalidOption {
                name: "threshold",
                value: self.threshold.to_string(),
                reason: "must be finite and > 0",
            });
        }
        if self.max_count == 0 {
            return Err(LanczosError::InvalidOption {
                name: "max_count",
                value: "0".into(),
                reason: "must be >= 1",
            });
        }
        if !(self.rel_tol.is_finite() && self.rel_tol >= 0.0) {
            return Err(LanczosError::InvalidOption {
                name: "rel_tol",
                value: self.rel_tol.to_string(),
                reason: "must be finite and >= 0",
            });
        }
        if self.max_iter == 0 {
            return Err(LanczosError::InvalidOption {
                name: "max_iter",
                value: "0".into(),
                reason: "must be >= 1",
            });
        }
        Ok(())
    }
}

/// Result of [`eigenvalues_above`].
#[derive(Clone, Debug, PartialEq)]
pub struct Outliers {
    /// The threshold the values are above.
    pub threshold: f64,
    /// The values above the threshold, descending, each with its own residual bound.
    pub values: Vec<RitzValue>,
    /// `||R||_F` of the whole set: distinct eigenvalues lie within it of the values, one each.
    pub block_bound: f64,
    /// Upper bound on every eigenvalue not counted (the last deflated round's top Ritz value
    /// plus its bound; `-inf` when the locked space is the whole space).
    pub missed_bound: f64,
    /// Whether the count is certified: `missed_bound < threshold`, every Rayleigh-Ritz value
    /// of the locked space is above the threshold, and `max_count` was not reached.
    pub complete: bool,
    /// Operator products used.
    pub products: usize,
    /// Lanczos rounds run (the last one is the certificate).
    pub rounds: usize,
    /// Unit Ritz vectors of `values`, in the same order: a warm start for the next call.
    pub vectors: Vec<Vec<f64>>,
}

impl Outliers {
    /// The number of values above the threshold.
    pub fn count(&self) -> usize {
        self.values.len()
    }
}

/// `A` deflated against an orthonormal set: `x -> P A P x` with `P = I - Y Y^T`.
///
/// Each product costs one product of `A` plus `4 k dim` for the projections (two passes on the
/// output, for orthogonality to working precision). Allocates one scratch vector on creation.
pub struct Deflated<'a, O: ?Sized> {
    op: &'a mut O,
    basis: &'a [Vec<f64>],
    scratch: Vec<f64>,
    /// Products of `A` applied so far.
    pub products: usize,
}

impl<'a, O: SymmetricOperator + ?Sized> Deflated<'a, O> {
    /// Deflates `op` against `basis`, whose vectors must be orthonormal and of length `op.dim()`.
    pub fn new(op: &'a mut O, basis: &'a [Vec<f64>]) -> Self {
        let dim = op.dim();
        Deflated {
            op,
            basis,
            scratch: vec![0.0; dim],
            products: 0,
        }
    }
}

impl<O: SymmetricOperator + ?Sized> SymmetricOperator for Deflated<'_, O> {
    fn dim(&self) -> usize {
        self.op.dim()
    }

    fn apply(&mut self, x: &[f64], y: &mut [f64]) {
        self.scratch.copy_from_slice(x);
        project_out(self.basis, &mut self.scratch, 1);
        self.op.apply(&self.scratch, y);
        self.products += 1;
        project_out(self.basis, y, 2);
    }
}

/// `-A`: Lanczos on it finds the smallest eigenvalue of `A` as its largest.
pub struct Negated<'a, O: ?Sized> {
    op: &'a mut O,
}

impl<'a, O: SymmetricOperator + ?Sized> Negated<'a, O> {
    /// Wraps `op`.
    pub fn new(op: &'a mut O) -> Self {
        Negated { op }
    }
}

impl<O: SymmetricOperator + ?Sized> SymmetricOperator for Negated<'_, O> {
    fn dim(&self) -> usize {
        self.op.dim()
    }

    fn apply(&mut self, x: &[f64], y: &mut [f64]) {
        self.op.apply(x, y);
        y.iter_mut().for_each(|v| *v = -*v);
    }
}

/// The smallest eigenvalue of a symmetric operator with its certified bound (an eigenvalue of
/// `A` lies within `error_bound` of `value`, and `value >= lambda_min`), and the products used.
///
/// Lanczos on `-A` from a cold random start (seed `opts.seed`), to `opts.rel_tol` relative to
/// `max(|lambda_min|, 1e-8 ||A||)` or `opts.max_iter` steps (`top_k` and `smallest` of `opts`
/// are ignored). Costs as [`extreme_eigenvalues`].
///
/// # Errors
/// Bad options or non-finite products ([`LanczosError`]).
pub fn smallest_eigenvalue<O: SymmetricOperator + ?Sized>(
    op: &mut O,
    opts: &LanczosOptions,
    ws: &mut LanczosWorkspace,
) -> Result<Option<(RitzValue, usize)>, LanczosError> {
    let options = LanczosOptions {
        top_k: 1,
        smallest: false,
        ..opts.clone()
    };
    let mut negated = Negated::new(op);
    let spectrum = extreme_eigenvalues(&mut negated, &options, None, ws)?;
    Ok(spectrum.top.first().map(|r| {
        (
            RitzValue {
                value: -r.value,
                error_bound: r.error_bound,
            },
            spectrum.iterations,
        )
    }))
}

/// Relative bound at which the top Ritz value below the threshold counts as converged for the
/// miss certificate (looser than the tolerance of the values locked, which are reported).
const CERTIFICATE_TOL: f64 = 1e-2;

/// What one deflated round found: Ritz pairs above the threshold, and the top Ritz value at or
/// below it (the certificate when nothing is above).
struct Round {
    locked: Vec<Vec<f64>>,
    top: Option<RitzValue>,
}

/// Every eigenvalue of `op` above `opts.threshold`, each with a certified bound, and a
/// certificate that none was missed (see the module documentation).
///
/// `warm` are unit vectors near the expected eigenvectors (the previous call's `vectors`):
/// the first round starts from a random combination of them plus a seeded perturbation; later
/// rounds start cold. Cost: one product per Lanczos step, at most `opts.max_iter` per round,
/// plus `k` for the final Rayleigh-Ritz step (`k` values found); `O(k m dim)` for deflation and
/// `O(m^2 dim)` for reorthogonalisation at `m` steps. Allocates the locked vectors, their
/// products and the outputs; the Lanczos basis lives in `ws`. Deterministic for a seed.
///
/// # Errors
/// Bad options, warm vectors of the wrong length or non-finite, non-finite products.
pub fn eigenvalues_above<O: SymmetricOperator + ?Sized>(
    op: &mut O,
    opts: &OutlierOptions,
    warm: &[Vec<f64>],
    ws: &mut LanczosWorkspace,
) -> Result<Outliers, LanczosError> {
    opts.validate()?;
    let dim = op.dim();
    for v in warm {
        check_vector(v, dim)?;
    }
    let tau = opts.threshold;
    let mut rng = stream(opts.seed, Stream::Probes);
    let mut basis: Vec<Vec<f64>> = Vec::new();
    let mut products = 0usize;
    let mut rounds = 0usize;
    let mut capped = false;
    let mut missed_bound: f64;
    loop {
        if basis.len() >= dim {
            missed_bound = f64::NEG_INFINITY;
            break;
        }
        // The start: warm vectors (first round only) or a Gaussian one, in the deflated space.
        let mut start: Vec<f64> = (0..dim).map(|_| rng.sample(StandardNormal)).collect();
        if rounds == 0 && !warm.is_empty() {
            let g = norm(&start);
            start.iter_mut().for_each(|x| *x *= 1e-2 / g);
            for w in warm {
                let c: f64 = rng.sample(StandardNormal);
                axpy(1.0 + 0.5 * c.abs(), w, &mut start);
            }
        }
        project_out(&basis, &mut start, 2);
        if norm(&start) <= 1e-12 {
            missed_bound = f64::NEG_INFINITY;
            break;
        }
        let room = opts.max_count.saturating_sub(basis.len());
        let round = {
            let mut deflated = Deflated::new(op, &basis);
            let r = lanczos_round(&mut deflated, &start, opts, ws, &mut rng)?;
            (r, deflated.products)
        };
        let (found, used) = round;
        products += used;
        rounds += 1;
        missed_bound = found
            .top
            .map_or(f64::NEG_INFINITY, |r| r.value + r.error_bound);
        if found.locked.is_empty() {
            break;
        }
        if found.locked.len() > room {
            capped = true;
        }
        for mut v in found.locked.into_iter().take(room) {
            project_out(&basis, &mut v, 2);
            let n = norm(&v);
            if n > 1e-8 {
                v.iter_mut().for_each(|x| *x /= n);
                basis.push(v);
            }
        }
        if capped || basis.len() >= opts.max_count {
            // One more deflated round says whether anything was left above the threshold.
            if !capped {
                let mut start: Vec<f64> = (0..dim).map(|_| rng.sample(StandardNormal)).collect();
                project_out(&basis, &mut start, 2);
                if norm(&start) > 1e-12 && basis.len() < dim {
                    let mut deflated = Deflated::new(op, &basis);
                    let r = lanczos_round(&mut deflated, &start, opts, ws, &mut rng)?;
                    products += deflated.products;
                    rounds += 1;
                    capped = !r.locked.is_empty();
                    let top_above = r.locked.len();
                    missed_bound = if top_above > 0 {
                        f64::INFINITY
                    } else {
                        r.top.map_or(f64::NEG_INFINITY, |t| t.value + t.error_bound)
                    };
                } else {
                    missed_bound = f64::NEG_INFINITY;
                }
            } else {
                missed_bound = f64::INFINITY;
            }
            break;
        }
    }
    let (values, vectors, block_bound, all_above, rr_products) = rayleigh_ritz(op, &basis, tau)?;
    products += rr_products;
    let complete = !capped && all_above && missed_bound < tau;
    Ok(Outliers {
        threshold: tau,
        values,
        block_bound,
        missed_bound,
        complete,
        products,
        rounds,
        vectors,
    })
}

/// The certificate alone: the top Ritz value of `op` deflated against the orthonormal `basis`
/// from a seeded random start, plus its residual bound. By Courant-Fischer, no eigenvalue of
/// `op` beyond the `basis.len()` largest exceeds it (barring a start orthogonal to the top
/// eigenvector of the deflated operator). Returns the bound and the products used.
///
/// # Errors
/// Bad options or non-finite products.
pub fn missed_bound<O: SymmetricOperator + ?Sized>(
    op: &mut O,
    basis: &[Vec<f64>],
    opts: &OutlierOptions,
    ws: &mut LanczosWorkspace,
) -> Result<(f64, usize), LanczosError> {
    opts.validate()?;
    let dim = op.dim();
    for v in basis {
        check_vector(v, dim)?;
    }
    let mut rng = stream(opts.seed, Stream::Probes);
    let mut start: Vec<f64> = (0..dim).map(|_| rng.sample(StandardNormal)).collect();
    project_out(basis, &mut start, 2);
    if norm(&start) <= 1e-12 {
        return Ok((f64::NEG_INFINITY, 0));
    }
    let mut deflated = Deflated::new(op, basis);
    let r = lanczos_round(&mut deflated, &start, opts, ws, &mut rng)?;
    let top = r.top.map_or(f64::NEG_INFINITY, |t| t.value + t.error_bound);
    // A Ritz value above the threshold is itself a lower bound on an uncounted eigenvalue.
    let above = r.locked.len();
    Ok((
        if above > 0 { f64::INFINITY } else { top },
        deflated.products,
    ))
}

/// One Lanczos round from `start` until every Ritz value above the threshold has met the
/// tolerance and the first one below it is either separated from it by its bound or converged;
/// or at the step cap, or when the Krylov space is invariant.
fn lanczos_round<O: SymmetricOperator + ?Sized>(
    op: &mut O,
    start: &[f64],
    opts: &OutlierOptions,
    ws: &mut LanczosWorkspace,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Result<Round, LanczosError> {
    let dim = op.dim();
    let tau = opts.threshold;
    let max_steps = opts.max_iter.min(dim);
    ws.reset(dim, max_steps);
    if !ws.set_start(start) {
        return Ok(Round {
            locked: Vec::new(),
            top: None,
        });
    }
    loop {
        let outcome = ws.step(op)?;
        let m = ws.steps();
        let at_cap = m >= max_steps;
        let breakdown = outcome == Step::Breakdown;
        let check = at_cap || breakdown || m.is_multiple_of(4) || m < 4;
        if !check {
            continue;
        }
        let (values, vectors) = tridiagonal_eigen(ws.tridiagonal())?;
        let last_beta = ws.beta()[m - 1];
        let rounding = m as f64 * f64::EPSILON * ws.norm_estimate();
        let floor = ws.dropped() + rounding;
        let bound = |i: usize| (last_beta * vectors[(m - 1, i)]).abs() + floor;
        let scale = values.iter().fold(0.0_f64, |a, x| a.max(x.abs()));
        let tolerance = |v: f64| (opts.rel_tol * v.abs().max(1e-8 * scale)).max(2.0 * floor);
        let certificate_tolerance =
            |v: f64| tolerance(v).max(CERTIFICATE_TOL * v.abs().max(1e-8 * scale));
        let mut done = false;
        for i in (0..m).rev() {
            let (theta, b) = (values[i], bound(i));
            if theta > tau {
                if b > tolerance(theta) {
                    break;
                }
            } else {
                // The certificate needs the top Ritz value below the threshold converged: its
                // bound says an eigenvalue is near, and only once converged is that eigenvalue
                // the largest one left (a Ritz value far from convergence plus its residual
                // bounds nothing).
                done =
                    b <= tolerance(theta) || (b <= certificate_tolerance(theta) && theta + b < tau);
                break;
            }
        }
        let finish = done || at_cap || (breakdown && m >= dim);
        // After a breakdown with no orthogonal vector left to restart from, the Krylov space
        // is invariant: finish here too.
        if finish || (breakdown && !ws.restart(rng)) {
            let mut locked = Vec::new();
            let mut top = None;
            for i in (0..m).rev() {
                if values[i] > tau {
                    let s: Vec<f64> = vectors.column(i).iter().copied().collect();
                    let mut z = vec![0.0; dim];
                    ws.combine(&s, &mut z);
                    locked.push(z);
                } else {
                    top = Some(RitzValue {
                        value: values[i],
                        error_bound: bound(i),
                    });
                    break;
                }
            }
            return Ok(Round { locked, top });
        }
    }
}

type RayleighRitz = (Vec<RitzValue>, Vec<Vec<f64>>, f64, bool, usize);

/// Rayleigh-Ritz on the span of the orthonormal `basis`: values above `tau` (descending) with
/// residual bounds computed from fresh products, their vectors, `||R||_F` over all of them,
/// whether every value is above `tau`, and the products used.
fn rayleigh_ritz<O: SymmetricOperator + ?Sized>(
    op: &mut O,
    basis: &[Vec<f64>],
    tau: f64,
) -> Result<RayleighRitz, LanczosError> {
    let k = basis.len();
    if k == 0 {
        return Ok((Vec::new(), Vec::new(), 0.0, true, 0));
    }
    let dim = op.dim();
    let mut images = Vec::with_capacity(k);
    let mut norm_estimate = 0.0_f64;
    for (j, y) in basis.iter().enumerate() {
        let mut ay = vec![0.0; dim];
        op.apply(y, &mut ay);
        if let Some(index) = ay.iter().position(|x| !x.is_finite()) {
            return Err(LanczosError::NonFiniteProduct { product: j, index });
        }
        norm_estimate = norm_estimate.max(norm(&ay));
        images.push(ay);
    }
    let m = DMatrix::from_fn(k, k, |i, j| {
        0.5 * (dot(&basis[i], &images[j]) + dot(&basis[j], &images[i]))
    });
    let (values, vectors) = tridiagonal_eigen(m)?;
    // Rounding in the products' accumulation and the small eigensolver.
    let rounding = (k as f64 + (dim as f64).sqrt()) * f64::EPSILON * norm_estimate;
    let mut out_values = Vec::new();
    let mut out_vectors = Vec::new();
    let mut frobenius = 0.0;
    let mut all_above = true;
    for c in (0..k).rev() {
        let theta = values[c];
        let mut z = vec![0.0; dim];
        let mut az = vec![0.0; dim];
        for j in 0..k {
            let s = vectors[(j, c)];
            axpy(s, &basis[j], &mut z);
            axpy(s, &images[j], &mut az);
        }
        axpy(-theta, &z, &mut az);
        let r = norm(&az);
        frobenius += r * r;
        if theta > tau {
            out_values.push(RitzValue {
                value: theta,
                error_bound: r + rounding,
            });
            out_vectors.push(z);
        } else {
            all_above = false;
        }
    }
    let block = frobenius.sqrt() + rounding;
    Ok((out_values, out_vectors, block, all_above, k))
}

fn check_vector(v: &[f64], dim: usize) -> Result<(), LanczosError> {
    if v.len() != dim {
        return Err(LanczosError::StartLength {
            found: v.len(),
            expected: dim,
        });
    }
    if let Some((index, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(LanczosError::NonFiniteStart { index, value });
    }
    Ok(())
}

/// `x <- (I - Y Y^T) x`, `passes` times (classical Gram-Schmidt; two passes for orthogonality
/// to working precision).
fn project_out(basis: &[Vec<f64>], x: &mut [f64], passes: usize) {
    for _ in 0..passes {
        for y in basis {
            let c = dot(y, x);
            axpy(-c, y, x);
        }
    }
}

use super::lanczos::{axpy, dot, norm};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hessian::dense::symmetric_eigenvalues;
    use crate::hessian::lanczos::tests::{random_symmetric, with_spectrum};
    use crate::hessian::lanczos::DenseOperator;

    fn operator(m: &DMatrix<f64>) -> DenseOperator {
        DenseOperator::new(m.clone()).expect("square")
    }

    /// Every reported value has a distinct exact eigenvalue within its bound, and the count
    /// is the exact count when certified complete.
    fn assert_certified(out: &Outliers, exact_desc: &[f64], case: &str) {
        let above = exact_desc.iter().filter(|&&l| l > out.threshold).count();
        assert!(out.complete, "{case}: not certified complete: {out:?}");
        assert_eq!(
            out.count(),
            above,
            "{case}: count against dense {exact_desc:?}"
        );
        for (i, r) in out.values.iter().enumerate() {
            let err = (r.value - exact_desc[i]).abs();
            assert!(
                err <= r.error_bound,
                "{case}: value {i} = {} against exact {} (error {err} > bound {})",
                r.value,
                exact_desc[i],
                r.error_bound
            );
            assert!(err <= out.block_bound, "{case}: block bound");
        }
        assert!(out.missed_bound < out.threshold, "{case}: missed bound");
        assert!(
            out.missed_bound >= exact_desc.get(above).copied().unwrap_or(f64::NEG_INFINITY) - 1e-9,
            "{case}: missed bound {} below the next eigenvalue {:?}",
            out.missed_bound,
            exact_desc.get(above)
        );
    }

    fn descending(m: &DMatrix<f64>) -> Vec<f64> {
        let mut e = symmetric_eigenvalues(m).expect("finite");
        e.reverse();
        e
    }

    #[test]
    fn finds_every_eigenvalue_above_the_threshold_with_repeats() {
        // Outliers 9, 7, 7 (repeated), 5.5 above tau = 5; bulk in [-1, 4.6].
        let mut lambdas = vec![9.0, 7.0, 7.0, 5.5, 4.6];
        lambdas.extend((0..55).map(|i| -1.0 + 5.0 * i as f64 / 60.0));
        let m = with_spectrum(&lambdas, 3);
        let opts = OutlierOptions {
            threshold: 5.0,
            max_iter: 60,
            ..OutlierOptions::default()
        };
        let mut ws = LanczosWorkspace::new(60, 60);
        let out = eigenvalues_above(&mut operator(&m), &opts, &[], &mut ws).expect("runs");
        assert_certified(&out, &descending(&m), "planted outliers");
        assert_eq!(out.count(), 4);
        // Warm-started from its own vectors, the same answer.
        let again = eigenvalues_above(&mut operator(&m), &opts, &out.vectors, &mut ws).unwrap();
        assert_certified(&again, &descending(&m), "warm start");
    }

    #[test]
    fn random_matrices_match_dense_above_several_thresholds() {
        for seed in 0..6 {
            let m = random_symmetric(40, seed);
            let exact = descending(&m);
            for &tau in &[exact[0] * 0.9, exact[3] + 0.05 * (exact[2] - exact[3]), 0.1] {
                if tau <= 0.0 {
                    continue;
                }
                let opts = OutlierOptions {
                    threshold: tau,
                    max_iter: 40,
                    seed,
                    ..OutlierOptions::default()
                };
                let mut ws = LanczosWorkspace::new(40, 40);
                let out = eigenvalues_above(&mut operator(&m), &opts, &[], &mut ws).unwrap();
                assert_certified(&out, &exact, &format!("seed {seed}, tau {tau}"));
            }
        }
    }

    #[test]
    fn the_miss_certificate_catches_a_planted_eigenvalue() {
        // Eigenvectors are the columns of Q; give the certificate all outliers but one.
        let lambdas: Vec<f64> = [10.0, 8.0, 6.0]
            .into_iter()
            .chain((0..47).map(|i| 3.0 * i as f64 / 47.0))
            .collect();
        let n = lambdas.len();
        let mut rng = stream(11, Stream::Probes);
        let g = DMatrix::from_fn(n, n, |_, _| rng.sample::<f64, _>(StandardNormal));
        let q = g.qr().q();
        let a = &q
            * DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(&lambdas))
            * q.transpose();
        let a = (&a + a.transpose()) * 0.5;
        let column = |j: usize| q.column(j).iter().copied().collect::<Vec<f64>>();
        let opts = OutlierOptions {
            threshold: 5.0,
            max_iter: 50,
            ..OutlierOptions::default()
        };
        let mut ws = LanczosWorkspace::new(n, 50);
        let all = vec![column(0), column(1), column(2)];
        let (ok, _) = missed_bound(&mut operator(&a), &all, &opts, &mut ws).unwrap();
        assert!(
            (3.0 * 46.0 / 47.0 - 1e-9..5.0).contains(&ok),
            "complete set: {ok}"
        );
        // The planted eigenvalue 8 (its vector left out) is caught.
        let missing = vec![column(0), column(2)];
        let (caught, _) = missed_bound(&mut operator(&a), &missing, &opts, &mut ws).unwrap();
        assert!(
            caught >= 8.0 - 1e-9,
            "planted eigenvalue 8 missed: {caught}"
        );
        // A cap below the true count is reported as incomplete.
        let capped = OutlierOptions {
            max_count: 2,
            ..opts.clone()
        };
        let out = eigenvalues_above(&mut operator(&a), &capped, &[], &mut ws).unwrap();
        assert!(!out.complete && out.count() == 2, "{out:?}");
        // Too few steps to separate the bulk from the threshold: honest, not complete.
        let hard = with_spectrum(
            &(0..80)
                .map(|i| 5.0 + 0.001 * (i as f64 - 40.0))
                .collect::<Vec<_>>(),
            5,
        );
        let short = OutlierOptions {
            threshold: 5.0,
            max_iter: 3,
            ..OutlierOptions::default()
        };
        let mut ws = LanczosWorkspace::new(80, 3);
        let out = eigenvalues_above(&mut operator(&hard), &short, &[], &mut ws).unwrap();
        let exact = descending(&hard);
        assert!(!out.complete, "{out:?}");
        for (i, r) in out.values.iter().enumerate() {
            let nearest = exact
                .iter()
                .map(|l| (l - r.value).abs())
                .fold(f64::INFINITY, f64::min);
            assert!(nearest <= r.error_bound, "value {i} bound");
        }
    }

    #[test]
    fn smallest_eigenvalue_is_certified_against_dense() {
        for seed in 0..5 {
            let mut lambdas: Vec<f64> = (0..60).map(|i| 0.05 * i as f64).collect();
            lambdas[7] = -0.254;
            lambdas[59] = 12.0;
            let m = with_spectrum(&lambdas, seed);
            let opts = LanczosOptions {
                max_iter: 60,
                seed,
                ..LanczosOptions::default()
            };
            let mut ws = LanczosWorkspace::new(60, 60);
            let (r, _) = smallest_eigenvalue(&mut operator(&m), &opts, &mut ws)
                .unwrap()
                .unwrap();
            let err = (r.value + 0.254).abs();
            assert!(err <= r.error_bound, "seed {seed}: {r:?}");
            assert!(
                r.value >= -0.254 - 1e-9,
                "a Ritz value of -A is a lower bound"
            );
            assert!(r.error_bound < 1e-3, "converged: {r:?}");
        }
    }

    #[test]
    fn bad_options_are_errors_naming_the_option() {
        let m = random_symmetric(5, 0);
        let mut ws = LanczosWorkspace::new(5, 5);
        for (opts, name) in [
            (
                OutlierOptions {
                    threshold: 0.0,
                    ..OutlierOptions::default()
                },
                "threshold",
            ),
            (
                OutlierOptions {
                    threshold: f64::NAN,
                    ..OutlierOptions::default()
                },
                "threshold",
            ),
            (
                OutlierOptions {
                    max_count: 0,
                    ..OutlierOptions::default()
                },
                "max_count",
            ),
            (
                OutlierOptions {
                    max_iter: 0,
                    ..OutlierOptions::default()
                },
                "max_iter",
            ),
        ] {
            let err = eigenvalues_above(&mut operator(&m), &opts, &[], &mut ws).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
        let err = eigenvalues_above(
            &mut operator(&m),
            &OutlierOptions::default(),
            &[vec![1.0; 4]],
            &mut ws,
        )
        .unwrap_err();
        assert!(matches!(err, LanczosError::StartLength { .. }));
        // A zero operator has nothing above a positive threshold, certified.
        let zero = DMatrix::zeros(6, 6);
        let mut ws = LanczosWorkspace::new(6, 6);
        let out = eigenvalues_above(
            &mut operator(&zero),
            &OutlierOptions::default(),
            &[],
            &mut ws,
        )
        .unwrap();
        assert!(out.complete && out.count() == 0, "{out:?}");
    }
}
