//! Extreme eigenvalues of a symmetric operator by Lanczos with full reorthogonalisation, each
//! with a certified error bound from its Ritz residual; power iteration as the slow baseline.
//!
//! Everything here sees the operator only through [`SymmetricOperator`] (`y = A x` in `f64`);
//! the Hessian-vector product that implements it for a network lives in `hvp`, the dense test
//! helpers in `dense`, trace and spectral density in `trace`. The recurrence itself
//! ([`LanczosWorkspace`]) is shared with stochastic Lanczos quadrature.
//!
//! Certification: after `m` steps, `A Q_m = Q_m T_m + beta_m q_{m+1} e_m^T`, so a Ritz pair
//! `(theta_i, Q_m s_i)` of the tridiagonal `T_m` has residual norm `|beta_m s_i[m-1]|` and there
//! is an eigenvalue of `A` within that distance of `theta_i` (Kahan, Parlett). The bound says an
//! eigenvalue is near, not which one: from a single starting vector Lanczos sees one copy of a
//! repeated eigenvalue, and could in principle miss an eigenvalue whose eigenvector is
//! orthogonal to the start. Random (or randomly perturbed) starts make the latter a
//! probability-zero event.

use nalgebra::{DMatrix, SymmetricEigen};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::rng::{stream, Stream};

/// A symmetric linear operator on `R^dim`, applied in `f64`.
///
/// Implementations should not allocate per call: `apply` takes `&mut self` so that they can keep
/// scratch space. The algorithms in this module assume, and do not check, that `A` is symmetric
/// (`dense::asymmetry` measures it in tests).
pub trait SymmetricOperator {
    /// The dimension of the space the operator acts on.
    fn dim(&self) -> usize;

    /// Writes `y = A x`. Both slices have length `self.dim()`; `y` is overwritten, not
    /// accumulated into.
    fn apply(&mut self, x: &[f64], y: &mut [f64]);
}

impl<T: SymmetricOperator + ?Sized> SymmetricOperator for &mut T {
    fn dim(&self) -> usize {
        (**self).dim()
    }

    fn apply(&mut self, x: &[f64], y: &mut [f64]) {
        (**self).apply(x, y);
    }
}

/// A dense symmetric matrix as a [`SymmetricOperator`], for tests and small problems.
///
/// `apply` costs `dim^2` multiply-adds and allocates nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseOperator {
    matrix: DMatrix<f64>,
}

impl DenseOperator {
    /// Wraps a square matrix. Symmetry is assumed, not checked (see `dense::asymmetry`).
    ///
    /// # Errors
    /// [`LanczosError::NotSquare`] when the matrix is not square.
    pub fn new(matrix: DMatrix<f64>) -> Result<Self, LanczosError> {
        if matrix.nrows() != matrix.ncols() {
            return Err(LanczosError::NotSquare {
                rows: matrix.nrows(),
                cols: matrix.ncols(),
            });
        }
        Ok(Self { matrix })
    }

    /// The wrapped matrix.
    pub fn matrix(&self) -> &DMatrix<f64> {
        &self.matrix
    }

    /// Gives the wrapped matrix back.
    pub fn into_matrix(self) -> DMatrix<f64> {
        self.matrix
    }
}

impl SymmetricOperator for DenseOperator {
    fn dim(&self) -> usize {
        self.matrix.nrows()
    }

    fn apply(&mut self, x: &[f64], y: &mut [f64]) {
        // Column-major storage: y = sum_j x_j * column_j, in a fixed order.
        y.fill(0.0);
        for (column, &xj) in self.matrix.column_iter().zip(x) {
            for (yi, &aij) in y.iter_mut().zip(column.iter()) {
                *yi += aij * xj;
            }
        }
    }
}

/// What can go wrong in a Lanczos or power-iteration call. Each variant says where.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LanczosError {
    /// A dense operator was built from a non-square matrix.
    #[error("a symmetric operator needs a square matrix, got {rows} x {cols}")]
    NotSquare {
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
    },
    /// The warm-start vector has the wrong length.
    #[error("starting vector has length {found} but the operator has dimension {expected}")]
    StartLength {
        /// Length of the given vector.
        found: usize,
        /// The operator's dimension.
        expected: usize,
    },
    /// The warm-start vector has a NaN or infinite entry.
    #[error("starting vector entry {index} is {value}; entries must be finite")]
    NonFiniteStart {
        /// Index of the first bad entry.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// The operator returned a NaN or infinite entry (for a Hessian: a diverged network).
    #[error("operator product {product} returned a non-finite entry at index {index}")]
    NonFiniteProduct {
        /// Which product (0-based) of the call went bad.
        product: usize,
        /// Index of the first bad entry.
        index: usize,
    },
    /// An option is out of its range.
    #[error("option {name} = {value} is out of range: {reason}")]
    InvalidOption {
        /// The option's name.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// What the range is.
        reason: &'static str,
    },
    /// The eigensolver for the small tridiagonal matrix did not converge (should not happen for
    /// finite input).
    #[error("eigensolver for the {size} x {size} tridiagonal matrix did not converge")]
    TridiagonalEigen {
        /// Size of the tridiagonal matrix.
        size: usize,
    },
}

/// Settings of [`extreme_eigenvalues`].
#[derive(Clone, Debug, PartialEq)]
pub struct LanczosOptions {
    /// How many of the largest (algebraic) eigenvalues to return. Default 1; clamped to the
    /// dimension. May be 0 when `smallest` is set.
    pub top_k: usize,
    /// Whether to return the smallest (algebraic) eigenvalue as well. Default `true`.
    pub smallest: bool,
    /// Relative tolerance on the certified error bounds; default `1e-4`, range `>= 0`. A top
    /// value `theta` has converged when its bound is at most `rel_tol * max(|theta|, 1e-8 * s)`,
    /// the smallest when its bound is at most `rel_tol * s`, where `s` is the largest `|theta|`
    /// (an estimate of `||A||`). The smallest is judged against the scale because in a Hessian
    /// it often sits near zero, where a bound relative to itself is out of reach; what one asks
    /// of it is whether negative curvature is significant next to the sharpness. No tolerance
    /// is taken below twice the bounds' rounding allowance (see [`RitzValue::error_bound`]).
    pub rel_tol: f64,
    /// Iteration cap (operator products); default 100, range `>= 1`; never more than the
    /// dimension are done.
    pub max_iter: usize,
    /// Check convergence every this many iterations, from the first at which enough Ritz values
    /// exist (and always at the cap or a breakdown). Default 1; 0 counts as 1. A check
    /// eigendecomposes the `m x m` tridiagonal matrix: `O(m^3)`, small next to an operator
    /// product unless the operator is tiny.
    pub check_every: usize,
    /// Seed of the starting vector (or of the perturbation of a warm start), drawn from
    /// `Stream::Probes`. Default 0.
    pub seed: u64,
}

impl Default for LanczosOptions {
    fn default() -> Self {
        Self {
            top_k: 1,
            smallest: true,
            rel_tol: 1e-4,
            max_iter: 100,
            check_every: 1,
            seed: 0,
        }
    }
}

impl LanczosOptions {
    fn validate(&self) -> Result<(), LanczosError> {
        if !(self.rel_tol >= 0.0 && self.rel_tol.is_finite()) {
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
        if self.top_k == 0 && !self.smallest {
            return Err(LanczosError::InvalidOption {
                name: "top_k",
                value: "0".into(),
                reason: "must be >= 1 when smallest is false (nothing would be computed)",
            });
        }
        Ok(())
    }
}

/// A Ritz value with its certified error bound: some eigenvalue of the operator lies within
/// `error_bound` of `value`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RitzValue {
    /// The Ritz value `theta`.
    pub value: f64,
    /// The residual norm `|beta_m s[m-1]|` of its Ritz pair, plus the couplings dropped at
    /// restarts (see [`extreme_eigenvalues`]) and a rounding allowance `m eps ||A||` (with
    /// `||A||` estimated by the largest `||A q_j||`).
    pub error_bound: f64,
}

/// Result of [`extreme_eigenvalues`].
#[derive(Clone, Debug, PartialEq)]
pub struct Spectrum {
    /// The largest Ritz values, descending; `min(top_k, dim)` of them (fewer only if the
    /// iteration cap is below `top_k`).
    pub top: Vec<RitzValue>,
    /// The smallest Ritz value, when asked for and `dim > 0`.
    pub smallest: Option<RitzValue>,
    /// Operator products done (= Lanczos steps).
    pub iterations: usize,
    /// Whether every requested value met the tolerance (or an invariant subspace was found).
    pub converged: bool,
    /// Unit Ritz vector of the largest Ritz value, length `dim` (empty when `dim == 0`): pass it
    /// as `start` to warm-start the next call.
    pub top_vector: Vec<f64>,
}

impl Spectrum {
    /// The top Ritz vector as a start for the next estimate, when it is usable (not empty, all
    /// finite).
    pub fn warm_start(&self) -> Option<&[f64]> {
        (!self.top_vector.is_empty() && self.top_vector.iter().all(|v| v.is_finite()))
            .then_some(&self.top_vector[..])
    }
}

/// Relative size of `beta` below which the Krylov space is taken to be invariant.
const BREAKDOWN: f64 = 1e-12;

/// How many fresh random vectors to try when restarting after a breakdown.
const RESTART_TRIES: usize = 3;

/// Relative size of the random perturbation mixed into a warm start.
const WARM_PERTURBATION: f64 = 1e-3;

/// Reusable storage for the Lanczos recurrence: the orthonormal basis (`capacity x dim` f64),
/// the tridiagonal coefficients and one scratch vector.
///
/// Allocate once with [`LanczosWorkspace::new`] and pass to every call; a call whose dimension
/// differs, or that may need more steps than fit, reshapes it (one allocation); later calls of
/// that shape allocate nothing here.
#[derive(Clone, Debug)]
pub struct LanczosWorkspace {
    dim: usize,
    capacity: usize,
    basis: Vec<f64>,
    w: Vec<f64>,
    coefficients: Vec<f64>,
    alpha: Vec<f64>,
    beta: Vec<f64>,
    steps: usize,
    dropped: f64,
    norm_estimate: f64,
}

/// What one Lanczos step found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The next basis vector is ready (or the basis is full).
    Continue,
    /// `beta` is negligible: the Krylov space is invariant under the operator.
    Breakdown,
}

impl LanczosWorkspace {
    /// Storage for up to `min(max_iter, dim)` Lanczos steps on `R^dim`: allocates
    /// `min(max_iter, dim) * dim + dim` f64 for vectors plus `O(max_iter)` for coefficients.
    pub fn new(dim: usize, max_iter: usize) -> Self {
        let mut ws = Self {
            dim: 0,
            capacity: 0,
            basis: Vec::new(),
            w: Vec::new(),
            coefficients: Vec::new(),
            alpha: Vec::new(),
            beta: Vec::new(),
            steps: 0,
            dropped: 0.0,
            norm_estimate: 0.0,
        };
        ws.reset(dim, max_iter.min(dim));
        ws
    }

    /// The dimension the basis is currently shaped for.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// How many basis vectors fit.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Shapes the storage for `steps` steps on `R^dim` (allocating only if it does not fit) and
    /// forgets the previous recurrence.
    pub(crate) fn reset(&mut self, dim: usize, steps: usize) {
        if dim != self.dim || steps > self.capacity {
            // Keep a larger capacity only for the same dimension: a new dimension is a new shape.
            self.capacity = if dim == self.dim {
                self.capacity.max(steps)
            } else {
                steps
            };
            self.dim = dim;
            self.basis.clear();
            self.basis.resize(self.capacity * dim, 0.0);
            self.w.clear();
            self.w.resize(dim, 0.0);
            self.coefficients.resize(self.capacity, 0.0);
        }
        self.alpha.clear();
        self.alpha.reserve(self.capacity);
        self.beta.clear();
        self.beta.reserve(self.capacity);
        self.steps = 0;
        self.dropped = 0.0;
        self.norm_estimate = 0.0;
    }

    /// Steps done since the last reset.
    pub(crate) fn steps(&self) -> usize {
        self.steps
    }

    /// `beta_1 .. beta_m`: the off-diagonal of `T_m` followed by the last residual norm
    /// (zeros where the recurrence was restarted).
    pub(crate) fn beta(&self) -> &[f64] {
        &self.beta
    }

    /// Sum of the couplings dropped at restarts; added to every error bound.
    pub(crate) fn dropped(&self) -> f64 {
        self.dropped
    }

    /// The largest `||A q_j||` seen: a lower estimate of `||A||`.
    pub(crate) fn norm_estimate(&self) -> f64 {
        self.norm_estimate
    }

    fn vector(&self, i: usize) -> &[f64] {
        &self.basis[i * self.dim..(i + 1) * self.dim]
    }

    /// Sets the first basis vector to `v / ||v||`. Returns `false` (and leaves the basis empty)
    /// when `v` is zero.
    pub(crate) fn set_start(&mut self, v: &[f64]) -> bool {
        let norm = norm(v);
        if norm == 0.0 || !norm.is_finite() || self.capacity == 0 {
            return false;
        }
        for (q, &x) in self.basis[..self.dim].iter_mut().zip(v) {
            *q = x / norm;
        }
        true
    }

    /// One Lanczos step with full reorthogonalisation (two passes of classical Gram-Schmidt
    /// against the whole basis): one operator product and `O(j * dim)` arithmetic at step `j`.
    /// Needs a start (`set_start`) and `steps() < capacity()`.
    pub(crate) fn step<O: SymmetricOperator + ?Sized>(
        &mut self,
        op: &mut O,
    ) -> Result<Step, LanczosError> {
        let j = self.steps;
        let dim = self.dim;
        debug_assert!(j < self.capacity, "Lanczos step beyond workspace capacity");
        let (done, rest) = self.basis.split_at_mut((j + 1) * dim);
        let q = &done[j * dim..];
        op.apply(q, &mut self.w);
        if let Some(index) = self.w.iter().position(|x| !x.is_finite()) {
            return Err(LanczosError::NonFiniteProduct { product: j, index });
        }
        self.norm_estimate = self.norm_estimate.max(norm(&self.w));

        // Three-term recurrence, then two full classical Gram-Schmidt passes.
        let alpha = dot(q, &self.w);
        axpy(-alpha, q, &mut self.w);
        if j > 0 {
            let previous_beta = self.beta[j - 1];
            axpy(-previous_beta, &done[(j - 1) * dim..j * dim], &mut self.w);
        }
        for _pass in 0..2 {
            for (i, c) in self.coefficients[..=j].iter_mut().enumerate() {
                *c = dot(&done[i * dim..(i + 1) * dim], &self.w);
            }
            for (i, &c) in self.coefficients[..=j].iter().enumerate() {
                axpy(-c, &done[i * dim..(i + 1) * dim], &mut self.w);
            }
        }
        let beta = norm(&self.w);
        self.alpha.push(alpha);
        self.beta.push(beta);
        self.steps = j + 1;
        if beta <= BREAKDOWN * self.norm_estimate {
            return Ok(Step::Breakdown);
        }
        if j + 1 < self.capacity {
            for (next, &x) in rest[..dim].iter_mut().zip(&self.w) {
                *next = x / beta;
            }
        }
        Ok(Step::Continue)
    }

    /// After a breakdown at the last step, continues the recurrence from a fresh random vector
    /// orthogonal to the basis: the last coupling becomes 0 (its old value is added to
    /// `dropped`), so `T` turns block-diagonal. Returns `false` when no such vector was found
    /// (the basis spans the space) or the basis is full.
    pub(crate) fn restart(&mut self, rng: &mut ChaCha8Rng) -> bool {
        let m = self.steps;
        if m == 0 || m >= self.capacity || m >= self.dim {
            return false;
        }
        let dim = self.dim;
        for _ in 0..RESTART_TRIES {
            for x in self.w.iter_mut() {
                *x = rng.sample(StandardNormal);
            }
            let before = norm(&self.w);
            for _pass in 0..2 {
                for i in 0..m {
                    let c = dot(self.vector(i), &self.w);
                    let (basis, w) = (&self.basis, &mut self.w);
                    axpy(-c, &basis[i * dim..(i + 1) * dim], w);
                }
            }
            let after = norm(&self.w);
            if after > 1e-8 * before {
                let (basis, w) = (&mut self.basis, &self.w);
                for (next, &x) in basis[m * dim..(m + 1) * dim].iter_mut().zip(w) {
                    *next = x / after;
                }
                self.dropped += self.beta[m - 1];
                self.beta[m - 1] = 0.0;
                return true;
            }
        }
        false
    }

    /// The `m x m` tridiagonal matrix `T_m` (allocates it).
    pub(crate) fn tridiagonal(&self) -> DMatrix<f64> {
        let m = self.steps;
        let mut t = DMatrix::zeros(m, m);
        for i in 0..m {
            t[(i, i)] = self.alpha[i];
            if i + 1 < m {
                t[(i, i + 1)] = self.beta[i];
                t[(i + 1, i)] = self.beta[i];
            }
        }
        t
    }

    /// Writes `Q_m s` into `out` (length `dim`).
    pub(crate) fn combine(&self, s: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (i, &si) in s.iter().enumerate() {
            axpy(si, self.vector(i), out);
        }
    }
}

/// Eigendecomposition of `T_m`, sorted ascending: (values, eigenvectors as columns).
pub(crate) fn tridiagonal_eigen(t: DMatrix<f64>) -> Result<(Vec<f64>, DMatrix<f64>), LanczosError> {
    let size = t.nrows();
    let eigen = SymmetricEigen::try_new(t, f64::EPSILON, 1000 * size.max(1))
        .ok_or(LanczosError::TridiagonalEigen { size })?;
    let mut order: Vec<usize> = (0..size).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[a].total_cmp(&eigen.eigenvalues[b]));
    let values = order.iter().map(|&i| eigen.eigenvalues[i]).collect();
    let vectors = DMatrix::from_fn(size, size, |r, c| eigen.eigenvectors[(r, order[c])]);
    Ok((values, vectors))
}

/// Largest (algebraic) eigenvalues and the smallest eigenvalue of a symmetric operator, by
/// Lanczos with full reorthogonalisation, each with a certified error bound.
///
/// Starts from `start` when given (a warm start, typically the previous call's `top_vector`;
/// a random perturbation of relative size `1e-3`, seeded, is mixed in so that the Krylov space
/// is not deficient; a zero `start` counts as none), else from a seeded Gaussian vector. Stops
/// when every requested value meets `opts.rel_tol` (see [`LanczosOptions::rel_tol`]), at
/// `min(opts.max_iter, dim)` steps, or when the Krylov space is invariant and holds enough
/// Ritz values (its bounds are then about zero). A breakdown before that restarts the
/// recurrence from a random vector orthogonal to the basis (so the zero operator gives
/// `top_k` zeros), and the dropped coupling is added to every bound.
///
/// Cost: one operator product per step plus `O(m * dim)` for reorthogonalisation at step `m`
/// and `O(m^3)` per convergence check. Allocates the output, a starting vector and the small
/// `m x m` matrices of the checks; the basis lives in `ws` (reshaped if it does not fit).
/// Deterministic: the same operator, options, start and seed give bitwise the same result.
///
/// # Errors
/// Bad options, a start of the wrong length or with non-finite entries, or an operator that
/// returns non-finite entries ([`LanczosError`]).
pub fn extreme_eigenvalues<O: SymmetricOperator + ?Sized>(
    op: &mut O,
    opts: &LanczosOptions,
    start: Option<&[f64]>,
    ws: &mut LanczosWorkspace,
) -> Result<Spectrum, LanczosError> {
    opts.validate()?;
    let dim = op.dim();
    if let Some(v) = start {
        check_start(v, dim)?;
    }
    if dim == 0 {
        return Ok(Spectrum {
            top: Vec::new(),
            smallest: None,
            iterations: 0,
            converged: true,
            top_vector: Vec::new(),
        });
    }
    let top_k = opts.top_k.min(dim);
    let max_steps = opts.max_iter.min(dim);
    // Ritz values needed before a convergence check makes sense.
    let needed = (top_k + usize::from(opts.smallest)).clamp(1, max_steps);
    let check_every = opts.check_every.max(1);
    ws.reset(dim, max_steps);

    let mut rng = stream(opts.seed, Stream::Probes);
    let mut v: Vec<f64> = (0..dim).map(|_| rng.sample(StandardNormal)).collect();
    if let Some(s) = start {
        let start_norm = norm(s);
        if start_norm > 0.0 {
            let scale = WARM_PERTURBATION * start_norm / norm(&v);
            for (x, &si) in v.iter_mut().zip(s) {
                *x = si + scale * *x;
            }
        }
    }
    if !ws.set_start(&v) {
        // A Gaussian vector of positive dimension is never zero; a warm start plus a nonzero
        // perturbation neither. Reaching here means an overflow in the start.
        return Err(LanczosError::NonFiniteStart {
            index: 0,
            value: f64::INFINITY,
        });
    }

    let mut next_check = needed;
    loop {
        let outcome = ws.step(op)?;
        let m = ws.steps();
        let at_cap = m >= max_steps;
        let breakdown = outcome == Step::Breakdown;
        if !(at_cap || breakdown || m >= next_check) {
            continue;
        }
        if m >= needed {
            next_check = m + check_every;
            let summary = ritz_summary(ws, opts, top_k)?;
            if summary.converged || at_cap {
                return Ok(finish(ws, summary));
            }
        }
        if breakdown && !ws.restart(&mut rng) {
            // No way to extend the basis (it spans the space): report what there is.
            let summary = ritz_summary(ws, opts, top_k)?;
            return Ok(finish(ws, summary));
        }
    }
}

/// Builds the [`Spectrum`] from a summary, computing the top Ritz vector `Q_m s_max`.
fn finish(ws: &LanczosWorkspace, summary: RitzSummary) -> Spectrum {
    let m = ws.steps();
    let s: Vec<f64> = summary.vectors.column(m - 1).iter().copied().collect();
    let mut top_vector = vec![0.0; ws.dim()];
    ws.combine(&s, &mut top_vector);
    let n = norm(&top_vector);
    if n > 0.0 {
        top_vector.iter_mut().for_each(|x| *x /= n);
    }
    Spectrum {
        top: summary.top,
        smallest: summary.smallest,
        iterations: m,
        converged: summary.converged,
        top_vector,
    }
}

/// Ritz values of the current `T_m` with their bounds and the convergence verdict.
struct RitzSummary {
    vectors: DMatrix<f64>,
    top: Vec<RitzValue>,
    smallest: Option<RitzValue>,
    converged: bool,
}

fn ritz_summary(
    ws: &LanczosWorkspace,
    opts: &LanczosOptions,
    top_k: usize,
) -> Result<RitzSummary, LanczosError> {
    let m = ws.steps();
    let (values, vectors) = tridiagonal_eigen(ws.tridiagonal())?;
    let last_beta = ws.beta()[m - 1];
    // Rounding in the recurrence and in the small eigensolver: the computed residual is the
    // true one only up to about `m eps ||A||`, which is added to every bound.
    let rounding = m as f64 * f64::EPSILON * ws.norm_estimate();
    let floor = ws.dropped() + rounding;
    let bound = |i: usize| (last_beta * vectors[(m - 1, i)]).abs() + floor;
    let scale = values.iter().fold(0.0_f64, |acc, x| acc.max(x.abs()));
    // No tolerance below what rounding allows.
    let tolerance = |relative_to: f64| (opts.rel_tol * relative_to).max(2.0 * floor);
    let mut converged = true;
    let top: Vec<RitzValue> = (0..top_k.min(m))
        .map(|r| {
            let i = m - 1 - r;
            let value = values[i];
            let error_bound = bound(i);
            if error_bound > tolerance(value.abs().max(1e-8 * scale)) {
                converged = false;
            }
            RitzValue { value, error_bound }
        })
        .collect();
    if top.len() < top_k {
        converged = false;
    }
    let smallest = if opts.smallest {
        let error_bound = bound(0);
        if error_bound > tolerance(scale) {
            converged = false;
        }
        Some(RitzValue {
            value: values[0],
            error_bound,
        })
    } else {
        None
    };
    Ok(RitzSummary {
        vectors,
        top,
        smallest,
        converged,
    })
}

fn check_start(v: &[f64], dim: usize) -> Result<(), LanczosError> {
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

/// Result of [`power_iteration`].
#[derive(Clone, Debug, PartialEq)]
pub struct PowerIteration {
    /// The Rayleigh quotient of the last iterate: the dominant (largest in magnitude)
    /// eigenvalue, which is `lambda_max` when that dominates (as for a sharp Hessian).
    pub value: f64,
    /// Residual norm `||A v - value v||` of the last unit iterate: an eigenvalue lies within it.
    pub error_bound: f64,
    /// Operator products done.
    pub iterations: usize,
    /// Whether `error_bound <= rel_tol * |value|` was reached before the cap.
    pub converged: bool,
}

/// The dominant eigenvalue by power iteration: the slow baseline Lanczos is measured against.
///
/// Iterates `v <- A v / ||A v||` from `start` (or a seeded Gaussian vector from
/// `Stream::Probes`) until the residual of the Rayleigh quotient, `||A v - theta v||`, is at
/// most `rel_tol * |theta|`, or `max_iter` products. Converges like `(lambda_2/lambda_1)^t`
/// where Lanczos converges like its square root. One operator product per iteration;
/// allocates two vectors of length `dim`.
///
/// # Errors
/// Bad `rel_tol` or `max_iter`, a bad start, or a non-finite product ([`LanczosError`]).
pub fn power_iteration<O: SymmetricOperator + ?Sized>(
    op: &mut O,
    rel_tol: f64,
    max_iter: usize,
    seed: u64,
    start: Option<&[f64]>,
) -> Result<PowerIteration, LanczosError> {
    LanczosOptions {
        rel_tol,
        max_iter,
        ..LanczosOptions::default()
    }
    .validate()?;
    let dim = op.dim();
    if let Some(v) = start {
        check_start(v, dim)?;
    }
    if dim == 0 {
        return Ok(PowerIteration {
            value: 0.0,
            error_bound: 0.0,
            iterations: 0,
            converged: true,
        });
    }
    let mut v: Vec<f64> = match start {
        Some(s) if norm(s) > 0.0 => s.to_vec(),
        _ => {
            let mut rng = stream(seed, Stream::Probes);
            (0..dim).map(|_| rng.sample(StandardNormal)).collect()
        }
    };
    let n = norm(&v);
    v.iter_mut().for_each(|x| *x /= n);
    let mut av = vec![0.0; dim];
    let mut value = 0.0;
    let mut error_bound = f64::INFINITY;
    for iteration in 1..=max_iter {
        op.apply(&v, &mut av);
        if let Some(index) = av.iter().position(|x| !x.is_finite()) {
            return Err(LanczosError::NonFiniteProduct {
                product: iteration - 1,
                index,
            });
        }
        value = dot(&v, &av);
        error_bound = v
            .iter()
            .zip(&av)
            .map(|(&x, &y)| (y - value * x).powi(2))
            .sum::<f64>()
            .sqrt();
        let av_norm = norm(&av);
        if error_bound <= rel_tol * value.abs() || av_norm == 0.0 {
            return Ok(PowerIteration {
                value,
                error_bound,
                iterations: iteration,
                converged: true,
            });
        }
        for (x, &y) in v.iter_mut().zip(&av) {
            *x = y / av_norm;
        }
    }
    Ok(PowerIteration {
        value,
        error_bound,
        iterations: max_iter,
        converged: false,
    })
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

pub(crate) fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hessian::dense::symmetric_eigenvalues;
    use rand::SeedableRng;

    /// A symmetric matrix with standard Gaussian entries (GOE-like), from `seed`.
    pub(crate) fn random_symmetric(n: usize, seed: u64) -> DMatrix<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let g = DMatrix::from_fn(n, n, |_, _| rng.sample::<f64, _>(StandardNormal));
        (&g + g.transpose()) * 0.5
    }

    /// `Q diag(lambdas) Q^T` with `Q` a random orthogonal matrix (QR of a Gaussian one).
    pub(crate) fn with_spectrum(lambdas: &[f64], seed: u64) -> DMatrix<f64> {
        let n = lambdas.len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let g = DMatrix::from_fn(n, n, |_, _| rng.sample::<f64, _>(StandardNormal));
        let q = g.qr().q();
        let d = DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(lambdas));
        let a = &q * d * q.transpose();
        (&a + a.transpose()) * 0.5
    }

    fn operator(m: &DMatrix<f64>) -> DenseOperator {
        DenseOperator::new(m.clone()).expect("test matrices are square")
    }

    fn exact(m: &DMatrix<f64>) -> Vec<f64> {
        symmetric_eigenvalues(m).expect("test matrices are finite and symmetric")
    }

    fn spread(values: &[f64]) -> f64 {
        values.iter().fold(0.0_f64, |acc, x| acc.max(x.abs()))
    }

    /// Every reported value has an exact eigenvalue within its bound (plus rounding slack).
    fn assert_bounds_certify(spectrum: &Spectrum, exact: &[f64], case: &str) {
        let slack = 1e-10 * spread(exact).max(1e-300);
        let reported = spectrum.top.iter().chain(spectrum.smallest.iter());
        for ritz in reported {
            let nearest = exact
                .iter()
                .map(|l| (l - ritz.value).abs())
                .fold(f64::INFINITY, f64::min);
            assert!(
                nearest <= ritz.error_bound + slack,
                "{case}: Ritz value {} has no eigenvalue within its bound {} (nearest at {nearest})",
                ritz.value,
                ritz.error_bound
            );
        }
    }

    /// Index-matched comparison with the exact spectrum; and, when converged, the tolerance.
    fn assert_matches(spectrum: &Spectrum, exact: &[f64], opts: &LanczosOptions, case: &str) {
        assert_bounds_certify(spectrum, exact, case);
        let n = exact.len();
        let scale = spread(exact);
        let slack = 1e-10 * scale.max(1e-300);
        assert_eq!(
            spectrum.top.len(),
            opts.top_k.min(n),
            "{case}: number of top values"
        );
        if !spectrum.converged {
            return;
        }
        for (r, ritz) in spectrum.top.iter().enumerate() {
            let lambda = exact[n - 1 - r];
            let error = (ritz.value - lambda).abs();
            assert!(
                error <= ritz.error_bound + slack,
                "{case}: top {r}: Lanczos {} vs exact {lambda}, error {error} > bound {}",
                ritz.value,
                ritz.error_bound
            );
            assert!(
                error <= opts.rel_tol * lambda.abs().max(1e-8 * scale) + slack,
                "{case}: top {r}: relative error {} above rel_tol {}",
                error / lambda.abs(),
                opts.rel_tol
            );
        }
        if let Some(ritz) = spectrum.smallest {
            let error = (ritz.value - exact[0]).abs();
            assert!(
                error <= ritz.error_bound + slack,
                "{case}: smallest: Lanczos {} vs exact {}, error {error} > bound {}",
                ritz.value,
                exact[0],
                ritz.error_bound
            );
            assert!(
                error <= opts.rel_tol * scale + slack,
                "{case}: smallest: error {error} above rel_tol * scale"
            );
        }
        let norm = norm(&spectrum.top_vector);
        assert!((norm - 1.0).abs() < 1e-10, "{case}: top vector norm {norm}");
    }

    fn run(m: &DMatrix<f64>, opts: &LanczosOptions) -> Spectrum {
        let mut op = operator(m);
        let mut ws = LanczosWorkspace::new(m.nrows(), opts.max_iter);
        extreme_eigenvalues(&mut op, opts, None, &mut ws).expect("valid Lanczos call")
    }

    #[test]
    fn top_three_and_smallest_match_dense_eigenvalues_on_random_matrices() {
        for (n, seed) in [(5, 1), (12, 2), (40, 3), (100, 4), (300, 5)] {
            let m = random_symmetric(n, seed);
            let opts = LanczosOptions {
                top_k: 3,
                max_iter: 200,
                seed,
                ..LanczosOptions::default()
            };
            let spectrum = run(&m, &opts);
            let case = format!("random symmetric n = {n}, seed {seed}");
            assert!(
                spectrum.converged,
                "{case}: not converged in {} steps",
                spectrum.iterations
            );
            assert_matches(&spectrum, &exact(&m), &opts, &case);
        }
    }

    #[test]
    fn known_spectra_are_recovered() {
        let uniform = |n: usize, lo: f64, hi: f64| -> Vec<f64> {
            (0..n)
                .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
                .collect()
        };
        let mut gapped = uniform(80, 0.0, 1.0);
        gapped.extend([10.0, 7.0, 5.0]);
        let mut clustered = uniform(150, -1.0, 1.0);
        clustered.extend([5.0, 4.99, 4.98]);
        let indefinite = uniform(120, -5.0, 3.0);
        let negative_definite = uniform(60, -9.0, -0.5);
        let mut sharp_psd = vec![0.0; 100];
        sharp_psd.extend(uniform(50, 0.01, 2.0));
        sharp_psd.push(40.0);
        let cases = [
            ("gapped", gapped, 11),
            ("clustered top", clustered, 12),
            ("indefinite", indefinite, 13),
            ("negative definite", negative_definite, 14),
            ("rank-deficient PSD", sharp_psd, 15),
        ];
        for (name, lambdas, seed) in cases {
            let m = with_spectrum(&lambdas, seed);
            let opts = LanczosOptions {
                top_k: 3,
                max_iter: 200,
                seed,
                ..LanczosOptions::default()
            };
            let spectrum = run(&m, &opts);
            let case = format!("{name}, n = {}, seed {seed}", lambdas.len());
            assert!(
                spectrum.converged,
                "{case}: not converged in {} steps",
                spectrum.iterations
            );
            assert_matches(&spectrum, &exact(&m), &opts, &case);
        }
    }

    #[test]
    fn sparser_checks_reach_the_same_answer() {
        let seed = 16;
        let m = random_symmetric(100, seed);
        let every = LanczosOptions {
            top_k: 2,
            max_iter: 100,
            seed,
            ..LanczosOptions::default()
        };
        let sparse = LanczosOptions {
            check_every: 7,
            ..every.clone()
        };
        let a = run(&m, &every);
        let b = run(&m, &sparse);
        let case = format!("n = 100, seed {seed}");
        assert!(a.converged && b.converged, "{case}: {a:?} {b:?}");
        assert!(
            b.iterations >= a.iterations && b.iterations < a.iterations + 7,
            "{case}: every step {} vs every 7 {}",
            a.iterations,
            b.iterations
        );
        assert_matches(&b, &exact(&m), &sparse, &case);
    }

    #[test]
    fn bounds_certify_even_when_stopped_early() {
        for (n, seed, max_iter) in [(60, 21, 2), (100, 22, 4), (100, 23, 8), (200, 24, 15)] {
            for m in [random_symmetric(n, seed), {
                let lambdas: Vec<f64> = (0..n).map(|i| (i as f64).sqrt()).collect();
                with_spectrum(&lambdas, seed)
            }] {
                let opts = LanczosOptions {
                    top_k: 3,
                    max_iter,
                    seed,
                    ..LanczosOptions::default()
                };
                let spectrum = run(&m, &opts);
                let case = format!("n = {n}, seed {seed}, max_iter {max_iter}");
                assert_eq!(spectrum.iterations, max_iter, "{case}");
                assert!(!spectrum.converged, "{case}: converged suspiciously early");
                assert_bounds_certify(&spectrum, &exact(&m), &case);
            }
        }
    }

    #[test]
    fn warm_start_converges_faster_than_cold_start() {
        let seed = 31;
        let n = 200;
        let mut lambdas: Vec<f64> = (0..n - 2).map(|i| 8.0 * i as f64 / n as f64).collect();
        lambdas.extend([10.0, 9.0]);
        let m = with_spectrum(&lambdas, seed);
        let perturbed = &m + random_symmetric(n, seed + 1) * 1e-4;
        let opts = LanczosOptions {
            top_k: 1,
            smallest: false,
            rel_tol: 1e-8,
            max_iter: 200,
            seed,
            ..LanczosOptions::default()
        };
        let mut ws = LanczosWorkspace::new(n, opts.max_iter);
        let first = extreme_eigenvalues(&mut operator(&m), &opts, None, &mut ws).expect("cold");
        let cold =
            extreme_eigenvalues(&mut operator(&perturbed), &opts, None, &mut ws).expect("cold");
        let warm = extreme_eigenvalues(
            &mut operator(&perturbed),
            &opts,
            Some(&first.top_vector),
            &mut ws,
        )
        .expect("warm");
        let case = format!("seed {seed}");
        assert!(
            first.converged && cold.converged && warm.converged,
            "{case}"
        );
        assert!(
            warm.iterations < cold.iterations,
            "{case}: warm start took {} steps, cold start {}",
            warm.iterations,
            cold.iterations
        );
        let exact = exact(&perturbed);
        assert_matches(&warm, &exact, &opts, &format!("warm, {case}"));
        assert_matches(&cold, &exact, &opts, &format!("cold, {case}"));
    }

    #[test]
    fn same_seed_gives_bitwise_same_output() {
        let seed = 41;
        let m = random_symmetric(80, seed);
        let opts = LanczosOptions {
            top_k: 3,
            max_iter: 30,
            seed,
            ..LanczosOptions::default()
        };
        let a = run(&m, &opts);
        // A reused workspace, previously shaped differently, must not change anything.
        let mut ws = LanczosWorkspace::new(7, 3);
        let mut op = operator(&m);
        let _ = extreme_eigenvalues(&mut op, &opts, None, &mut ws).expect("first");
        let b = extreme_eigenvalues(&mut op, &opts, None, &mut ws).expect("second");
        let bits = |s: &Spectrum| -> Vec<u64> {
            s.top
                .iter()
                .chain(s.smallest.iter())
                .flat_map(|r| [r.value.to_bits(), r.error_bound.to_bits()])
                .chain(s.top_vector.iter().map(|x| x.to_bits()))
                .collect()
        };
        assert_eq!(bits(&a), bits(&b), "seed {seed}: outputs differ");
        assert_eq!(a.iterations, b.iterations, "seed {seed}");
        let other = run(
            &m,
            &LanczosOptions {
                seed: seed + 1,
                ..opts
            },
        );
        assert_ne!(bits(&a), bits(&other), "seed {seed}: the seed is ignored");
    }

    #[test]
    fn workspace_is_reused_not_reallocated() {
        let seed = 42;
        let m = random_symmetric(50, seed);
        let opts = LanczosOptions {
            top_k: 2,
            max_iter: 40,
            seed,
            ..LanczosOptions::default()
        };
        let mut ws = LanczosWorkspace::new(50, 40);
        let basis = ws.basis.as_ptr();
        let mut op = operator(&m);
        let first = extreme_eigenvalues(&mut op, &opts, None, &mut ws).expect("first");
        let second =
            extreme_eigenvalues(&mut op, &opts, Some(&first.top_vector), &mut ws).expect("second");
        assert_eq!(ws.basis.as_ptr(), basis, "seed {seed}: basis reallocated");
        assert_eq!((ws.dim(), ws.capacity()), (50, 40), "seed {seed}");
        assert!(second.converged, "seed {seed}: {second:?}");
        // A new dimension reshapes the workspace to exactly what is needed.
        let small = random_symmetric(10, seed);
        extreme_eigenvalues(&mut operator(&small), &opts, None, &mut ws).expect("reshaped");
        assert_eq!((ws.dim(), ws.capacity()), (10, 10), "seed {seed}");
    }

    #[test]
    fn degenerate_operators_do_not_panic() {
        let opts = LanczosOptions {
            top_k: 3,
            ..LanczosOptions::default()
        };
        // Dimension 0.
        let empty = run(&DMatrix::zeros(0, 0), &opts);
        assert!(empty.top.is_empty() && empty.smallest.is_none() && empty.converged);
        assert!(empty.top_vector.is_empty());
        // Dimension 1.
        let one = run(&DMatrix::from_element(1, 1, -2.5), &opts);
        assert_eq!(one.top.len(), 1);
        assert_eq!(one.top[0].value, -2.5);
        assert_eq!(one.smallest.map(|r| r.value), Some(-2.5));
        assert!(one.converged);
        assert_eq!(one.top_vector.len(), 1);
        // The zero operator breaks down at the first step, every time.
        let zero = run(&DMatrix::zeros(5, 5), &opts);
        assert_eq!(zero.top.len(), 3, "zero operator: {zero:?}");
        assert!(zero.converged, "zero operator: {zero:?}");
        for r in zero.top.iter().chain(zero.smallest.iter()) {
            assert_eq!(
                (r.value, r.error_bound),
                (0.0, 0.0),
                "zero operator: {zero:?}"
            );
        }
        // A multiple of the identity: every vector is an eigenvector.
        let identity = run(&(DMatrix::identity(6, 6) * 2.0), &opts);
        assert!(identity.converged, "2 I: {identity:?}");
        for r in identity.top.iter().chain(identity.smallest.iter()) {
            assert!((r.value - 2.0).abs() < 1e-12, "2 I: {identity:?}");
        }
        // top_k beyond the dimension is clamped; the full spectrum comes back.
        let seed = 51;
        let m = random_symmetric(4, seed);
        let clamped = run(
            &m,
            &LanczosOptions {
                top_k: 10,
                seed,
                ..opts.clone()
            },
        );
        let exact_values = exact(&m);
        assert_eq!(clamped.top.len(), 4, "seed {seed}");
        for (r, lambda) in clamped.top.iter().zip(exact_values.iter().rev()) {
            assert!((r.value - lambda).abs() < 1e-10, "seed {seed}: {clamped:?}");
        }
        // Repeated eigenvalues: one copy is seen, bounds still certify, nothing panics.
        let seed = 52;
        let lambdas = [5.0, 5.0, 5.0, 1.0, 2.0, 3.0, -1.0, -1.0];
        let m = with_spectrum(&lambdas, seed);
        let repeated = run(
            &m,
            &LanczosOptions {
                seed,
                ..opts.clone()
            },
        );
        assert!(
            (repeated.top[0].value - 5.0).abs() < 1e-8,
            "seed {seed}: {repeated:?}"
        );
        assert_bounds_certify(&repeated, &exact(&m), &format!("repeated, seed {seed}"));
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut op = operator(&random_symmetric(4, 61));
        let mut ws = LanczosWorkspace::new(4, 10);
        let opts = LanczosOptions::default();
        let short = [1.0, 2.0];
        assert_eq!(
            extreme_eigenvalues(&mut op, &opts, Some(&short), &mut ws),
            Err(LanczosError::StartLength {
                found: 2,
                expected: 4
            })
        );
        let nan = [1.0, f64::NAN, 0.0, 0.0];
        assert!(matches!(
            extreme_eigenvalues(&mut op, &opts, Some(&nan), &mut ws),
            Err(LanczosError::NonFiniteStart { index: 1, .. })
        ));
        for bad in [
            LanczosOptions {
                rel_tol: -1.0,
                ..opts.clone()
            },
            LanczosOptions {
                rel_tol: f64::NAN,
                ..opts.clone()
            },
            LanczosOptions {
                max_iter: 0,
                ..opts.clone()
            },
            LanczosOptions {
                top_k: 0,
                smallest: false,
                ..opts.clone()
            },
        ] {
            assert!(
                matches!(
                    extreme_eigenvalues(&mut op, &bad, None, &mut ws),
                    Err(LanczosError::InvalidOption { .. })
                ),
                "{bad:?} accepted"
            );
        }
        assert_eq!(
            DenseOperator::new(DMatrix::zeros(2, 3)),
            Err(LanczosError::NotSquare { rows: 2, cols: 3 })
        );
        let mut poisoned = DMatrix::identity(3, 3);
        poisoned[(2, 2)] = f64::INFINITY;
        let mut op = operator(&poisoned);
        assert!(matches!(
            extreme_eigenvalues(&mut op, &opts, None, &mut ws),
            Err(LanczosError::NonFiniteProduct { product: 0, .. })
        ));
        assert!(matches!(
            power_iteration(&mut op, 1e-6, 10, 0, None),
            Err(LanczosError::NonFiniteProduct { product: 0, .. })
        ));
        // A zero warm start counts as none.
        let mut op = operator(&random_symmetric(4, 62));
        let cold = extreme_eigenvalues(&mut op, &opts, None, &mut ws).expect("seed 62");
        let zero = extreme_eigenvalues(&mut op, &opts, Some(&[0.0; 4]), &mut ws).expect("seed 62");
        assert_eq!(cold, zero, "seed 62");
    }

    #[test]
    fn power_iteration_agrees_with_lanczos_given_a_gap() {
        let seed = 71;
        let mut lambdas: Vec<f64> = (0..99).map(|i| -2.0 + 7.0 * i as f64 / 98.0).collect();
        lambdas.push(10.0);
        let m = with_spectrum(&lambdas, seed);
        let opts = LanczosOptions {
            smallest: false,
            rel_tol: 1e-8,
            seed,
            ..LanczosOptions::default()
        };
        let lanczos = run(&m, &opts);
        let power = power_iteration(&mut operator(&m), 1e-8, 1000, seed, None).expect("power");
        let case = format!("seed {seed}");
        assert!(
            lanczos.converged && power.converged,
            "{case}: {lanczos:?} {power:?}"
        );
        assert!(
            (power.value - 10.0).abs() <= power.error_bound + 1e-12,
            "{case}: {power:?}"
        );
        assert!(
            (power.value - lanczos.top[0].value).abs() < 1e-7,
            "{case}: power {} vs Lanczos {}",
            power.value,
            lanczos.top[0].value
        );
        assert!(
            lanczos.iterations < power.iterations,
            "{case}: Lanczos {} steps, power {}",
            lanczos.iterations,
            power.iterations
        );
        // Edge cases of the baseline.
        let zero = power_iteration(&mut operator(&DMatrix::zeros(3, 3)), 1e-8, 10, seed, None)
            .expect("zero operator");
        assert_eq!(
            (zero.value, zero.iterations, zero.converged),
            (0.0, 1, true)
        );
        let empty = power_iteration(&mut operator(&DMatrix::zeros(0, 0)), 1e-8, 10, seed, None)
            .expect("empty operator");
        assert_eq!(empty.iterations, 0);
    }
}
