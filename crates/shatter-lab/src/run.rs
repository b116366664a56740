//! One run from a checked config to its results: build or read the data, initialise or load the
//! network, train it in the requested precision, measure the final network, and write the run
//! directory (`run.json`, `trajectory.csv`, `neurons.csv`, `model.npz`, `data.npz`, optionally
//! `spectrum.csv` and `curvature.csv`). Sweeps call [`execute`] too and store the same [`RunOutput`] in a database.
//!
//! [`execute_batch`] does the same for many runs at once on a batched trainer (a GPU, or
//! `CpuBatch` as its reference): each run is prepared (data, initial network) and measured
//! exactly as [`execute`] does it; only the training in between is handed to the device, in one
//! `train_batch` call per precision.
//!
//! A run with `model = "krr"` fits kernel ridge regression instead (ridge by cross-validation,
//! `shatter_core::baseline`): its output has the errors, `krr_lambda` and `krr_cv_mse`, no
//! trajectory rows, no neurons and no model (`model` has width 0, and neither the run
//! directory nor the store writes a model file for it).

use crate::device::DeviceTrainer;
use crate::io::{
    load_dataset, load_model_npz, save_data_npz, save_model_npz, write_file_atomically, IoError,
    LabelColumn, ModelArrays,
};
use crate::spec::{DataSource, Init, ModelKind, RunConfig};
use rayon::prelude::*;
use serde::Serialize;
use shatter_core::baseline::{default_lambdas, fit_krr_cv, BaselineError};
use shatter_core::batch::{BatchError, BatchObserver, BatchRun, BatchTrainer};
use shatter_core::data::generate::generate;
use shatter_core::data::InputDist;
use shatter_core::grad::{forward, mean_squared_error, Workspace};
use shatter_core::hessian::hvp::HessianOperator;
use shatter_core::hessian::lanczos::LanczosWorkspace;
use shatter_core::hessian::outliers::smallest_eigenvalue;
use shatter_core::hessian::trace::{spectral_density, SlqOptions};
use shatter_core::measure::shattering::{neuron_stats, shattering_summary, NeuronStats};
use shatter_core::measure::variation::{bound_holds_certified, variation_summary};
use shatter_core::measure::{
    interior_of, points_within, univariate_summary, DEFAULT_KNOT_TOL, INTERIOR_MARGIN,
};
use shatter_core::train::{
    train_with_curvature, Control, CurvatureRecord, Record, RunStatus, TrainOutcome,
};
use shatter_core::{Dataset, Float, Network, Precision};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why a run could not be carried out (bad files, shapes that do not fit). A diverged run is not
/// an error: it is a [`RunOutput`] with status `diverged`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Generating the data failed.
    #[error("generating data: {0}")]
    Data(#[from] shatter_core::data::generate::DataError),
    /// The initial model does not fit the spec.
    #[error("{path}: the model has d = {found_d} and width = {found_k}, but the spec says d = {d} and width = {k}")]
    ModelShape {
        /// The model file.
        path: PathBuf,
        /// Its input dimension.
        found_d: usize,
        /// Its width.
        found_k: usize,
        /// The spec's input dimension.
        d: usize,
        /// The spec's width.
        k: usize,
    },
    /// The data file does not fit the spec.
    #[error("{path}: {message}")]
    DataShape {
        /// The data file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An input file changed between the check (which hashed it into the run id) and the run.
    #[error("{path}: the file changed after the run was checked (SHA-256 {expected}, now {found}); start the run again")]
    Changed {
        /// The file.
        path: PathBuf,
        /// The hash the check recorded.
        expected: String,
        /// The hash now.
        found: String,
    },
    /// Fitting kernel ridge regression (`model = "krr"`) failed.
    #[error("kernel ridge regression: {0}")]
    Krr(#[from] BaselineError),
    /// Writing an output file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The device cannot train this run (see [`DeviceTrainer::unsupported`]); the reason
    /// names the setting, for example `batch_size (mini-batch SGD) runs on the CPU only`.
    #[error("{device} cannot train this run: {reason}")]
    Unsupported {
        /// The device.
        device: String,
        /// Why, naming the setting.
        reason: String,
    },
    /// The device failed while training the batch this run was in (a driver error, too
    /// little memory); not the run's fault, and it has no result.
    #[error("{device} failed: {source}")]
    Device {
        /// The device.
        device: String,
        /// What the device reported.
        source: BatchError,
    },
}

/// The numbers a run reports (`run.json`'s `summary`). Values of the final parameters, the ones
/// saved in `model.npz`. `None` is written as `null` (for example `test_mse` without a test set).
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Summary {
    /// Training loss `L` (in the run's loss convention).
    pub final_train_loss: Option<f64>,
    /// Mean squared training residual `1/n sum (f(x_i) - y_i)^2`.
    pub train_mse: Option<f64>,
    /// Mean squared error on the test set (against the noiseless target for generated data).
    pub test_mse: Option<f64>,
    /// One-dimensional generated runs on `interval(lo, hi)` or `grid(lo, hi)` inputs: the
    /// test MSE over the test points inside the interior `[lo + m (hi - lo)/2, hi - m (hi -
    /// lo)/2]`, `m = INTERIOR_MARGIN = 0.1` (`[-0.9, 0.9]` on `[-1, 1]`), where the 2024 paper
    /// bounds the MSE by `n^(-4/5)`. `None` for other inputs, without a test set, or when no
    /// test point is inside. Kept in `summary_json` (not a store column).
    #[serde(default)]
    pub interior_test_mse: Option<f64>,
    /// Estimated population risk `test_mse + sigma^2` (generated regression data only).
    pub population_risk: Option<f64>,
    /// Generalisation gap `population_risk - train_mse`.
    pub generalization_gap: Option<f64>,
    /// Top Hessian eigenvalue of the training loss.
    pub sharpness: Option<f64>,
    /// Certified error bound of `sharpness`.
    pub sharpness_err: Option<f64>,
    /// Smallest Hessian eigenvalue, from its own Lanczos run on `-H` from a cold start (an
    /// upper bound on the true one: a Ritz value).
    pub min_eigenvalue: Option<f64>,
    /// Certified error bound of `min_eigenvalue`: an eigenvalue lies within it.
    pub min_eigenvalue_err: Option<f64>,
    /// Hutch++ estimate of the Hessian trace at the end (`trace_products > 0`).
    pub trace: Option<f64>,
    /// Standard error of `trace`.
    pub trace_err: Option<f64>,
    /// Hessian eigenvalues above `outlier_threshold / eta` at the end (`outlier_threshold > 0`).
    pub outlier_count: Option<usize>,
    /// Whether `outlier_count` is certified (none missed, at most 64).
    pub outliers_complete: Option<bool>,
    /// Median of the outlier count over the records of the second half of training (the edge
    /// of stability oscillates, so one record says little).
    pub outlier_count_median: Option<f64>,
    /// `2 / eta`, the stability threshold.
    pub two_over_eta: f64,
    /// Epochs run.
    pub epochs_run: usize,
    /// `completed`, `diverged` or `interrupted`.
    pub status: String,
    /// Epoch at which the run diverged.
    pub diverged_epoch: Option<usize>,
    /// The rule that declared the run diverged (`shatter_core::train::Divergence::rule`):
    /// `non-finite loss` or `loss above 10x its initial value`. The store keeps it in
    /// `summary_json`.
    pub diverged_rule: Option<String>,
    /// Hessian-vector products spent on sharpness.
    pub hvp_count: usize,
    /// Fraction of all neurons active on at most 10% of the training inputs, dead and
    /// negligible ones included (the statistic before issue 12, kept for old stores); the
    /// papers' shattering fraction is `frac_shattered`.
    pub frac_neurons_rate_le_10pct: Option<f64>,
    /// Fraction of neurons active on no training input.
    pub frac_dead: Option<f64>,
    /// Median activation rate over neurons.
    pub median_activation_rate: Option<f64>,
    /// Fraction of neurons that fire but with amplitude `|v_k| ||w_k||` below `1e-3` of the
    /// largest firing amplitude (`shatter_core::measure::NeuronClass::Negligible`).
    pub frac_negligible: Option<f64>,
    /// The papers' shattering fraction: among the active neurons (firing, not negligible), the
    /// fraction firing on at most 10% of the training inputs. `None` in stores written before
    /// it existed.
    pub frac_shattered: Option<f64>,
    /// Number of active neurons firing on at most 10% of the training inputs (the numerator
    /// of `frac_shattered`).
    pub count_shattered: Option<usize>,
    /// Share of the path norm `sum |v_k| ||w_k||` carried by dead neurons.
    pub path_share_dead: Option<f64>,
    /// Share of the path norm carried by negligible neurons.
    pub path_share_negligible: Option<f64>,
    /// Share of the path norm carried by the neurons counted in `count_shattered`.
    pub path_share_shattered: Option<f64>,
    /// Weighted variation norm `|f|_Vg` (parameter form).
    pub vg_norm: Option<f64>,
    /// Weighted variation norm in reduced form (neurons with equal `(u, t)` merged).
    pub vg_reduced: Option<f64>,
    /// Path norm `sum |v_k| ||w_k||`.
    pub path_norm: Option<f64>,
    /// Right-hand side of the flatness bound `lambda_max/2 - 1/2 + (R+1) sqrt(2L)`, with `L` the
    /// papers' `1/(2n)` square loss.
    pub vg_bound: Option<f64>,
    /// Whether `vg_norm <= vg_bound`, allowing the certified sharpness error.
    pub bound_holds: Option<bool>,
    /// One-dimensional runs: linear pieces of `f` inside the data range, counting visible bends
    /// (kinks within `1e-3` of the data range merged, negligible slope changes left out; see
    /// `shatter_core::measure::UnivariateSummary::pieces_inside`).
    pub pieces_inside: Option<usize>,
    /// One-dimensional runs: `integral |f''| g dx` over the knots.
    pub weighted_tv: Option<f64>,
    /// One-dimensional runs: median distance from a knot inside the data range to the nearest
    /// training input.
    pub median_knot_distance: Option<f64>,
    /// One-dimensional runs: among the neurons that fire on the training inputs, the fraction
    /// of output weights below `1e-3 max |v|` (dead neurons' untouched `v` left out).
    pub frac_small_output_weights: Option<f64>,
    /// Kernel ridge regression (`model = "krr"`): the per-sample ridge `lambda` that
    /// cross-validation chose.
    pub krr_lambda: Option<f64>,
    /// Kernel ridge regression: the pooled cross-validation MSE at `krr_lambda`.
    pub krr_cv_mse: Option<f64>,
    /// Wall time of the run in seconds (the one field that differs between identical runs).
    pub wall_seconds: f64,
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// How the run ended.
    pub status: RunStatus,
    /// The summary numbers.
    pub summary: Summary,
    /// Recorded rows.
    pub trajectory: Vec<Record>,
    /// Final weights.
    pub model: ModelArrays,
    /// Per-neuron statistics of the final network.
    pub neurons: NeuronStats,
    /// Training set actually used.
    pub data: Dataset<f64>,
    /// Top eigenvalues and an SLQ density (`(eigenvalue, density)`), when requested.
    pub spectrum: Option<SpectrumTable>,
    /// Curvature at each sharpness record (`outlier_threshold`, `trace_products`); empty when
    /// not measured.
    pub curvature: Vec<CurvatureRecord>,
    /// Where it trained, as recorded with results: `cpu` for [`execute`], the trainer's
    /// [`DeviceTrainer::device`] for [`execute_batch`].
    pub device: String,
    /// Seconds spent training (the gradient steps and the measurements along the way, not the
    /// data, initialisation or final measurements): for [`execute_batch`], the whole batch's
    /// training, shared by its runs.
    pub train_seconds: f64,
}

/// Hessian spectrum at the final parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct SpectrumTable {
    /// Top eigenvalues, descending, with their certified error bounds.
    pub top: Vec<(f64, f64)>,
    /// Grid points and density values of the SLQ estimate.
    pub density: Vec<(f64, f64)>,
}

/// Options of a run that do not change its numbers.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Also estimate the spectral density at the end.
    pub spectrum: bool,
}

fn label_column(s: &Option<String>) -> LabelColumn {
    s.as_deref()
        .map(|c| c.parse().unwrap_or_default())
        .unwrap_or_default()
}

/// The training set, the test set (if any) and the label noise `sigma` of generated data.
pub type BuiltData = (Dataset<f64>, Option<Dataset<f64>>, Option<f64>);

/// Builds or reads the data of a run (see [`BuiltData`]).
pub fn build_data(cfg: &RunConfig) -> Result<BuiltData, RunError> {
    match &cfg.data {
        DataSource::Generated(spec) => {
            let problem = generate(spec, cfg.seed)?;
            let test = match &cfg.test_data {
                Some(p) => {
                    unchanged_since_check(p, cfg.spec.test_data_sha256.as_deref())?;
                    load_dataset(p, &LabelColumn::Last, Some(spec.d))?
                }
                None => problem.test_set(cfg.n_test),
            };
            let sigma = match spec.labels {
                shatter_core::data::generate::Labels::Regression { sigma } => Some(sigma),
                shatter_core::data::generate::Labels::Bernoulli => None,
            };
            Ok((problem.train, Some(test), sigma))
        }
        DataSource::File {
            path,
            label_column: col,
            sha256,
        } => {
            unchanged_since_check(path, Some(sha256.as_str()))?;
            let train = load_dataset(path, &label_column(col), Some(cfg.shape.d))?;
            if let Some(b) = cfg.train.batch_size {
                if b > train.n {
                    return Err(RunError::DataShape {
                        path: path.clone(),
                        message: format!(
                            "batch_size = {b} exceeds the {} samples in the file",
                            train.n
                        ),
                    });
                }
            }
            let test = match &cfg.test_data {
                Some(p) => {
                    unchanged_since_check(p, cfg.spec.test_data_sha256.as_deref())?;
                    Some(load_dataset(p, &label_column(col), Some(cfg.shape.d))?)
                }
                None => None,
            };
            Ok((train, test, None))
        }
    }
}

/// Refuses an input file whose contents changed after the check hashed them (the run id
/// names those contents). `expected` is `None` or empty for a config built without a check.
fn unchanged_since_check(path: &Path, expected: Option<&str>) -> Result<(), RunError> {
    let Some(expected) = expected.filter(|h| !h.is_empty()) else {
        return Ok(());
    };
    let found = crate::spec::sha256_file(path)?;
    if found == expected {
        Ok(())
    } else {
        Err(RunError::Changed {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            found,
        })
    }
}

fn initial_network<F: Float>(cfg: &RunConfig) -> Result<Network<F>, RunError> {
    match &cfg.init {
        Init::Default { scale } => Ok(Network::init(cfg.shape, cfg.seed, *scale)),
        Init::From(path) => {
            unchanged_since_check(path, cfg.spec.init_from_sha256.as_deref())?;
            let arrays = load_model_npz(path)?;
            if arrays.d != cfg.shape.d || arrays.k != cfg.shape.width {
                return Err(RunError::ModelShape {
                    path: path.clone(),
                    found_d: arrays.d,
                    found_k: arrays.k,
                    d: cfg.shape.d,
                    k: cfg.shape.width,
                });
            }
            Ok(arrays
                .to_network(cfg.shape.bias, cfg.shape.activation)
                .expect("lengths checked by the loader"))
        }
    }
}

/// Runs `cfg` on the current rayon pool. `observe` sees every trajectory row and may stop the
/// run (it then ends as interrupted, with everything measured at the epoch it stopped).
pub fn execute(
    cfg: &RunConfig,
    opts: &RunOptions,
    observe: &mut dyn FnMut(&Record) -> Control,
) -> Result<RunOutput, RunError> {
    let (train_data, test_data, sigma) = build_data(cfg)?;
    if let ModelKind::Krr { kernel, folds } = cfg.model {
        return execute_krr(cfg, kernel, folds, train_data, test_data, sigma);
    }
    match cfg.precision {
        Precision::F32 => execute_in::<f32>(cfg, opts, train_data, test_data, sigma, observe),
        Precision::F64 => execute_in::<f64>(cfg, opts, train_data, test_data, sigma, observe),
    }
}

/// Fits kernel ridge regression on the training set, the ridge chosen by `folds`-fold
/// cross-validation over [`default_lambdas`] (fold assignment from the run's seed), and
/// measures the train and test errors. Always completed; `observe` is not called (there are no
/// epochs). Cost `O(n^3)`: seconds at `n = 1024`, minutes at 4096.
fn execute_krr(
    cfg: &RunConfig,
    kernel: shatter_core::baseline::Kernel,
    folds: usize,
    data: Dataset<f64>,
    test: Option<Dataset<f64>>,
    sigma: Option<f64>,
) -> Result<RunOutput, RunError> {
    let start = Instant::now();
    let (model, report) = fit_krr_cv(&data, kernel, &default_lambdas(), folds, cfg.seed)?;
    let train_mse = model.mse(&data)?;
    let test_mse = test.as_ref().map(|t| model.mse(t)).transpose()?;
    let interior_test_mse = match (test.as_ref(), interior_bounds(cfg)) {
        (Some(t), Some((a, b))) => match points_within(t, a, b) {
            Ok(inside) if inside.n > 0 => Some(model.mse(&inside)?),
            _ => None,
        },
        _ => None,
    };
    let mut summary = Summary {
        train_mse: Some(train_mse),
        test_mse,
        interior_test_mse,
        two_over_eta: 2.0 / cfg.train.lr,
        status: RunStatus::Completed.name().to_string(),
        krr_lambda: Some(report.chosen_lambda),
        krr_cv_mse: report.validation_mse.get(report.chosen_index).copied(),
        ..Summary::default()
    };
    if let (Some(t), Some(s)) = (test_mse, sigma) {
        summary.population_risk = Some(t + s * s);
        summary.generalization_gap = Some(t + s * s - train_mse);
    }
    summary.wall_seconds = start.elapsed().as_secs_f64();
    Ok(RunOutput {
        status: RunStatus::Completed,
        summary,
        trajectory: Vec::new(),
        model: ModelArrays {
            k: 0,
            d: data.d,
            w: Vec::new(),
            b: Vec::new(),
            v: Vec::new(),
            beta: 0.0,
        },
        neurons: NeuronStats::default(),
        data,
        spectrum: None,
        curvature: Vec::new(),
        train_seconds: 0.0,
        device: "cpu".to_string(),
    })
}

fn execute_in<F: Float>(
    cfg: &RunConfig,
    opts: &RunOptions,
    data64: Dataset<f64>,
    test64: Option<Dataset<f64>>,
    sigma: Option<f64>,
    observe: &mut dyn FnMut(&Record) -> Control,
) -> Result<RunOutput, RunError> {
    let start = Instant::now();
    let mut run = prepare::<F>(cfg, data64, test64, sigma)?;
    let training = Instant::now();
    let out = train_with_curvature(
        &mut run.net,
        &run.data,
        run.test.as_ref(),
        &cfg.train,
        &cfg.curvature,
        observe,
    );
    let train_seconds = training.elapsed().as_secs_f64();
    let mut output = finish(cfg, opts, run, out, "cpu".to_string());
    output.train_seconds = train_seconds;
    output.summary.wall_seconds = start.elapsed().as_secs_f64();
    Ok(output)
}

/// A network run ready to train: its initial network and its data in the run's precision,
/// with the `f64` training set and label noise that the final measurements use.
struct Prepared<F> {
    net: Network<F>,
    data: Dataset<F>,
    test: Option<Dataset<F>>,
    data64: Dataset<f64>,
    sigma: Option<f64>,
}

/// The initial network of `cfg` and its data cast to `F`.
fn prepare<F: Float>(
    cfg: &RunConfig,
    data64: Dataset<f64>,
    test64: Option<Dataset<f64>>,
    sigma: Option<f64>,
) -> Result<Prepared<F>, RunError> {
    let net: Network<F> = initial_network(cfg)?;
    let data: Dataset<F> = data64.cast();
    let test: Option<Dataset<F>> = test64.as_ref().map(|t| t.cast());
    Ok(Prepared {
        net,
        data,
        test,
        data64,
        sigma,
    })
}

/// The interior `[a, b]` of a generated one-dimensional run's input interval (see
/// `Summary::interior_test_mse`); `None` for other inputs and for data files.
fn interior_bounds(cfg: &RunConfig) -> Option<(f64, f64)> {
    let DataSource::Generated(spec) = &cfg.data else {
        return None;
    };
    match spec.input {
        InputDist::Interval { lo, hi } | InputDist::Grid { lo, hi } if spec.d == 1 => {
            interior_of(lo, hi, INTERIOR_MARGIN).ok()
        }
        _ => None,
    }
}

/// Measures a trained run (`run.net` holds the final parameters, `out` what training
/// returned) into its [`RunOutput`]: the summary in `f64`, neuron statistics, the spectrum
/// when asked for. `wall_seconds` is left at 0 for the caller to set.
fn finish<F: Float>(
    cfg: &RunConfig,
    opts: &RunOptions,
    run: Prepared<F>,
    out: TrainOutcome,
    device: String,
) -> RunOutput {
    let Prepared {
        net,
        data,
        test,
        data64,
        sigma,
    } = run;
    let last = out.trajectory.last();
    let diverged = matches!(out.status, RunStatus::Diverged { .. });
    let mut summary = Summary {
        two_over_eta: 2.0 / cfg.train.lr,
        epochs_run: out.epochs_run,
        status: out.status.name().to_string(),
        diverged_epoch: match out.status {
            RunStatus::Diverged { epoch, .. } => Some(epoch),
            _ => None,
        },
        diverged_rule: out.status.divergence().map(|d| d.rule().to_string()),
        hvp_count: out.hvp_count,
        ..Summary::default()
    };
    let net64: Network<f64> = net.cast();
    let neurons = neuron_stats(&net64, &data64).unwrap_or_default();
    let mut spectrum = None;
    let mut ws = Workspace::new(net.shape, data.n);
    // The errors are recorded whenever they are finite: a run that blew up but stayed finite
    // (the blow-up rule) keeps the losses it ended with, which say how far it went.
    let finite = |x: f64| x.is_finite().then_some(x);
    summary.final_train_loss = finite(out.final_loss);
    summary.test_mse = match (last.and_then(|r| r.test_mse), &test) {
        // A diverged run stops between test evaluations: measure where it stopped.
        (None, Some(t)) if diverged => finite(mean_squared_error(
            &net,
            t,
            &mut Workspace::new(net.shape, t.n),
        )),
        (measured, _) => measured.and_then(finite),
    };
    summary.train_mse = finite(mean_squared_error(&net, &data, &mut ws));
    if let (Some(t), Some((a, b))) = (&test, interior_bounds(cfg)) {
        if let Ok(inside) = points_within(t, a, b) {
            if inside.n > 0 {
                summary.interior_test_mse = finite(mean_squared_error(
                    &net,
                    &inside,
                    &mut Workspace::new(net.shape, inside.n),
                ));
            }
        }
    }
    if !diverged {
        if let (Some(t), Some(s)) = (summary.test_mse, sigma) {
            summary.population_risk = Some(t + s * s);
            summary.generalization_gap = Some(t + s * s - summary.train_mse.unwrap_or(0.0));
        }
        if let Some(est) = &out.final_sharpness {
            summary.sharpness = Some(est.sharpness);
            summary.sharpness_err = Some(est.error_bound);
        }
        if out.final_sharpness.is_some() {
            // lambda_min from its own cold-started Lanczos on -H, with its certified bound.
            forward(&net, &data, cfg.train.loss, &mut ws);
            let mut tmp = (
                vec![F::zero(); net.shape.len()],
                vec![F::zero(); net.shape.len()],
            );
            let mut op = HessianOperator::new(&net, &data, &mut ws, &mut tmp.0, &mut tmp.1);
            let dim = net.shape.trainable();
            let mut lanczos = LanczosWorkspace::new(dim, cfg.train.lanczos.max_iter.min(dim));
            if let Ok(Some((r, products))) =
                smallest_eigenvalue(&mut op, &cfg.train.lanczos, &mut lanczos)
            {
                summary.min_eigenvalue = Some(r.value);
                summary.min_eigenvalue_err = Some(r.error_bound);
                summary.hvp_count += products;
            }
        }
        if let Some(c) = out
            .curvature
            .last()
            .filter(|c| Some(c.epoch) == last.map(|r| r.epoch))
        {
            summary.trace = c.trace.map(|t| t.mean);
            summary.trace_err = c.trace.map(|t| t.standard_error);
            summary.outlier_count = c.outliers.as_ref().map(|o| o.count());
            summary.outliers_complete = c.outliers.as_ref().map(|o| o.complete);
        }
        let late: Vec<f64> = out
            .curvature
            .iter()
            .filter(|c| 2 * c.epoch >= out.epochs_run)
            .filter_map(|c| c.outliers.as_ref().map(|o| o.count() as f64))
            .collect();
        if !late.is_empty() {
            let mut sorted = late.clone();
            sorted.sort_by(f64::total_cmp);
            let m = sorted.len();
            summary.outlier_count_median = Some(if m % 2 == 1 {
                sorted[m / 2]
            } else {
                0.5 * (sorted[m / 2 - 1] + sorted[m / 2])
            });
        }
        if !neurons.is_empty() {
            let sh = shattering_summary(&neurons);
            summary.frac_neurons_rate_le_10pct = Some(sh.frac_neurons_rate_le_10pct);
            summary.frac_dead = Some(sh.frac_dead);
            summary.median_activation_rate = Some(sh.median_activation_rate);
            summary.frac_negligible = Some(sh.frac_negligible);
            summary.frac_shattered = Some(sh.frac_shattered);
            summary.count_shattered = Some(sh.count_shattered);
            summary.path_share_dead = Some(sh.path_share_dead);
            summary.path_share_negligible = Some(sh.path_share_negligible);
            summary.path_share_shattered = Some(sh.path_share_shattered);
        }
        if let (Some(est), Some(factor)) = (&out.final_sharpness, cfg.train.loss.to_half_square()) {
            // The bound is stated for L = 1/(2n) sum r^2; for mse, H and L are twice those.
            let (lambda, loss) = (est.sharpness * factor, out.final_loss * factor);
            if let Ok(v) = variation_summary(&net64, &data64, lambda, loss) {
                summary.vg_norm = Some(v.vg_norm);
                summary.vg_reduced = Some(v.vg_reduced);
                summary.path_norm = Some(v.path_norm);
                summary.vg_bound = Some(v.vg_bound);
                summary.bound_holds = Some(bound_holds_certified(
                    v.vg_norm,
                    v.vg_bound,
                    est.error_bound * factor,
                ));
            }
        } else if let Ok(v) = variation_summary(&net64, &data64, 0.0, 0.0) {
            summary.vg_norm = Some(v.vg_norm);
            summary.vg_reduced = Some(v.vg_reduced);
            summary.path_norm = Some(v.path_norm);
        }
        if net.shape.d == 1 {
            if let Ok(u) = univariate_summary(&net64, &data64, DEFAULT_KNOT_TOL) {
                summary.pieces_inside = Some(u.pieces_inside);
                summary.weighted_tv = Some(u.weighted_tv);
                summary.median_knot_distance = u.median_knot_distance;
                summary.frac_small_output_weights = Some(u.frac_small_output_weights);
            }
        }
        if opts.spectrum {
            forward(&net, &data, cfg.train.loss, &mut ws);
            let mut tmp = (
                vec![F::zero(); net.shape.len()],
                vec![F::zero(); net.shape.len()],
            );
            let mut op = HessianOperator::new(&net, &data, &mut ws, &mut tmp.0, &mut tmp.1);
            let top = out
                .final_sharpness
                .as_ref()
                .map(|e| {
                    e.spectrum
                        .top
                        .iter()
                        .map(|r| (r.value, r.error_bound))
                        .collect()
                })
                .unwrap_or_default();
            let density = spectral_density(
                &mut op,
                &SlqOptions {
                    num_probes: 8,
                    steps: 40,
                    seed: cfg.seed,
                },
            )
            .ok()
            .and_then(|d| d.on_grid(200, None).ok())
            .map(|g| g.points.into_iter().zip(g.density).collect())
            .unwrap_or_default();
            spectrum = Some(SpectrumTable { top, density });
        }
    }
    RunOutput {
        status: out.status,
        summary,
        curvature: out.curvature,
        trajectory: out.trajectory,
        model: ModelArrays::from_network(&net),
        neurons,
        data: data64,
        spectrum,
        device,
        train_seconds: 0.0,
    }
}

/// Why a run measuring curvature beyond sharpness (`outlier_threshold`, `trace_products`) does
/// not go to a batched device: those measurements run on the CPU along training.
pub const CURVATURE_ON_CPU: &str =
    "outlier_threshold and trace_products are measured on the CPU along training";

/// Runs `cfgs` as one batch on `trainer`: prepares every run as [`execute`] does (data,
/// initial network; in parallel on the current rayon pool), trains them with one
/// [`BatchTrainer::train_batch`] call per precision present, and measures each trained
/// network as [`execute`] does (in parallel). Returns one result per config, in order;
/// `observe` sees run `i`'s trajectory rows as `(i, row)` and may stop that run.
///
/// Every run must be one the trainer supports: a kernel ridge regression run (`model =
/// "krr"`) or one [`DeviceTrainer::unsupported`] rejects gets [`RunError::Unsupported`] and
/// is not trained. A run whose data cannot be built gets its error; the others go on. When
/// the device fails, every run of that precision gets [`RunError::Device`].
///
/// Runs trained together have no time of their own: `wall_seconds` of each run is its share
/// of the whole batch's wall time (preparing, training and measuring all of its runs, divided
/// by their number), so that times summed over runs add up to the time spent. Memory: every
/// run's data and network are held at once.
pub fn execute_batch(
    cfgs: &[RunConfig],
    opts: &RunOptions,
    trainer: &mut dyn DeviceTrainer,
    observe: &BatchObserver<'_>,
) -> Vec<Result<RunOutput, RunError>> {
    let start = Instant::now();
    let device = trainer.device();
    let mut results: Vec<Option<Result<RunOutput, RunError>>> =
        (0..cfgs.len()).map(|_| None).collect();
    for precision in [Precision::F32, Precision::F64] {
        let members: Vec<usize> = (0..cfgs.len())
            .filter(|&i| cfgs[i].precision == precision)
            .collect();
        if members.is_empty() {
            continue;
        }
        let group = match precision {
            Precision::F32 => {
                execute_group::<f32>(cfgs, &members, opts, trainer.f32(), &device, observe)
            }
            Precision::F64 => {
                execute_group::<f64>(cfgs, &members, opts, trainer.f64(), &device, observe)
            }
        };
        for (&i, r) in members.iter().zip(group) {
            results[i] = Some(r);
        }
    }
    let wall = start.elapsed().as_secs_f64() / cfgs.len().max(1) as f64;
    results
        .into_iter()
        .map(|r| {
            let mut r = r.expect("every run belongs to one precision");
            if let Ok(out) = &mut r {
                out.summary.wall_seconds = wall;
            }
            r
        })
        .collect()
}

/// [`execute_batch`] for the runs `members` of `cfgs`, all in precision `F`.
fn execute_group<F: Float>(
    cfgs: &[RunConfig],
    members: &[usize],
    opts: &RunOptions,
    trainer: &mut dyn BatchTrainer<F>,
    device: &str,
    observe: &BatchObserver<'_>,
) -> Vec<Result<RunOutput, RunError>> {
    let unsupported = |reason: String| RunError::Unsupported {
        device: device.to_string(),
        reason,
    };
    let mut prepared: Vec<Result<Prepared<F>, RunError>> = members
        .par_iter()
        .map(|&i| {
            let cfg = &cfgs[i];
            if let ModelKind::Krr { .. } = cfg.model {
                return Err(unsupported(
                    "model = \"krr\" (kernel ridge regression) runs on the CPU only".into(),
                ));
            }
            if cfg.curvature.enabled() {
                return Err(unsupported(CURVATURE_ON_CPU.into()));
            }
            let (data64, test64, sigma) = build_data(cfg)?;
            prepare::<F>(cfg, data64, test64, sigma)
        })
        .collect();
    for (slot, &i) in prepared.iter_mut().zip(members) {
        let why = match slot {
            Ok(run) => trainer.unsupported(&cfgs[i].shape, run.data.n, &cfgs[i].train),
            Err(_) => None,
        };
        if let Some(reason) = why {
            *slot = Err(unsupported(reason));
        }
    }
    let mut train_seconds = 0.0;
    // Positions (in `members`) of the runs that go to the device, in batch order.
    let ready: Vec<usize> = (0..members.len())
        .filter(|&j| prepared[j].is_ok())
        .collect();
    let trained = if ready.is_empty() {
        Ok(Vec::new())
    } else {
        let mut runs: Vec<BatchRun<'_, F>> = prepared
            .iter_mut()
            .zip(members)
            .filter_map(|(slot, &i)| slot.as_mut().ok().map(|run| (run, i)))
            .map(|(run, i)| BatchRun {
                net: &mut run.net,
                data: &run.data,
                test: run.test.as_ref(),
                cfg: &cfgs[i].train,
            })
            .collect();
        let remap = |b: usize, r: &Record| observe(members[ready[b]], r);
        let training = Instant::now();
        let result = trainer.train_batch(&mut runs, &remap);
        train_seconds = training.elapsed().as_secs_f64();
        match result {
            Ok(outcomes) if outcomes.len() == runs.len() => Ok(outcomes),
            Ok(outcomes) => Err(BatchError(format!(
                "the trainer returned {} outcomes for a batch of {} runs",
                outcomes.len(),
                runs.len()
            ))),
            Err(e) => Err(e),
        }
    };
    let outcomes: Vec<Option<TrainOutcome>> = match trained {
        Ok(outcomes) => {
            let mut slots: Vec<Option<TrainOutcome>> = (0..members.len()).map(|_| None).collect();
            for (&j, out) in ready.iter().zip(outcomes) {
                slots[j] = Some(out);
            }
            slots
        }
        Err(source) => {
            for &j in &ready {
                prepared[j] = Err(RunError::Device {
                    device: device.to_string(),
                    source: source.clone(),
                });
            }
            (0..members.len()).map(|_| None).collect()
        }
    };
    prepared
        .into_par_iter()
        .zip(outcomes)
        .zip(members)
        .map(|((slot, out), &i)| {
            let run = slot?;
            let out = out.expect("every run on the device has an outcome");
            let mut output = finish(&cfgs[i], opts, run, out, device.to_string());
            output.train_seconds = train_seconds;
            Ok(output)
        })
        .collect()
}

/// The `run.json` document: the run's id, seed, status, config and summary, and the device it
/// trained on (not part of the config: the same run may train anywhere).
pub fn run_json(cfg: &RunConfig, out: &RunOutput) -> serde_json::Value {
    serde_json::json!({
        "program": "shatter",
        "version": env!("CARGO_PKG_VERSION"),
        "run_id": cfg.spec.run_id(),
        "seed": cfg.seed,
        "status": out.status.name(),
        "device": out.device,
        "config": cfg.spec,
        "summary": out.summary,
    })
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    Ok(write_file_atomically(path, bytes)?)
}

/// A float as CSV text: shortest round-trip digits, exponent for very small or large values.
pub fn fmt_f64(x: f64) -> String {
    format!("{x:?}")
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(fmt_f64).unwrap_or_default()
}

/// `trajectory.csv`: `epoch,train_loss,test_mse,sharpness,sharpness_err,grad_norm,clipped`.
pub fn trajectory_csv(rows: &[Record]) -> String {
    let mut s =
        String::from("epoch,train_loss,test_mse,sharpness,sharpness_err,grad_norm,clipped\n");
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            r.epoch,
            fmt_f64(r.train_loss),
            fmt_opt(r.test_mse),
            fmt_opt(r.sharpness),
            fmt_opt(r.sharpness_err),
            fmt_f64(r.grad_norm),
            r.clipped
        ));
    }
    s
}

/// `curvature.csv`: one row per sharpness record that measured curvature:
/// `epoch,outlier_threshold,outlier_count,outliers_complete,missed_bound,block_bound,trace,trace_err,outliers`,
/// with the threshold absolute (`outlier_threshold / lr`) and `outliers` the values above it,
/// descending, as `value+-bound` separated by `;`. Empty cells where not measured.
pub fn curvature_csv(rows: &[CurvatureRecord]) -> String {
    let mut s = String::from(
        "epoch,outlier_threshold,outlier_count,outliers_complete,missed_bound,block_bound,trace,trace_err,outliers\n",
    );
    for r in rows {
        let o = r.outliers.as_ref();
        let values: Vec<String> = o
            .map(|o| {
                o.values
                    .iter()
                    .map(|v| format!("{}+-{}", fmt_f64(v.value), fmt_f64(v.error_bound)))
                    .collect()
            })
            .unwrap_or_default();
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            r.epoch,
            fmt_opt(o.map(|o| o.threshold)),
            o.map(|o| o.count().to_string()).unwrap_or_default(),
            o.map(|o| o.complete.to_string()).unwrap_or_default(),
            fmt_opt(o.map(|o| o.missed_bound)),
            fmt_opt(o.map(|o| o.block_bound)),
            fmt_opt(r.trace.map(|t| t.mean)),
            fmt_opt(r.trace.map(|t| t.standard_error)),
            values.join(";")
        ));
    }
    s
}

/// `neurons.csv`: one row per neuron.
pub fn neurons_csv(n: &NeuronStats) -> String {
    let mut s = String::from("neuron,activation_rate,amplitude,param_norm,boundary_offset,dead\n");
    for k in 0..n.activation_rate.len() {
        s.push_str(&format!(
            "{},{},{},{},{},{}\n",
            k,
            fmt_f64(n.activation_rate[k]),
            fmt_f64(n.amplitude[k]),
            fmt_f64(n.param_norm[k]),
            fmt_f64(n.offset[k]),
            n.dead[k]
        ));
    }
    s
}

/// `spectrum.csv`: `kind,index,eigenvalue,value` rows: `top` rows hold eigenvalues and their
/// error bounds, `density` rows grid points and the SLQ density.
pub fn spectrum_csv(t: &SpectrumTable) -> String {
    let mut s = String::from("kind,index,eigenvalue,value\n");
    for (i, (e, b)) in t.top.iter().enumerate() {
        s.push_str(&format!("top,{i},{},{}\n", fmt_f64(*e), fmt_f64(*b)));
    }
    for (i, (x, d)) in t.density.iter().enumerate() {
        s.push_str(&format!("density,{i},{},{}\n", fmt_f64(*x), fmt_f64(*d)));
    }
    s
}

/// Writes the run directory, replacing an earlier run there as a whole (see [`replace_dir`]):
/// a write that fails partway leaves the earlier run as it was, never a mix of two runs. Every
/// file is written atomically. Runs without a network (`model = "krr"`, width 0) get no
/// `model.npz`.
pub fn write_run_dir(dir: &Path, cfg: &RunConfig, out: &RunOutput) -> Result<(), RunError> {
    replace_dir(dir, |staging| write_run_files(staging, cfg, out))
}

/// The files a run directory may hold; [`replace_dir`] replaces only a folder that holds
/// nothing else (so `--out .` or `--out ~/papers` is refused instead of deleted).
pub const RUN_DIR_FILES: &[&str] = &[
    "run.json",
    "model.npz",
    "data.npz",
    "trajectory.csv",
    "neurons.csv",
    "spectrum.csv",
    "curvature.csv",
];

/// Fills a temporary sibling folder of `dir` with `fill`, then swaps it in: an existing `dir`
/// is renamed away, the new folder renamed to `dir`, and the old one removed. When `fill` or the
/// swap fails, the temporary folder is removed and `dir` is left as it was. An existing `dir`
/// must be empty or hold only [`RUN_DIR_FILES`] (and temporary files of an interrupted write);
/// anything else is refused with [`RunError::Write`] before anything is written.
pub fn replace_dir(
    dir: &Path,
    fill: impl FnOnce(&Path) -> Result<(), RunError>,
) -> Result<(), RunError> {
    let fail = |path: &Path, source: std::io::Error| RunError::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = dir
        .file_name()
        .ok_or_else(|| {
            fail(
                dir,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a folder name a run directory can have",
                ),
            )
        })?
        .to_string_lossy()
        .to_string();
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let exists = dir.exists();
    if exists {
        let entries = std::fs::read_dir(dir).map_err(|e| fail(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| fail(dir, e))?;
            let file = entry.file_name().to_string_lossy().to_string();
            let temporary = file.starts_with('.') && file.ends_with(".tmp");
            if !(RUN_DIR_FILES.contains(&file.as_str()) || temporary) {
                return Err(fail(
                    dir,
                    std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        format!(
                            "exists and holds `{file}`, which is not a run file; choose another --out or remove it"
                        ),
                    ),
                ));
            }
        }
    }
    std::fs::create_dir_all(&parent).map_err(|e| fail(&parent, e))?;
    let tag = std::process::id();
    let staging = parent.join(format!(".{name}.new-{tag}"));
    let old = parent.join(format!(".{name}.old-{tag}"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging).map_err(|e| fail(&staging, e))?;
    if let Err(e) = fill(&staging) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if exists {
        let _ = std::fs::remove_dir_all(&old);
        if let Err(e) = std::fs::rename(dir, &old) {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(fail(dir, e));
        }
    }
    if let Err(e) = std::fs::rename(&staging, dir) {
        if exists {
            let _ = std::fs::rename(&old, dir);
        }
        let _ = std::fs::remove_dir_all(&staging);
        return Err(fail(dir, e));
    }
    if exists {
        // The new run is in place; a leftover hidden folder is all a failure here costs.
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

/// The files of a run directory, written into `dir` (which exists).
fn write_run_files(dir: &Path, cfg: &RunConfig, out: &RunOutput) -> Result<(), RunError> {
    if out.model.k > 0 {
        save_model_npz(&dir.join("model.npz"), &out.model)?;
    }
    save_data_npz(&dir.join("data.npz"), &out.data)?;
    write_atomic(
        &dir.join("trajectory.csv"),
        trajectory_csv(&out.trajectory).as_bytes(),
    )?;
    write_atomic(
        &dir.join("neurons.csv"),
        neurons_csv(&out.neurons).as_bytes(),
    )?;
    if let Some(t) = &out.spectrum {
        write_atomic(&dir.join("spectrum.csv"), spectrum_csv(t).as_bytes())?;
    }
    if !out.curvature.is_empty() {
        write_atomic(
            &dir.join("curvature.csv"),
            curvature_csv(&out.curvature).as_bytes(),
        )?;
    }
    let json = serde_json::to_string_pretty(&run_json(cfg, out)).expect("JSON serialises");
    write_atomic(&dir.join("run.json"), (json + "\n").as_bytes())?;
    Ok(())
}
