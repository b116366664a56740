//! Over-parameterised matrix sensing, the further setting of SCIENCE.md section 7 ("flat minima
//! of over-parameterised matrix sensing recover the low-rank truth", Ding, Drusvyatskiy, Fazel,
//! Harchaoui 2024): a rank-`r` matrix `M*` is observed through `m` random Gaussian
//! measurements and fitted by a factorisation `L R^T` of rank `k >= r`, trained by full-batch
//! gradient descent with a constant, possibly large, step size.
//!
//! Owns the problem generator ([`SensingProblem`]), the loss with its exact gradient and
//! Hessian-vector product, the Hessian as a [`SymmetricOperator`] for Lanczos, and the training
//! loop ([`train_sensing`]) with its measurements (recovery error, balance, norms, sharpness).
//! Sweeps, storage and figures are the lab crate's; nothing here prints.
//!
//! Notation. `M*` is `d1 x d2`; measurement `i` is a `d1 x d2` matrix `A_i` and
//! `y_i = <A_i, M*> + noise_i` (`<A, B> = trace(A^T B)`). Parameters are `L` (`d1 x k`) and `R`
//! (`d2 x k`), flattened as one vector: `L` column-major, then `R` column-major, `(d1 + d2) k`
//! values. With `X = L R^T` and residuals `r_i = <A_i, X> - y_i`:
//!
//! * loss `f(L, R) = 1/(2m) sum_i r_i^2`;
//! * gradient: with `G = (1/m) sum_i r_i A_i` (`d1 x d2`), `df/dL = G R`, `df/dR = G^T L`;
//! * Hessian-vector product for a direction `(P, Q)` (shapes of `L`, `R`): the first-order
//!   change of `X` is `dX = P R^T + L Q^T`; with `D = (1/m) sum_i <A_i, dX> A_i`,
//!   `H (P, Q) = (D R + G Q, D^T L + G^T P)`. `(D R, D^T L)` is the Gauss-Newton part
//!   (`J^T J / m` with `J` the Jacobian of the residuals), `(G Q, G^T P)` the residual part
//!   (the derivative of `G R` and `G^T L` through the factors, `G` held fixed).

use nalgebra::{DMatrix, DVector};
use rand_distr::{Distribution, StandardNormal};

use crate::hessian::lanczos::{
    extreme_eigenvalues, LanczosError, LanczosOptions, LanczosWorkspace, SymmetricOperator,
};
use crate::rng::{stream, Stream};
use crate::train::{Divergence, RunStatus};

/// Problems larger than this many measurement entries (`m d1 d2`, 2 GiB of `f64`) are refused.
pub const MAX_MEASUREMENT_ENTRIES: usize = 1 << 28;

/// What can go wrong in matrix sensing. Each variant says where.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SensingError {
    /// A setting of the problem or of the run is out of range.
    #[error("matrix sensing setting {name} = {value} is out of range: {reason}")]
    InvalidSetting {
        /// The setting's name.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// What the range is.
        reason: &'static str,
    },
    /// A parameter or direction vector has the wrong length for the rank `k`.
    #[error("{what} has length {found} but (d1 + d2) k = {expected}")]
    Length {
        /// Which vector (`"parameters"`, `"direction"`, `"output"`).
        what: &'static str,
        /// Its length.
        found: usize,
        /// The length it should have.
        expected: usize,
    },
    /// The sharpness computation failed.
    #[error("sharpness of the sensing loss: {0}")]
    Lanczos(#[from] LanczosError),
}

/// Sizes of a matrix sensing problem. Checked by [`SensingProblem::generate`].
#[derive(Clone, Debug, PartialEq)]
pub struct SensingSpec {
    /// Rows of `M*`; `>= 1`.
    pub d1: usize,
    /// Columns of `M*`; `>= 1`.
    pub d2: usize,
    /// Rank `r` of `M*`; `1 <= r <= min(d1, d2)`.
    pub rank: usize,
    /// Number of measurements `m`; `>= 1`. About `5 r (d1 + d2)` makes recovery well posed
    /// ([`SensingSpec::well_posed`]); `r (d1 + d2 - r)` is the number of degrees of freedom.
    pub measurements: usize,
    /// Standard deviation of the Gaussian noise added to each observation; `>= 0`. `M*` has
    /// unit Frobenius norm and `<A_i, M*>` unit variance, so this is a noise-to-signal ratio.
    pub noise_std: f64,
}

impl SensingSpec {
    /// A spec with `m = 5 r (d1 + d2)` measurements, five times the order of the degrees of
    /// freedom: enough for restricted isometry to hold comfortably.
    pub fn well_posed(d1: usize, d2: usize, rank: usize, noise_std: f64) -> Self {
        Self {
            d1,
            d2,
            rank,
            measurements: 5 * rank * (d1 + d2),
            noise_std,
        }
    }

    fn validate(&self) -> Result<(), SensingError> {
        let bad = |name, value: String, reason| {
            Err(SensingError::InvalidSetting {
                name,
                value,
                reason,
            })
        };
        if self.d1 == 0 || self.d2 == 0 {
            return bad(
                "d1, d2",
                format!("{}, {}", self.d1, self.d2),
                "must be >= 1",
            );
        }
        if self.rank == 0 || self.rank > self.d1.min(self.d2) {
            return bad(
                "rank",
                self.rank.to_string(),
                "must be between 1 and min(d1, d2)",
            );
        }
        if self.measurements == 0 {
            return bad("measurements", "0".into(), "must be >= 1");
        }
        let entries = self
            .measurements
            .checked_mul(self.d1)
            .and_then(|v| v.checked_mul(self.d2));
        if entries.is_none_or(|e| e > MAX_MEASUREMENT_ENTRIES) {
            return bad(
                "measurements",
                self.measurements.to_string(),
                "m d1 d2 must be at most 2^28 (2 GiB of measurement matrices)",
            );
        }
        if !(self.noise_std >= 0.0 && self.noise_std.is_finite()) {
            return bad(
                "noise_std",
                self.noise_std.to_string(),
                "must be finite and >= 0",
            );
        }
        Ok(())
    }
}

/// A matrix sensing instance: the truth `M*`, the measurement matrices and the observations.
#[derive(Clone, Debug, PartialEq)]
pub struct SensingProblem {
    spec: SensingSpec,
    /// `m x (d1 d2)`: row `i` is `A_i` flattened column-major.
    measurements: DMatrix<f64>,
    /// `y_i = <A_i, M*> + noise_i`.
    observations: DVector<f64>,
    /// `M*`, `d1 x d2`, unit Frobenius norm.
    truth: DMatrix<f64>,
}

impl SensingProblem {
    /// Draws an instance from `seed`.
    ///
    /// `M* = U V^T / ||U V^T||_F` with `U` (`d1 x r`) and `V` (`d2 x r`) standard Gaussian
    /// (`Stream::Target`), so `||M*||_F = 1`. Each `A_i` has i.i.d. `N(0, 1)` entries
    /// (`Stream::Geometry`); no `1/sqrt(m)` factor, because the loss already averages over
    /// measurements: `E[f] = 1/2 ||L R^T - M*||_F^2 + noise`, the same scale at every `m`.
    /// Noise is `N(0, noise_std^2)` (`Stream::Noise`).
    ///
    /// Cost `O(m d1 d2)`; allocates the `m d1 d2` measurement entries.
    ///
    /// # Errors
    /// [`SensingError::InvalidSetting`] for a spec out of range.
    pub fn generate(spec: &SensingSpec, seed: u64) -> Result<Self, SensingError> {
        spec.validate()?;
        let (d1, d2, r, m) = (spec.d1, spec.d2, spec.rank, spec.measurements);
        let mut target = stream(seed, Stream::Target);
        let u = DMatrix::<f64>::from_fn(d1, r, |_, _| StandardNormal.sample(&mut target));
        let v = DMatrix::<f64>::from_fn(d2, r, |_, _| StandardNormal.sample(&mut target));
        let mut truth = &u * v.transpose();
        let norm = truth.norm();
        if norm > 0.0 {
            truth /= norm;
        }
        let mut geometry = stream(seed, Stream::Geometry);
        // Row-major draw order (measurement by measurement), stored in nalgebra's layout.
        let measurements = DMatrix::<f64>::from_row_iterator(
            m,
            d1 * d2,
            (0..m * d1 * d2).map(|_| StandardNormal.sample(&mut geometry)),
        );
        let mut noise = stream(seed, Stream::Noise);
        let clean = &measurements * DVector::from_column_slice(truth.as_slice());
        let observations = clean.map(|c| {
            let e: f64 = StandardNormal.sample(&mut noise);
            c + spec.noise_std * e
        });
        Ok(Self {
            spec: spec.clone(),
            measurements,
            observations,
            truth,
        })
    }

    /// The spec the problem was drawn from.
    pub fn spec(&self) -> &SensingSpec {
        &self.spec
    }

    /// The ground truth `M*` (`d1 x d2`, unit Frobenius norm).
    pub fn truth(&self) -> &DMatrix<f64> {
        &self.truth
    }

    /// The observations `y_i` (`m`).
    pub fn observations(&self) -> &[f64] {
        self.observations.as_slice()
    }

    /// `A_i` as a `d1 x d2` matrix, or `None` past the last measurement. Allocates it.
    pub fn measurement(&self, i: usize) -> Option<DMatrix<f64>> {
        (i < self.spec.measurements).then(|| {
            DMatrix::from_iterator(
                self.spec.d1,
                self.spec.d2,
                self.measurements.row(i).iter().copied(),
            )
        })
    }

    /// Number of parameters `(d1 + d2) k` of a rank-`k` factorisation.
    pub fn n_params(&self, k: usize) -> usize {
        (self.spec.d1 + self.spec.d2) * k
    }

    /// Splits `params` into `L` (`d1 x k`) and `R` (`d2 x k`), both column-major. Allocates
    /// them.
    ///
    /// # Errors
    /// [`SensingError::Length`] when `params` does not have `(d1 + d2) k` values (`k >= 1`).
    pub fn factors(
        &self,
        params: &[f64],
        k: usize,
    ) -> Result<(DMatrix<f64>, DMatrix<f64>), SensingError> {
        self.check(params, k, "parameters")?;
        let split = self.spec.d1 * k;
        Ok((
            DMatrix::from_column_slice(self.spec.d1, k, &params[..split]),
            DMatrix::from_column_slice(self.spec.d2, k, &params[split..]),
        ))
    }

    fn check(&self, v: &[f64], k: usize, what: &'static str) -> Result<(), SensingError> {
        if k == 0 {
            return Err(SensingError::InvalidSetting {
                name: "k",
                value: "0".into(),
                reason: "must be >= 1",
            });
        }
        let expected = self.n_params(k);
        if v.len() != expected {
            return Err(SensingError::Length {
                what,
                found: v.len(),
                expected,
            });
        }
        Ok(())
    }

    /// `<A_i, X>` for every `i` (`m`), `X` a `d1 x d2` matrix.
    fn measure(&self, x: &DMatrix<f64>) -> DVector<f64> {
        &self.measurements * DVector::from_column_slice(x.as_slice())
    }

    /// `(1/m) sum_i c_i A_i` as a `d1 x d2` matrix.
    fn combine(&self, c: &DVector<f64>) -> DMatrix<f64> {
        let flat = self.measurements.tr_mul(c) / self.spec.measurements as f64;
        DMatrix::from_column_slice(self.spec.d1, self.spec.d2, flat.as_slice())
    }

    /// Loss, `X = L R^T` and `G = (1/m) sum_i r_i A_i` at given factors.
    fn evaluate(&self, l: &DMatrix<f64>, r: &DMatrix<f64>) -> (f64, DMatrix<f64>, DMatrix<f64>) {
        let x = l * r.transpose();
        let residuals = self.measure(&x) - &self.observations;
        let loss = residuals.norm_squared() / (2.0 * self.spec.measurements as f64);
        let g = self.combine(&residuals);
        (loss, x, g)
    }

    /// The loss `f(L, R) = 1/(2m) sum_i (<A_i, L R^T> - y_i)^2` at `params` (rank `k`).
    ///
    /// Cost `O(m d1 d2 + d1 d2 k)`; allocates `O(d1 d2 + m)`.
    ///
    /// # Errors
    /// [`SensingError::Length`] for a wrong-length `params`.
    pub fn loss(&self, params: &[f64], k: usize) -> Result<f64, SensingError> {
        let (l, r) = self.factors(params, k)?;
        let x = l * r.transpose();
        let residuals = self.measure(&x) - &self.observations;
        Ok(residuals.norm_squared() / (2.0 * self.spec.measurements as f64))
    }

    /// Writes the gradient `(G R, G^T L)` (module docs) into `grad` and returns the loss.
    ///
    /// Cost `O(m d1 d2 + d1 d2 k)`, two passes over the measurements; allocates
    /// `O(d1 d2 + m + (d1 + d2) k)`.
    ///
    /// # Errors
    /// [`SensingError::Length`] when `params` or `grad` has the wrong length.
    pub fn gradient(
        &self,
        params: &[f64],
        k: usize,
        grad: &mut [f64],
    ) -> Result<f64, SensingError> {
        self.check(grad, k, "gradient output")?;
        let (l, r) = self.factors(params, k)?;
        let (loss, _, g) = self.evaluate(&l, &r);
        write_pair(&(&g * &r), &(g.tr_mul(&l)), grad);
        Ok(loss)
    }

    /// Writes the Hessian-vector product `H v` at `params` into `out` (formula in the module
    /// docs), `v` a direction laid out like the parameters.
    ///
    /// Cost about two gradients (`4 m d1 d2` flops); allocates like [`SensingProblem::gradient`].
    /// For many products at one point use [`SensingProblem::hessian`], which keeps `G`.
    ///
    /// # Errors
    /// [`SensingError::Length`] when a slice has the wrong length.
    pub fn hvp(
        &self,
        params: &[f64],
        k: usize,
        v: &[f64],
        out: &mut [f64],
    ) -> Result<(), SensingError> {
        let mut hessian = self.hessian(params, k)?;
        self.check(v, k, "direction")?;
        self.check(out, k, "output")?;
        hessian.apply(v, out);
        Ok(())
    }

    /// The Hessian at `params` as a [`SymmetricOperator`] (for Lanczos): precomputes `L`, `R`
    /// and `G` once (`O(m d1 d2)`); each `apply` then costs `2 m d1 d2 + O((d1 + d2) d2 k)`
    /// flops and allocates `O(d1 d2 + m)`.
    ///
    /// # Errors
    /// [`SensingError::Length`] for a wrong-length `params`.
    pub fn hessian(&self, params: &[f64], k: usize) -> Result<SensingHessian<'_>, SensingError> {
        let (l, r) = self.factors(params, k)?;
        let (_, _, g) = self.evaluate(&l, &r);
        Ok(SensingHessian {
            problem: self,
            l,
            r,
            g,
        })
    }
}

/// Writes `(a, b)` column-major, one after the other, into `out` (length checked by callers).
fn write_pair(a: &DMatrix<f64>, b: &DMatrix<f64>, out: &mut [f64]) {
    let split = a.len();
    out[..split].copy_from_slice(a.as_slice());
    out[split..].copy_from_slice(b.as_slice());
}

/// The Hessian of the sensing loss at fixed factors, applied matrix-free (module docs). Made by
/// [`SensingProblem::hessian`].
#[derive(Clone, Debug)]
pub struct SensingHessian<'a> {
    problem: &'a SensingProblem,
    l: DMatrix<f64>,
    r: DMatrix<f64>,
    g: DMatrix<f64>,
}

impl SymmetricOperator for SensingHessian<'_> {
    fn dim(&self) -> usize {
        self.l.len() + self.r.len()
    }

    /// `y = H x`; `x`, `y` of length `(d1 + d2) k` (the trait's contract).
    fn apply(&mut self, x: &[f64], y: &mut [f64]) {
        let (d1, d2, k) = (self.l.nrows(), self.r.nrows(), self.l.ncols());
        let p = DMatrix::from_column_slice(d1, k, &x[..d1 * k]);
        let q = DMatrix::from_column_slice(d2, k, &x[d1 * k..]);
        let dx = &p * self.r.transpose() + &self.l * q.transpose();
        let d = self.problem.combine(&self.problem.measure(&dx));
        let top = &d * &self.r + &self.g * &q;
        let bottom = d.tr_mul(&self.l) + self.g.tr_mul(&p);
        write_pair(&top, &bottom, y);
    }
}

/// Settings of [`train_sensing`]. Checked there.
#[derive(Clone, Debug, PartialEq)]
pub struct SensingRun {
    /// Rank `k` of the factorisation; `>= 1`, over-parameterised when `k > r`.
    pub k: usize,
    /// Step size `eta`; finite and `> 0`. Gradient descent is `theta <- theta - eta grad f`,
    /// no clipping or decay.
    pub lr: f64,
    /// Number of gradient steps.
    pub epochs: usize,
    /// Initial factors have i.i.d. `N(0, init_scale^2)` entries (`Stream::Init`); finite and
    /// `>= 0`. Small values (`1e-3`) give the small-initialisation regime; `0` is a saddle
    /// point that gradient descent never leaves.
    pub init_scale: f64,
    /// Record a trajectory point every this many epochs (`0`: only the first and the end).
    pub log_every: usize,
    /// Lanczos settings for the final sharpness; [`SensingRun::new`] asks for the top
    /// eigenvalue only, `rel_tol = 1e-6`, at most 300 products. Its `seed` is replaced by the
    /// run's seed.
    pub lanczos: LanczosOptions,
}

impl SensingRun {
    /// A run with a trajectory point every `max(1, epochs / 100)` epochs and the default
    /// sharpness settings.
    pub fn new(k: usize, lr: f64, epochs: usize, init_scale: f64) -> Self {
        Self {
            k,
            lr,
            epochs,
            init_scale,
            log_every: (epochs / 100).max(1),
            lanczos: LanczosOptions {
                top_k: 1,
                smallest: false,
                rel_tol: 1e-6,
                max_iter: 300,
                ..LanczosOptions::default()
            },
        }
    }

    fn validate(&self) -> Result<(), SensingError> {
        let bad = |name, value: f64, reason| SensingError::InvalidSetting {
            name,
            value: value.to_string(),
            reason,
        };
        if self.k == 0 {
            return Err(bad("k", 0.0, "must be >= 1"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(bad("lr", self.lr, "must be finite and > 0"));
        }
        if !(self.init_scale >= 0.0 && self.init_scale.is_finite()) {
            return Err(bad(
                "init_scale",
                self.init_scale,
                "must be finite and >= 0",
            ));
        }
        Ok(())
    }
}

/// One trajectory point of [`train_sensing`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SensingPoint {
    /// Gradient steps taken before this point.
    pub epoch: usize,
    /// Loss `f(L, R)`.
    pub loss: f64,
    /// `||L R^T - M*||_F / ||M*||_F`.
    pub recovery_error: f64,
}

/// What a matrix sensing run ended with. After a divergence the measurements are those of the
/// last iterate (usually not finite) and `sharpness` is `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct SensingOutcome {
    /// [`RunStatus::Completed`], or [`RunStatus::Diverged`] with the first epoch whose loss was
    /// not finite.
    pub status: RunStatus,
    /// Loss at the final iterate.
    pub final_loss: f64,
    /// `||L R^T - M*||_F / ||M*||_F` at the final iterate.
    pub recovery_error: f64,
    /// `||L^T L - R^T R||_F`: zero for balanced factors; conserved by gradient flow, so any
    /// change comes from the discrete steps.
    pub balance: f64,
    /// Nuclear norm of `L R^T` (sum of its singular values, by SVD).
    pub nuclear_norm: f64,
    /// Nuclear norm of `M*`, for comparison.
    pub truth_nuclear_norm: f64,
    /// `||L||_F`.
    pub frobenius_l: f64,
    /// `||R||_F`.
    pub frobenius_r: f64,
    /// Largest Hessian eigenvalue at the final iterate (Lanczos); `None` after a divergence.
    /// Linear stability of gradient descent needs it at most `2 / lr`.
    pub sharpness: Option<f64>,
    /// Certified error bound of `sharpness` (see `RitzValue::error_bound`).
    pub sharpness_error_bound: Option<f64>,
    /// `(epoch, loss, recovery_error)` at epoch 0, every `log_every` epochs, and at the end.
    pub trajectory: Vec<SensingPoint>,
    /// Final parameters, `L` then `R`, column-major.
    pub params: Vec<f64>,
}

/// Trains `L R^T` on `problem` by full-batch gradient descent and measures the result.
///
/// Initial factors from `Stream::Init` of `seed` ([`SensingRun::init_scale`]); the Lanczos
/// start for the sharpness from `Stream::Probes` of `seed`. Stops early with
/// [`RunStatus::Diverged`] when the loss stops being finite; that is a result, not an error.
///
/// Cost: per epoch one gradient (`4 m d1 d2` flops); at the end one Lanczos call of at most
/// `min(max_iter, (d1 + d2) k)` Hessian products and an SVD of `d1 x d2`. Allocates per epoch
/// the few matrices of the gradient. Single-threaded and deterministic: a pure function of
/// `problem`, `run` and `seed`.
///
/// # Errors
/// [`SensingError::InvalidSetting`] for a run out of range; [`SensingError::Lanczos`] if the
/// sharpness computation fails on a finite iterate (bad Lanczos options).
pub fn train_sensing(
    problem: &SensingProblem,
    run: &SensingRun,
    seed: u64,
) -> Result<SensingOutcome, SensingError> {
    run.validate()?;
    let k = run.k;
    let (d1, d2) = (problem.spec.d1, problem.spec.d2);
    let mut init = stream(seed, Stream::Init);
    let mut l = DMatrix::<f64>::from_fn(d1, k, |_, _| {
        let z: f64 = StandardNormal.sample(&mut init);
        run.init_scale * z
    });
    let mut r = DMatrix::<f64>::from_fn(d2, k, |_, _| {
        let z: f64 = StandardNormal.sample(&mut init);
        run.init_scale * z
    });
    let truth_norm = problem.truth.norm();
    let recovery = |x: &DMatrix<f64>| (x - &problem.truth).norm() / truth_norm;

    let mut trajectory = Vec::new();
    let mut status = RunStatus::Completed;
    for epoch in 0..run.epochs {
        let (loss, x, g) = problem.evaluate(&l, &r);
        if !loss.is_finite() {
            status = RunStatus::Diverged {
                epoch,
                rule: Divergence::NonFinite,
            };
            break;
        }
        if epoch == 0 || (run.log_every > 0 && epoch % run.log_every == 0) {
            trajectory.push(SensingPoint {
                epoch,
                loss,
                recovery_error: recovery(&x),
            });
        }
        let grad_l = &g * &r;
        let grad_r = g.tr_mul(&l);
        l -= grad_l * run.lr;
        r -= grad_r * run.lr;
    }
    let (final_loss, x, _) = problem.evaluate(&l, &r);
    if status == RunStatus::Completed && !final_loss.is_finite() {
        status = RunStatus::Diverged {
            epoch: run.epochs,
            rule: Divergence::NonFinite,
        };
    }
    let recovery_error = recovery(&x);
    if status == RunStatus::Completed {
        trajectory.push(SensingPoint {
            epoch: run.epochs,
            loss: final_loss,
            recovery_error,
        });
    }

    let mut params = vec![0.0; problem.n_params(k)];
    write_pair(&l, &r, &mut params);
    let (sharpness, sharpness_error_bound) = if status == RunStatus::Completed {
        let mut hessian = problem.hessian(&params, k)?;
        let opts = LanczosOptions {
            seed,
            ..run.lanczos.clone()
        };
        let mut ws = LanczosWorkspace::new(hessian.dim(), opts.max_iter.min(hessian.dim()));
        let spectrum = extreme_eigenvalues(&mut hessian, &opts, None, &mut ws)?;
        match spectrum.top.first() {
            Some(top) => (Some(top.value), Some(top.error_bound)),
            None => (None, None),
        }
    } else {
        (None, None)
    };

    let nuclear = |m: &DMatrix<f64>| {
        if m.iter().all(|v| v.is_finite()) {
            m.singular_values().sum()
        } else {
            f64::NAN
        }
    };
    Ok(SensingOutcome {
        status,
        final_loss,
        recovery_error,
        balance: (l.tr_mul(&l) - r.tr_mul(&r)).norm(),
        nuclear_norm: nuclear(&x),
        truth_nuclear_norm: nuclear(&problem.truth),
        frobenius_l: l.norm(),
        frobenius_r: r.norm(),
        sharpness,
        sharpness_error_bound,
        trajectory,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hessian::dense;

    fn random_vector(len: usize, seed: u64) -> Vec<f64> {
        let mut rng = stream(seed, Stream::Probes);
        (0..len).map(|_| StandardNormal.sample(&mut rng)).collect()
    }

    fn small_problem(seed: u64) -> SensingProblem {
        let spec = SensingSpec {
            d1: 4,
            d2: 3,
            rank: 1,
            measurements: 30,
            noise_std: 0.1,
        };
        SensingProblem::generate(&spec, seed).expect("valid spec")
    }

    fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
            / scale
    }

    #[test]
    fn truth_has_unit_norm_and_observations_match_measurements() {
        let spec = SensingSpec::well_posed(6, 5, 2, 0.0);
        let problem = SensingProblem::generate(&spec, 31).expect("valid spec");
        assert_eq!(spec.measurements, 110);
        assert!((problem.truth().norm() - 1.0).abs() < 1e-12, "seed 31");
        let rank = problem.truth().clone().svd(false, false).rank(1e-10);
        assert_eq!(rank, 2, "M* should have rank 2 (seed 31)");
        let a3 = problem.measurement(3).expect("measurement 3 exists");
        let inner = a3.dot(problem.truth());
        assert!(
            (inner - problem.observations()[3]).abs() < 1e-12,
            "noiseless y_3 = {} but <A_3, M*> = {inner} (seed 31)",
            problem.observations()[3]
        );
        assert!(problem.measurement(110).is_none());
    }

    #[test]
    fn gradient_matches_central_differences() {
        let (problem, k, seed) = (small_problem(32), 2, 32);
        let params: Vec<f64> = random_vector(problem.n_params(k), seed)
            .iter()
            .map(|v| 0.7 * v)
            .collect();
        let mut grad = vec![0.0; params.len()];
        let loss = problem.gradient(&params, k, &mut grad).expect("lengths");
        assert_eq!(loss, problem.loss(&params, k).expect("lengths"));
        let h = 1e-6;
        let numeric: Vec<f64> = (0..params.len())
            .map(|j| {
                let mut plus = params.clone();
                let mut minus = params.clone();
                plus[j] += h;
                minus[j] -= h;
                let lp = problem.loss(&plus, k).expect("lengths");
                let lm = problem.loss(&minus, k).expect("lengths");
                (lp - lm) / (2.0 * h)
            })
            .collect();
        let diff = max_rel_diff(&grad, &numeric);
        assert!(diff < 1e-6, "gradient off by {diff} relative (seed {seed})");
    }

    #[test]
    fn hvp_matches_central_differences_of_the_gradient() {
        let (problem, k, seed) = (small_problem(33), 3, 33);
        let params: Vec<f64> = random_vector(problem.n_params(k), seed)
            .iter()
            .map(|v| 0.7 * v)
            .collect();
        let v = random_vector(params.len(), seed + 1);
        let mut hv = vec![0.0; params.len()];
        problem.hvp(&params, k, &v, &mut hv).expect("lengths");
        let h = 1e-5;
        let shifted = |sign: f64| {
            let p: Vec<f64> = params
                .iter()
                .zip(&v)
                .map(|(a, b)| a + sign * h * b)
                .collect();
            let mut g = vec![0.0; p.len()];
            problem.gradient(&p, k, &mut g).expect("lengths");
            g
        };
        let (gp, gm) = (shifted(1.0), shifted(-1.0));
        let numeric: Vec<f64> = gp
            .iter()
            .zip(&gm)
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect();
        let diff = max_rel_diff(&hv, &numeric);
        assert!(diff < 1e-6, "HVP off by {diff} relative (seed {seed})");
    }

    #[test]
    fn hessian_operator_is_symmetric_and_lanczos_finds_its_top_eigenvalue() {
        let (problem, k, seed) = (small_problem(34), 2, 34);
        let params = random_vector(problem.n_params(k), seed);
        let mut op = problem.hessian(&params, k).expect("lengths");
        let dim = op.dim();
        let matrix = dense::raw_matrix(&mut op);
        let asym = (&matrix - matrix.transpose()).amax();
        assert!(
            asym < 1e-12 * matrix.amax(),
            "Hessian asymmetry {asym} (seed {seed})"
        );
        let exact = dense::symmetric_eigenvalues(&matrix).expect("eigenvalues");
        let top_exact = exact.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let opts = LanczosOptions {
            top_k: 1,
            smallest: false,
            rel_tol: 1e-10,
            ..LanczosOptions::default()
        };
        let mut ws = LanczosWorkspace::new(dim, dim);
        let spectrum = extreme_eigenvalues(&mut op, &opts, None, &mut ws).expect("lanczos");
        let top = spectrum.top[0].value;
        assert!(
            (top - top_exact).abs() < 1e-8 * top_exact.abs(),
            "Lanczos {top} vs dense {top_exact} (seed {seed})"
        );
    }

    #[test]
    fn small_steps_from_small_init_recover_the_truth() {
        let seed = 35;
        let spec = SensingSpec::well_posed(8, 8, 2, 0.0);
        let problem = SensingProblem::generate(&spec, seed).expect("valid spec");
        let run = SensingRun::new(4, 0.1, 3000, 1e-3);
        let outcome = train_sensing(&problem, &run, seed).expect("valid run");
        assert_eq!(outcome.status, RunStatus::Completed, "seed {seed}");
        assert!(
            outcome.recovery_error < 1e-2,
            "recovery error {} after {} epochs (seed {seed}); trajectory {:?}",
            outcome.recovery_error,
            run.epochs,
            outcome.trajectory
        );
        let first = outcome.trajectory[0];
        let last = outcome.trajectory[outcome.trajectory.len() - 1];
        assert_eq!((first.epoch, last.epoch), (0, 3000));
        assert_eq!(outcome.trajectory.len(), 101);
        assert!(
            (outcome.nuclear_norm - outcome.truth_nuclear_norm).abs() < 0.05,
            "nuclear norm {} vs truth {} (seed {seed})",
            outcome.nuclear_norm,
            outcome.truth_nuclear_norm
        );
    }

    /// From a moderately large, unbalanced initialisation, small steps keep the imbalance
    /// (gradient flow conserves `L^T L - R^T R`) and land on a sharp minimum; a step near the
    /// edge of stability rejects it and settles on a flatter, more balanced one with sharpness
    /// at most `2 / lr`. Both recover `M*` (the problem is well posed).
    #[test]
    fn a_larger_step_finds_a_flatter_minimum_below_two_over_lr() {
        let seed = 36;
        let spec = SensingSpec::well_posed(8, 8, 2, 0.0);
        let problem = SensingProblem::generate(&spec, seed).expect("valid spec");
        let small =
            train_sensing(&problem, &SensingRun::new(4, 0.05, 8000, 0.3), seed).expect("valid run");
        let (large_lr, large_epochs) = (0.8, 1000);
        let large = train_sensing(
            &problem,
            &SensingRun::new(4, large_lr, large_epochs, 0.3),
            seed,
        )
        .expect("valid run");
        for (name, outcome) in [("lr 0.05", &small), ("lr 0.8", &large)] {
            assert_eq!(outcome.status, RunStatus::Completed, "{name}, seed {seed}");
            assert!(
                outcome.recovery_error < 1e-2,
                "{name}: recovery error {} (seed {seed})",
                outcome.recovery_error
            );
        }
        let sharp_small = small.sharpness.expect("completed run has a sharpness");
        let sharp_large = large.sharpness.expect("completed run has a sharpness");
        let bound = large.sharpness_error_bound.unwrap_or(0.0);
        assert!(
            sharp_large < sharp_small,
            "lr {large_lr} sharpness {sharp_large} not below lr 0.05 sharpness {sharp_small} \
             (seed {seed})"
        );
        assert!(
            sharp_large <= 2.0 / large_lr * 1.01 + bound,
            "lr {large_lr} ends at sharpness {sharp_large} > 2/lr = {} (seed {seed})",
            2.0 / large_lr
        );
        assert!(
            sharp_small > 2.0 / large_lr,
            "the small-step minimum (sharpness {sharp_small}) should be unstable at lr \
             {large_lr} (seed {seed})"
        );
        assert!(
            large.balance < small.balance,
            "balance {} at lr {large_lr} vs {} at lr 0.05 (seed {seed})",
            large.balance,
            small.balance
        );
    }

    #[test]
    fn training_is_deterministic() {
        let seed = 37;
        let spec = SensingSpec::well_posed(5, 4, 1, 0.05);
        let problem = SensingProblem::generate(&spec, seed).expect("valid spec");
        assert_eq!(
            problem,
            SensingProblem::generate(&spec, seed).expect("valid")
        );
        let run = SensingRun::new(3, 0.2, 300, 0.1);
        let a = train_sensing(&problem, &run, seed).expect("valid run");
        let b = train_sensing(&problem, &run, seed).expect("valid run");
        assert_eq!(a, b, "seed {seed}");
        let c = train_sensing(&problem, &run, seed + 1).expect("valid run");
        assert_ne!(a.params, c.params, "another seed should give another init");
    }

    #[test]
    fn a_huge_step_diverges_as_a_result() {
        let seed = 38;
        let problem = small_problem(seed);
        let run = SensingRun::new(2, 50.0, 200, 1.0);
        let outcome = train_sensing(&problem, &run, seed).expect("valid run");
        assert!(
            matches!(outcome.status, RunStatus::Diverged { .. }),
            "lr 50 should diverge (seed {seed}), got {:?}",
            outcome.status
        );
        assert_eq!(outcome.sharpness, None);
    }

    #[test]
    fn bad_settings_are_errors() {
        let problem = small_problem(39);
        for (spec, name) in [
            (SensingSpec::well_posed(0, 3, 1, 0.0), "d1, d2"),
            (SensingSpec::well_posed(3, 3, 4, 0.0), "rank"),
            (SensingSpec::well_posed(3, 3, 1, -1.0), "noise_std"),
            (
                SensingSpec {
                    measurements: 0,
                    ..SensingSpec::well_posed(3, 3, 1, 0.0)
                },
                "measurements",
            ),
        ] {
            assert!(
                matches!(
                    SensingProblem::generate(&spec, 0),
                    Err(SensingError::InvalidSetting { name: n, .. }) if n == name
                ),
                "{spec:?} should be rejected for {name}"
            );
        }
        for (run, name) in [
            (SensingRun::new(0, 0.1, 10, 0.1), "k"),
            (SensingRun::new(2, 0.0, 10, 0.1), "lr"),
            (SensingRun::new(2, f64::NAN, 10, 0.1), "lr"),
            (SensingRun::new(2, 0.1, 10, -1.0), "init_scale"),
        ] {
            assert!(
                matches!(
                    train_sensing(&problem, &run, 0),
                    Err(SensingError::InvalidSetting { name: n, .. }) if n == name
                ),
                "{run:?} should be rejected for {name}"
            );
        }
        let mut grad = vec![0.0; 3];
        assert_eq!(
            problem.gradient(&[0.0; 14], 2, &mut grad),
            Err(SensingError::Length {
                what: "gradient output",
                found: 3,
                expected: 14
            })
        );
    }
}
