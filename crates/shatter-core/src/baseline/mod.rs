//! Non-network baselines that MSE-against-`n` figures put beside the networks (SCIENCE.md
//! section 6: "any kernel ridge regression ... at best `n^(-3/4)`"): kernel ridge regression
//! with the Laplace, Gaussian and two-layer ReLU NTK kernels, the ridge chosen by k-fold
//! cross-validation.
//!
//! `kernel` owns the kernel functions and Gram matrices, `krr` the fits, predictions and the
//! cross-validation. Data generation, sweeps (`model = "krr"`) and storage are left to `data`
//! and the lab crate; nothing here prints or touches files.

pub mod kernel;
pub mod krr;

pub use kernel::{median_pairwise_distance, Kernel, KernelFn, MEDIAN_MAX_POINTS};
pub use krr::{default_folds, default_lambdas, fit_krr, fit_krr_cv, CvReport, KrrModel};

/// What can go wrong when fitting or evaluating a baseline. Each variant says where.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BaselineError {
    /// The training set has no samples.
    #[error("the training set is empty; a baseline needs at least {needed} samples")]
    TooFewSamples {
        /// Samples needed (1 for a fit, 2 for cross-validation).
        needed: usize,
    },
    /// An input or label is NaN or infinite.
    #[error("{what} of sample {sample} is {value}; data must be finite")]
    NonFinite {
        /// `"an input"` or `"the label"`.
        what: &'static str,
        /// Index of the sample.
        sample: usize,
        /// The bad value.
        value: f64,
    },
    /// A vector or row has the wrong length.
    #[error("{what} has length {found} but {expected} was expected")]
    Length {
        /// What was passed (`"input row"`, `"inputs"`).
        what: &'static str,
        /// Its length.
        found: usize,
        /// The length it should have.
        expected: usize,
    },
    /// A ridge parameter is negative, non-finite, or (in a cross-validation grid) zero.
    #[error("ridge lambda = {lambda} is out of range: {reason}")]
    InvalidLambda {
        /// The bad value.
        lambda: f64,
        /// What the range is.
        reason: &'static str,
    },
    /// The cross-validation grid of ridge parameters is empty.
    #[error("the cross-validation grid of ridge parameters is empty")]
    EmptyLambdaGrid,
    /// The number of folds does not fit the training set.
    #[error("{folds} cross-validation folds for {n} samples; need 2 <= folds <= n")]
    InvalidFolds {
        /// Requested folds.
        folds: usize,
        /// Training samples.
        n: usize,
    },
    /// A kernel bandwidth is not positive and finite.
    #[error("kernel bandwidth {bandwidth} must be positive and finite")]
    InvalidBandwidth {
        /// The bad value.
        bandwidth: f64,
    },
    /// The median-distance bandwidth heuristic found no positive distance (all inputs equal).
    #[error(
        "the median pairwise distance of the {n} training inputs is {median}; \
         give the bandwidth explicitly (e.g. `gaussian:0.5`)"
    )]
    DegenerateBandwidth {
        /// Training samples.
        n: usize,
        /// The median found.
        median: f64,
    },
    /// `K + n lambda I` is not numerically positive definite (Cholesky failed).
    #[error(
        "kernel matrix of the {kernel} kernel plus n*lambda*I (n = {n}, lambda = {lambda}) is \
         not numerically positive definite; use a larger lambda"
    )]
    NotPositiveDefinite {
        /// Kernel name as `KernelFn`'s `Display` writes it.
        kernel: String,
        /// Training samples.
        n: usize,
        /// The ridge parameter.
        lambda: f64,
    },
    /// The symmetric eigensolver of a cross-validation fold did not converge.
    #[error("eigendecomposition of the {size} x {size} kernel matrix of fold {fold} failed")]
    Eigen {
        /// Fold index.
        fold: usize,
        /// Size of the fold's training kernel matrix.
        size: usize,
    },
    /// A kernel name that is not one of `laplace`, `gaussian`, `ntk`.
    #[error(
        "unknown kernel {name:?}; expected laplace, gaussian or ntk, optionally with a \
         bandwidth as laplace:0.5"
    )]
    UnknownKernel {
        /// What was given.
        name: String,
    },
}
