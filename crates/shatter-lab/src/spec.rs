//! What the user writes for one run ([`RunSpec`]: TOML keys and command-line flags, one
//! spelling each) and what the engine accepts ([`RunConfig`]: every value checked and resolved).
//! Also the run id: a hash of the resolved spec, so the same settings always name the same run.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shatter_core::baseline::{default_folds, Kernel};
use shatter_core::data::generate::{DataSpec, InputDist, Labels, TargetKind};
use shatter_core::hessian::lanczos::LanczosOptions;
use shatter_core::train::TrainConfig;
use shatter_core::{Activation, Loss, Precision, Shape};
use std::path::{Path, PathBuf};

/// A problem with a spec, naming the key and, when the spec came from a file, the file and line.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The TOML did not parse or named an unknown key (the parser's message has the line).
    #[error("{path}: {message}")]
    Parse {
        /// The spec file.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is outside its range.
    #[error("{place}{key} = {value} is out of range: {expected}")]
    OutOfRange {
        /// `file:line: ` or empty for command-line values.
        place: String,
        /// The key.
        key: &'static str,
        /// The value as written.
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// Settings that cannot go together.
    #[error("{place}{message}")]
    Conflict {
        /// `file:line: ` or empty.
        place: String,
        /// What conflicts and why.
        message: String,
    },
    /// The spec file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The spec file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// `model = "network"`: the two-layer network (the default).
pub const MODEL_NETWORK: &str = "network";
/// `model = "krr"`: kernel ridge regression.
pub const MODEL_KRR: &str = "krr";

/// The settings of one run, as written in a TOML file or given as flags (flags override the
/// file). Every field is optional; [`RunSpec::resolved`] fills in the defaults given here.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
#[command(next_help_heading = "Run settings (also TOML keys, same names with underscores)")]
pub struct RunSpec {
    /// Input dimension d. Default 10; at least 1.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d: Option<usize>,
    /// Number of training samples n. Default 512; at least 1.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// Hidden width K. Default 2048; at least 1.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    /// Step size eta. Default 0.9; positive.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Number of epochs. Default 2000.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Weight decay lambda on every parameter. Default 0; at least 0.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Gradient-norm clipping threshold c (PyTorch's clip_grad_norm_). Default 50; 0 turns it off.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip: Option<f64>,
    /// Heavy-ball momentum as in PyTorch's SGD. Default 0; in [0, 1).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    /// Mini-batch size. Default 0 = full-batch gradient descent.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Hidden activation: relu or gelu. Default relu.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    /// Whether hidden neurons have biases b_k. Default true (flag: --no-bias).
    #[arg(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bias: Option<bool>,
    /// Fix the hidden biases at zero (TOML: bias = false).
    #[arg(long)]
    #[serde(skip)]
    pub no_bias: bool,
    /// Loss: square (the papers' 1/(2n) sum r^2), mse (PyTorch's 1/n sum r^2) or logistic. Default square.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<String>,
    /// Label noise standard deviation sigma (regression). Default 1; at least 0.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    /// Target function: linear, holder, sine, piecewise, teacher, teacher(WIDTH), zero. Default linear.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Input distribution: ball, sphere, gaussian, interval, interval(LO, HI), grid, grid(LO, HI),
    /// subspaces(COUNT, DIM), radial-beta(ALPHA, BETA). Default ball.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Training data file instead of a generator: CSV (header optional), .npy (n x (d+1)) or
    /// .npz with arrays X and y. Labels in the last column unless label_column says otherwise.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// Name (CSV header) or 0-based index of the label column of `data`. Default: the last.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_column: Option<String>,
    /// Test data file (same formats as `data`); without it, generated runs draw a fresh test set
    /// labelled by the noiseless target and file runs report no test error.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_data: Option<PathBuf>,
    /// Size of the generated test set. Default 2000; at least 1.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_test: Option<usize>,
    /// Mixup: train on inputs and labels mixed with a random partner with weight
    /// lambda ~ Beta(alpha, alpha). Default 0 = off; otherwise positive.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mixup_alpha: Option<f64>,
    /// Arithmetic: f32 (default) or f64.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// Seed of everything random in the run (data, initialisation, batches, probes). Default 0.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Initial weights are PyTorch's nn.Linear default times this factor. Default 1; positive.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_scale: Option<f64>,
    /// Start from saved weights: an .npz with arrays W (K x d), b (K), v (K), beta.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// Measure sharpness every this many epochs; 0 measures it only at the end. Default 100.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sharpness_every: Option<usize>,
    /// Evaluate the test error every this many epochs; 0 evaluates it only at the end. Default 100.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_every: Option<usize>,
    /// Write a trajectory row every this many epochs. Default 10; at least 1.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_every: Option<usize>,
    /// Number of top Hessian eigenvalues Lanczos certifies. Default 1; 1 to 50.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// Relative tolerance of the certified Lanczos error bound. Default 1e-4; in (0, 1).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lanczos_tol: Option<f64>,
    /// Iteration cap of Lanczos. Default 100; 2 to 2000.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lanczos_max_iter: Option<usize>,
    /// What is fitted: network (the two-layer network trained by gradient descent) or krr
    /// (kernel ridge regression, the ridge chosen by cross-validation; the network settings
    /// are then unused). Default network, which the resolved spec leaves out so that network
    /// run ids do not change.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Kernel of model = krr: laplace, gaussian or ntk (the two-layer ReLU NTK), laplace:H or
    /// gaussian:H with a bandwidth H > 0 (default: the median pairwise distance). Default ntk;
    /// ignored (and left out of the resolved spec) for networks.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Cross-validation folds choosing the ridge of model = krr (19 values from 1e-8 to 10).
    /// Default 5, or n when n < 5; 2 to n. Ignored (and left out of the resolved spec) for
    /// networks.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cv_folds: Option<usize>,
}

/// What a run fits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ModelKind {
    /// The two-layer network, trained by gradient descent.
    Network,
    /// Kernel ridge regression with the ridge chosen by `folds`-fold cross-validation over
    /// [`shatter_core::baseline::default_lambdas`].
    Krr {
        /// The kernel.
        kernel: Kernel,
        /// Cross-validation folds, `2..=n`.
        folds: usize,
    },
}

/// Where the training data comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    /// Generated from a seeded distribution and target.
    Generated(DataSpec),
    /// Read from a file.
    File {
        /// The data file.
        path: PathBuf,
        /// Label column (name or index); `None` for the last column.
        label_column: Option<String>,
    },
}

/// Where the initial weights come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// PyTorch's default initialisation times a scale.
    Default {
        /// The scale factor.
        scale: f64,
    },
    /// A saved model (`W, b, v, beta`).
    From(PathBuf),
}

/// A checked run: every value in range, every name resolved.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The resolved spec it was made from (every field present).
    pub spec: RunSpec,
    /// Training data.
    pub data: DataSource,
    /// Test data file, if any.
    pub test_data: Option<PathBuf>,
    /// Generated test-set size.
    pub n_test: usize,
    /// Network shape.
    pub shape: Shape,
    /// Arithmetic.
    pub precision: Precision,
    /// Initial weights.
    pub init: Init,
    /// Optimiser and recording settings for the core trainer.
    pub train: TrainConfig,
    /// Seed of the run.
    pub seed: u64,
    /// Network or kernel ridge regression.
    pub model: ModelKind,
}

impl RunConfig {
    /// The number of training samples the spec asks for (`n`; a data file may hold another).
    pub fn data_n(&self) -> usize {
        self.spec.n.unwrap_or(512)
    }
}

impl RunSpec {
    /// Reads a spec from TOML text; `path` names it in errors. Unknown keys and wrong types are
    /// errors with the line.
    pub fn from_toml(text: &str, path: &str) -> Result<Self, SpecError> {
        toml::from_str(text).map_err(|e| SpecError::Parse {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// Reads a spec file.
    pub fn from_file(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// This spec with every field that `over` sets replaced by `over`'s value.
    pub fn overridden_by(&self, over: &RunSpec) -> RunSpec {
        let mut base = serde_json::to_value(self).expect("a spec serialises");
        let top = serde_json::to_value(over).expect("a spec serialises");
        if let (Some(b), Some(t)) = (base.as_object_mut(), top.as_object()) {
            for (k, v) in t {
                b.insert(k.clone(), v.clone());
            }
        }
        let mut merged: RunSpec =
            serde_json::from_value(base).expect("merging two specs gives a spec");
        if over.no_bias || self.no_bias {
            merged.bias = Some(false);
        }
        merged
    }

    /// Every field filled in with its default.
    pub fn resolved(&self) -> RunSpec {
        let mut s = self.clone();
        if s.no_bias {
            s.bias = Some(false);
        }
        s.no_bias = false;
        s.d.get_or_insert(10);
        s.n.get_or_insert(512);
        s.width.get_or_insert(2048);
        s.lr.get_or_insert(0.9);
        s.epochs.get_or_insert(2000);
        s.weight_decay.get_or_insert(0.0);
        s.clip.get_or_insert(50.0);
        s.momentum.get_or_insert(0.0);
        s.batch_size.get_or_insert(0);
        s.mixup_alpha.get_or_insert(0.0);
        s.activation.get_or_insert_with(|| "relu".into());
        s.bias.get_or_insert(true);
        s.loss.get_or_insert_with(|| "square".into());
        if s.data.is_none() {
            s.sigma.get_or_insert(1.0);
            s.target.get_or_insert_with(|| "linear".into());
            s.input.get_or_insert_with(|| "ball".into());
        }
        s.n_test.get_or_insert(2000);
        s.precision.get_or_insert_with(|| "f32".into());
        s.seed.get_or_insert(0);
        if s.init_from.is_none() {
            s.init_scale.get_or_insert(1.0);
        }
        s.sharpness_every.get_or_insert(100);
        s.log_every.get_or_insert(10);
        s.test_every.get_or_insert(100);
        s.top_k.get_or_insert(1);
        s.lanczos_tol.get_or_insert(1e-4);
        s.lanczos_max_iter.get_or_insert(100);
        if s.model.as_deref() == Some(MODEL_KRR) {
            s.kernel.get_or_insert_with(|| "ntk".into());
            let n = s.n.unwrap_or(512);
            s.cv_folds.get_or_insert(default_folds(n));
        } else if s.model.as_deref().is_none_or(|m| m == MODEL_NETWORK) {
            // Networks keep the spec (and so the run id) they had before krr existed.
            s.model = None;
            s.kernel = None;
            s.cv_folds = None;
        }
        s
    }

    /// The resolved spec as TOML (what `--print-spec` shows).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a spec serialises to TOML")
    }

    /// A stable id of the run: the first 16 hex digits of the SHA-256 of the resolved spec's
    /// canonical JSON (keys sorted). Settings that do not change results do not enter.
    pub fn run_id(&self) -> String {
        let json = serde_json::to_value(self.resolved()).expect("a spec serialises");
        let canonical = serde_json::to_string(&json).expect("JSON serialises");
        let digest = Sha256::digest(canonical.as_bytes());
        hex::encode(&digest[..8])
    }

    /// Checks every value and resolves names. `source` is the spec file's path and text, used
    /// to point errors at the right line.
    pub fn check(&self, source: Option<(&str, &str)>) -> Result<RunConfig, SpecError> {
        let s = self.resolved();
        let place = |key: &str| place_of(source, key);
        let range = |key: &'static str, value: String, expected: &str| SpecError::OutOfRange {
            place: place(key),
            key,
            value,
            expected: expected.to_string(),
        };
        let (d, n, width) = (
            s.d.unwrap_or(10),
            s.n.unwrap_or(512),
            s.width.unwrap_or(2048),
        );
        if d == 0 {
            return Err(range("d", d.to_string(), "must be at least 1"));
        }
        if n == 0 {
            return Err(range("n", n.to_string(), "must be at least 1"));
        }
        if width == 0 {
            return Err(range("width", width.to_string(), "must be at least 1"));
        }
        let lr = s.lr.unwrap_or(0.9);
        if !(lr.is_finite() && lr > 0.0) {
            return Err(range("lr", lr.to_string(), "must be positive and finite"));
        }
        let wd = s.weight_decay.unwrap_or(0.0);
        if !(wd.is_finite() && wd >= 0.0) {
            return Err(range(
                "weight_decay",
                wd.to_string(),
                "must be at least 0 and finite",
            ));
        }
        let clip = s.clip.unwrap_or(50.0);
        if !(clip.is_finite() && clip >= 0.0) {
            return Err(range(
                "clip",
                clip.to_string(),
                "must be at least 0 (0 turns clipping off)",
            ));
        }
        let momentum = s.momentum.unwrap_or(0.0);
        if !(momentum.is_finite() && (0.0..1.0).contains(&momentum)) {
            return Err(range("momentum", momentum.to_string(), "must be in [0, 1)"));
        }
        let activation = match s.activation.as_deref().unwrap_or("relu") {
            "relu" => Activation::Relu,
            "gelu" => Activation::Gelu,
            other => return Err(range("activation", quote(other), "must be relu or gelu")),
        };
        let loss = match s.loss.as_deref().unwrap_or("square") {
            "square" => Loss::Square,
            "mse" => Loss::Mse,
            "logistic" => Loss::Logistic,
            other => {
                return Err(range(
                    "loss",
                    quote(other),
                    "must be square, mse or logistic",
                ))
            }
        };
        let precision = match s.precision.as_deref().unwrap_or("f32") {
            "f32" => Precision::F32,
            "f64" => Precision::F64,
            other => return Err(range("precision", quote(other), "must be f32 or f64")),
        };
        let n_test = s.n_test.unwrap_or(2000);
        if n_test == 0 {
            return Err(range("n_test", "0".into(), "must be at least 1"));
        }
        let log_every = s.log_every.unwrap_or(10);
        if log_every == 0 {
            return Err(range("log_every", "0".into(), "must be at least 1"));
        }
        let top_k = s.top_k.unwrap_or(1);
        if !(1..=50).contains(&top_k) {
            return Err(range(
                "top_k",
                top_k.to_string(),
                "must be between 1 and 50",
            ));
        }
        let tol = s.lanczos_tol.unwrap_or(1e-4);
        if !(tol.is_finite() && tol > 0.0 && tol < 1.0) {
            return Err(range("lanczos_tol", tol.to_string(), "must be in (0, 1)"));
        }
        let max_iter = s.lanczos_max_iter.unwrap_or(100);
        if !(2..=2000).contains(&max_iter) {
            return Err(range(
                "lanczos_max_iter",
                max_iter.to_string(),
                "must be between 2 and 2000",
            ));
        }
        let batch = s.batch_size.unwrap_or(0);
        let mixup = s.mixup_alpha.unwrap_or(0.0);
        if !(mixup.is_finite() && mixup >= 0.0) {
            return Err(range(
                "mixup_alpha",
                mixup.to_string(),
                "must be at least 0 and finite (0 turns mixup off)",
            ));
        }
        let data = match &s.data {
            Some(path) => {
                for key in ["target", "input", "sigma"] {
                    let set = match key {
                        "target" => self.target.is_some(),
                        "input" => self.input.is_some(),
                        _ => self.sigma.is_some(),
                    };
                    if set {
                        return Err(SpecError::Conflict {
                            place: place(key),
                            message: format!("{key} describes generated data, but data = {} reads a file; remove one of them", path.display()),
                        });
                    }
                }
                DataSource::File {
                    path: path.clone(),
                    label_column: s.label_column.clone(),
                }
            }
            None => {
                let input: InputDist = s.input.as_deref().unwrap_or("ball").parse().map_err(
                    |e: shatter_core::data::generate::DataError| {
                        range(
                            "input",
                            quote(s.input.as_deref().unwrap_or("")),
                            &e.to_string(),
                        )
                    },
                )?;
                let target: TargetKind = s.target.as_deref().unwrap_or("linear").parse().map_err(
                    |e: shatter_core::data::generate::DataError| {
                        range(
                            "target",
                            quote(s.target.as_deref().unwrap_or("")),
                            &e.to_string(),
                        )
                    },
                )?;
                let sigma = s.sigma.unwrap_or(1.0);
                if !(sigma.is_finite() && sigma >= 0.0) {
                    return Err(range(
                        "sigma",
                        sigma.to_string(),
                        "must be at least 0 and finite",
                    ));
                }
                let labels = if loss == Loss::Logistic {
                    Labels::Bernoulli
                } else {
                    Labels::Regression { sigma }
                };
                let spec = DataSpec {
                    n,
                    d,
                    input,
                    target,
                    labels,
                };
                spec.check().map_err(|e| SpecError::Conflict {
                    place: place("input"),
                    message: e.to_string(),
                })?;
                DataSource::Generated(spec)
            }
        };
        if let DataSource::Generated(_) = data {
            if batch > n {
                return Err(range(
                    "batch_size",
                    batch.to_string(),
                    &format!("must be at most n = {n} (0 for full batch)"),
                ));
            }
        }
        let init = match &s.init_from {
            Some(p) => {
                if self.init_scale.is_some() {
                    return Err(SpecError::Conflict { place: place("init_scale"), message: "init_scale applies to the default initialisation; it cannot go with init_from".into() });
                }
                Init::From(p.clone())
            }
            None => {
                let scale = s.init_scale.unwrap_or(1.0);
                if !(scale.is_finite() && scale > 0.0) {
                    return Err(range(
                        "init_scale",
                        scale.to_string(),
                        "must be positive and finite",
                    ));
                }
                Init::Default { scale }
            }
        };
        let seed = s.seed.unwrap_or(0);
        // The kernel name is checked even where it is ignored, so a typo never passes.
        let kernel: Kernel = match self.kernel.as_deref().or(s.kernel.as_deref()) {
            None => Kernel::ReluNtk,
            Some(text) => text
                .parse()
                .map_err(|e: shatter_core::baseline::BaselineError| {
                    range("kernel", quote(text), &e.to_string())
                })?,
        };
        let model = match self.model.as_deref().unwrap_or(MODEL_NETWORK) {
            MODEL_NETWORK => ModelKind::Network,
            MODEL_KRR => {
                if loss == Loss::Logistic {
                    return Err(SpecError::Conflict {
                        place: place("loss"),
                        message: "model = \"krr\" is kernel ridge regression and needs a square loss, not loss = \"logistic\"".into(),
                    });
                }
                let folds = s.cv_folds.unwrap_or_else(|| default_folds(n));
                if folds < 2 || (matches!(data, DataSource::Generated(_)) && folds > n) {
                    return Err(range(
                        "cv_folds",
                        folds.to_string(),
                        &format!("must be between 2 and n = {n}"),
                    ));
                }
                ModelKind::Krr { kernel, folds }
            }
            other => return Err(range("model", quote(other), "must be network or krr")),
        };
        let shape = Shape {
            d,
            width,
            bias: s.bias.unwrap_or(true),
            activation,
        };
        let train = TrainConfig {
            epochs: s.epochs.unwrap_or(2000),
            lr,
            weight_decay: wd,
            clip: (clip > 0.0).then_some(clip),
            momentum,
            batch_size: (batch > 0).then_some(batch),
            mixup_alpha: (mixup > 0.0).then_some(mixup),
            loss,
            sharpness_every: s.sharpness_every.unwrap_or(100),
            test_every: s.test_every.unwrap_or(100),
            log_every,
            lanczos: LanczosOptions {
                top_k,
                rel_tol: tol,
                max_iter,
                seed,
                ..LanczosOptions::default()
            },
            seed,
        };
        Ok(RunConfig {
            test_data: s.test_data.clone(),
            n_test,
            shape,
            precision,
            init,
            train,
            seed,
            model,
            data,
            spec: s,
        })
    }
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// `"file:line: "` for the line that sets `key` in the source, `"file: "` when the key is not
/// in it (a default or a flag), and `""` without a source.
pub fn place_of(source: Option<(&str, &str)>, key: &str) -> String {
    match source {
        None => String::new(),
        Some((path, text)) => match line_of(text, key) {
            Some(line) => format!("{path}:{line}: "),
            None => String::new(),
        },
    }
}

/// The 1-based line on which `key = ...` appears in TOML text (first occurrence).
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors_with_their_line() {
        let err = RunSpec::from_toml("lr = 0.5\nlearning_rate = 0.1\n", "run.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("run.toml") && err.contains("learning_rate") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn wrong_types_are_errors_with_their_line() {
        let err = RunSpec::from_toml("d = 3\nn = \"many\"\n", "run.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains('n'), "{err}");
    }

    #[test]
    fn out_of_range_values_name_key_file_and_line() {
        let text = "d = 3\n\nlr = -0.5\n";
        let spec = RunSpec::from_toml(text, "run.toml").unwrap();
        let err = spec
            .check(Some(("run.toml", text)))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "run.toml:3: lr = -0.5 is out of range: must be positive and finite"
        );
    }

    #[test]
    fn flags_override_the_file() {
        let file = RunSpec::from_toml("lr = 0.5\nd = 3\nbias = true\n", "run.toml").unwrap();
        let flags = RunSpec {
            lr: Some(0.1),
            no_bias: true,
            ..RunSpec::default()
        };
        let merged = file.overridden_by(&flags);
        assert_eq!(
            (merged.lr, merged.d, merged.bias),
            (Some(0.1), Some(3), Some(false))
        );
    }

    #[test]
    fn resolved_spec_round_trips_through_toml_and_keeps_its_id() {
        let spec = RunSpec {
            d: Some(2),
            target: Some("teacher(8)".into()),
            ..RunSpec::default()
        }
        .resolved();
        let back = RunSpec::from_toml(&spec.to_toml(), "printed").unwrap();
        assert_eq!(back, spec);
        assert_eq!(back.run_id(), spec.run_id());
        assert_eq!(
            RunSpec::default().run_id(),
            RunSpec::default().resolved().run_id(),
            "defaults do not change the id"
        );
        assert_ne!(
            spec.run_id(),
            RunSpec {
                seed: Some(1),
                ..spec.clone()
            }
            .run_id()
        );
    }

    #[test]
    fn bad_names_list_the_choices() {
        for (text, words) in [
            ("activation = \"tanh\"", vec!["activation", "relu or gelu"]),
            ("loss = \"hinge\"", vec!["loss", "square, mse or logistic"]),
            ("precision = \"f16\"", vec!["precision", "f32 or f64"]),
            ("input = \"cube\"", vec!["input", "cube"]),
            ("d = 3\ninput = \"interval\"", vec!["d = 1"]),
            ("data = \"x.csv\"\nsigma = 0.5", vec!["sigma", "data"]),
            ("momentum = 1.0", vec!["momentum", "[0, 1)"]),
        ] {
            let spec = RunSpec::from_toml(text, "run.toml").unwrap();
            let err = spec
                .check(Some(("run.toml", text)))
                .unwrap_err()
                .to_string();
            for w in words {
                assert!(err.contains(w), "{text:?}: {err:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn network_ids_ignore_the_krr_keys_and_krr_resolves_its_defaults() {
        let base = RunSpec {
            d: Some(2),
            ..RunSpec::default()
        };
        let explicit = RunSpec {
            model: Some("network".into()),
            kernel: Some("gaussian".into()),
            cv_folds: Some(3),
            ..base.clone()
        };
        assert_eq!(explicit.resolved(), base.resolved());
        assert_eq!(
            explicit.run_id(),
            base.run_id(),
            "network ids are unchanged"
        );
        let krr = RunSpec {
            model: Some("krr".into()),
            ..base.clone()
        };
        let r = krr.resolved();
        assert_eq!(
            (r.kernel.as_deref(), r.cv_folds),
            (Some("ntk"), Some(5)),
            "krr defaults"
        );
        assert_ne!(krr.run_id(), base.run_id());
        let cfg = krr.check(None).expect("a valid krr spec");
        assert_eq!(
            cfg.model,
            ModelKind::Krr {
                kernel: Kernel::ReluNtk,
                folds: 5
            }
        );
        assert_eq!(base.check(None).expect("valid").model, ModelKind::Network);
    }

    #[test]
    fn bad_krr_settings_name_their_key() {
        for (text, words) in [
            (
                "model = \"krr\"\nkernel = \"polynomial\"",
                vec![
                    "run.toml:2",
                    "kernel",
                    "polynomial",
                    "laplace, gaussian or ntk",
                ],
            ),
            // A misspelt kernel is an error even where it would be ignored.
            ("kernel = \"gauss\"", vec!["run.toml:1", "kernel", "gauss"]),
            (
                "model = \"forest\"",
                vec!["run.toml:1", "model", "network or krr"],
            ),
            (
                "model = \"krr\"\nn = 10\ncv_folds = 11",
                vec!["run.toml:3", "cv_folds", "n = 10"],
            ),
            (
                "model = \"krr\"\nloss = \"logistic\"",
                vec!["run.toml:2", "krr", "logistic"],
            ),
        ] {
            let spec = RunSpec::from_toml(text, "run.toml").unwrap();
            let err = spec
                .check(Some(("run.toml", text)))
                .unwrap_err()
                .to_string();
            for w in words {
                assert!(err.contains(w), "{text:?}: {err:?} lacks {w:?}");
            }
        }
    }
}
