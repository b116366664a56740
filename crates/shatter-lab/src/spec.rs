//! What the user writes for one run ([`RunSpec`]: TOML keys and command-line flags, one
//! spelling each) and what the engine accepts ([`RunConfig`]: every value checked and resolved).
//! Also the run id: a hash of the resolved spec and of the contents of its input files, so the
//! same settings on the same data always name the same run.
//!
//! Every setting is defined once, in the [`run_settings!`](settings) list below: its type,
//! default, range, help text and how it enters the run id. The struct, the flags, the TOML
//! keys, the merge of a file with flags, the defaults and the range checks all come from it
//! (`settings.rs`); `inputs.rs` reads the input files (content hashes, the shape of a data
//! file) and estimates the memory a run needs.

mod inputs;
mod settings;

pub use inputs::{available_memory, memory_parts, sha256_file, InputCache};
use settings::run_settings;
pub use settings::{CheckValue, IdRule, Range, Setting};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shatter_core::baseline::{default_folds, Kernel};
use shatter_core::data::generate::{DataSpec, InputDist, Labels, TargetKind};
use shatter_core::hessian::lanczos::LanczosOptions;
use shatter_core::train::{CurvatureOptions, TrainConfig};
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
    /// An input file (`data`, `test_data`, `init_from`) could not be read or parsed.
    #[error("{place}{key}: {source}")]
    Input {
        /// `file:line: ` of the key, or empty.
        place: String,
        /// The key naming the file.
        key: &'static str,
        /// What went wrong, with the file's name.
        source: Box<crate::io::IoError>,
    },
    /// The run would need more memory than the machine has available.
    #[error("{place}{key} = {value}: {detail}")]
    Memory {
        /// `file:line: ` of the key, or empty.
        place: String,
        /// The setting that makes the largest part of the need.
        key: &'static str,
        /// Its value.
        value: String,
        /// The estimate, what needs most of it and the available memory, human readable:
        /// `the run needs about 4.1 TB of memory (...), but 16.0 GB are available; lower width`.
        detail: String,
    },
}

/// `model = "network"`: the two-layer network (the default).
pub const MODEL_NETWORK: &str = "network";
/// `model = "krr"`: kernel ridge regression.
pub const MODEL_KRR: &str = "krr";

/// Largest input dimension `d`.
pub const MAX_D: u64 = 1_000_000;
/// Largest number of samples (`n`, `n_test`, `batch_size`, `cv_folds`).
pub const MAX_N: u64 = 1_000_000_000;
/// Largest hidden width `K`.
pub const MAX_WIDTH: u64 = 1_000_000_000;

const fn int(min: u64, max: u64, expected: &'static str) -> Range {
    Range::Int { min, max, expected }
}

const fn float(lo: f64, lo_open: bool, hi: f64, hi_open: bool, expected: &'static str) -> Range {
    Range::Float {
        lo,
        lo_open,
        hi,
        hi_open,
        expected,
    }
}

const INF: f64 = f64::INFINITY;

fn is_krr(s: &RunSpec) -> bool {
    s.model.as_deref() == Some(MODEL_KRR)
}

run_settings! {
    d: usize, flag(long), default |s| s.data.is_none().then_some(10),
        range int(1, MAX_D, "must be at least 1 and at most 1000000"), id IdRule::Always,
        help "Input dimension d. Default 10 (with data: the file's); 1 to 1000000.";
    n: usize, flag(long), default |s| s.data.is_none().then_some(512),
        range int(1, MAX_N, "must be at least 1 and at most 1000000000"), id IdRule::Always,
        help "Number of training samples n. Default 512 (with data: the file's rows); 1 to 1e9.";
    width: usize, flag(long), default |_| Some(2048),
        range int(1, MAX_WIDTH, "must be at least 1 and at most 1000000000"), id IdRule::Always,
        help "Hidden width K. Default 2048; 1 to 1e9 (and what fits in memory).";
    lr: f64, flag(long), default |_| Some(0.9),
        range Range::POSITIVE, id IdRule::Always,
        help "Step size eta. Default 0.9; positive and finite.";
    epochs: usize, flag(long), default |_| Some(2000),
        range int(0, 1_000_000_000_000, "must be at most 1000000000000"), id IdRule::Always,
        help "Number of epochs. Default 2000; 0 to 1e12.";
    weight_decay: f64, flag(long), default |_| Some(0.0),
        range float(0.0, false, INF, true, "must be at least 0 and finite"), id IdRule::Always,
        help "Weight decay lambda on every parameter. Default 0; at least 0 and finite.";
    clip: f64, flag(long), default |_| Some(50.0),
        range float(0.0, false, INF, true, "must be at least 0 and finite (0 turns clipping off)"), id IdRule::Always,
        help "Gradient-norm clipping threshold c (PyTorch's clip_grad_norm_). Default 50; 0 turns it off; finite.";
    momentum: f64, flag(long), default |_| Some(0.0),
        range float(0.0, false, 1.0, true, "must be in [0, 1)"), id IdRule::Always,
        help "Heavy-ball momentum as in PyTorch's SGD. Default 0; in [0, 1).";
    batch_size: usize, flag(long), default |_| Some(0),
        range int(0, MAX_N, "must be at most n (0 for full batch)"), id IdRule::Always,
        help "Mini-batch size. Default 0 = full-batch gradient descent; at most n.";
    activation: String, flag(long), default |_| Some("relu".into()),
        range Range::Text, id IdRule::Always,
        help "Hidden activation: relu or gelu. Default relu.";
    bias: bool, noflag(skip), default |_| Some(true),
        range Range::Bool, id IdRule::Always,
        help "Whether hidden neurons have biases b_k. Default true (flag: --no-bias).";
    loss: String, flag(long), default |_| Some("square".into()),
        range Range::Text, id IdRule::Always,
        help "Loss: square (the papers' 1/(2n) sum r^2), mse (PyTorch's 1/n sum r^2) or logistic. Default square.";
    sigma: f64, flag(long), default |s| s.data.is_none().then_some(1.0),
        range float(0.0, false, INF, true, "must be at least 0 and finite"), id IdRule::Always,
        help "Label noise standard deviation sigma (regression). Default 1; at least 0 and finite.";
    target: String, flag(long), default |s| s.data.is_none().then(|| "linear".into()),
        range Range::Text, id IdRule::Always,
        help "Target function: linear, holder, sine, piecewise, teacher, teacher(WIDTH), zero. Default linear.";
    input: String, flag(long), default |s| s.data.is_none().then(|| "ball".into()),
        range Range::Text, id IdRule::Always,
        help "Input distribution: ball, sphere, gaussian, interval, interval(LO, HI), grid, grid(LO, HI),\nsubspaces(COUNT, DIM), radial-beta(ALPHA, BETA). Default ball.";
    data: PathBuf, flag(long), default |_| None,
        range Range::Path, id IdRule::ByContent,
        help "Training data file instead of a generator: CSV (header optional), .npy (n x (d+1)) or\n.npz with arrays X and y. Labels in the last column unless label_column says otherwise.\nn and d are the file's; its SHA-256 (data_sha256) enters the run id, its name does not.";
    label_column: String, flag(long), default |_| None,
        range Range::Text, id IdRule::Always,
        help "Name (CSV header) or 0-based index of the label column of `data`. Default: the last. Needs data.";
    test_data: PathBuf, flag(long), default |_| None,
        range Range::Path, id IdRule::ByContent,
        help "Test data file (same formats as `data`); without it, generated runs draw a fresh test set\nlabelled by the noiseless target and file runs report no test error. Its SHA-256 enters the run id.";
    n_test: usize, flag(long), default |_| Some(2000),
        range int(1, MAX_N, "must be at least 1 and at most 1000000000"), id IdRule::Always,
        help "Size of the generated test set. Default 2000; 1 to 1e9.";
    mixup_alpha: f64, flag(long), default |_| Some(0.0),
        range float(0.0, false, INF, true, "must be at least 0 and finite (0 turns mixup off)"), id IdRule::Always,
        help "Mixup: train on inputs and labels mixed with a random partner with weight\nlambda ~ Beta(alpha, alpha). Default 0 = off; otherwise positive and finite.";
    precision: String, flag(long), default |_| Some("f32".into()),
        range Range::Text, id IdRule::Always,
        help "Arithmetic: f32 (default) or f64.";
    seed: u64, flag(long), default |_| Some(0),
        range int(0, u64::MAX, ""), id IdRule::Always,
        help "Seed of everything random in the run (data, initialisation, batches, probes). Default 0.";
    init_scale: f64, flag(long), default |s| s.init_from.is_none().then_some(1.0),
        range Range::POSITIVE, id IdRule::Always,
        help "Initial weights are PyTorch's nn.Linear default times this factor. Default 1; positive and finite.";
    init_from: PathBuf, flag(long), default |_| None,
        range Range::Path, id IdRule::ByContent,
        help "Start from saved weights: an .npz with arrays W (K x d), b (K), v (K), beta. Its SHA-256\nenters the run id.";
    sharpness_every: usize, flag(long), default |_| Some(100),
        range int(0, u64::MAX, ""), id IdRule::Always,
        help "Measure sharpness every this many epochs; 0 measures it only at the end. Default 100.";
    test_every: usize, flag(long), default |_| Some(100),
        range int(0, u64::MAX, ""), id IdRule::Always,
        help "Evaluate the test error every this many epochs; 0 evaluates it only at the end. Default 100.";
    log_every: usize, flag(long), default |_| Some(10),
        range int(1, u64::MAX, "must be at least 1"), id IdRule::Always,
        help "Write a trajectory row every this many epochs. Default 10; at least 1.";
    top_k: usize, flag(long), default |_| Some(1),
        range int(1, 50, "must be between 1 and 50"), id IdRule::Always,
        help "Number of top Hessian eigenvalues Lanczos certifies. Default 1; 1 to 50.";
    lanczos_tol: f64, flag(long), default |_| Some(1e-4),
        range float(0.0, true, 1.0, true, "must be in (0, 1)"), id IdRule::Always,
        help "Relative tolerance of the certified Lanczos error bound. Default 1e-4; in (0, 1).";
    lanczos_max_iter: usize, flag(long), default |_| Some(100),
        range int(2, 2000, "must be between 2 and 2000"), id IdRule::Always,
        help "Iteration cap of Lanczos. Default 100; 2 to 2000.";
    outlier_threshold: f64, flag(long), default |_| Some(0.0),
        range float(0.0, false, 1000.0, false, "must be 0 (off) or positive, at most 1000 (in units of 1/eta)"), id IdRule::UnlessDefault,
        help "Track every Hessian eigenvalue above outlier_threshold / eta at each sharpness record\n(e.g. 1.5, the central-flow threshold), each with a certified bound and a certificate that\nnone was missed (at most 64). Default 0 = off; at most 1000.";
    trace_products: usize, flag(long), default |_| Some(0),
        range int(0, 100_000, "must be 0 (off) or between 4 and 100000"), id IdRule::UnlessDefault,
        help "Hessian-vector products of the Hutch++ trace estimate (with its standard error) at each\nsharpness record and the end. Default 0 = off; otherwise 4 to 100000.";
    model: String, flag(long), default |_| None,
        range Range::Text, id IdRule::Always,
        help "What is fitted: network (the two-layer network trained by gradient descent) or krr\n(kernel ridge regression, the ridge chosen by cross-validation; the network settings\nare then unused). Default network, which the resolved spec leaves out so that network\nrun ids do not change.";
    kernel: String, flag(long), default |s| is_krr(s).then(|| "ntk".into()),
        range Range::Text, id IdRule::Always,
        help "Kernel of model = krr: laplace, gaussian or ntk (the two-layer ReLU NTK), laplace:H or\ngaussian:H with a bandwidth H > 0 (default: the median pairwise distance). Default ntk;\nignored (and left out of the resolved spec) for networks.";
    cv_folds: usize, flag(long), default |s| is_krr(s).then(|| default_folds(s.n.unwrap_or(512))),
        range int(2, MAX_N, "must be between 2 and n"), id IdRule::Always,
        help "Cross-validation folds choosing the ridge of model = krr (19 values from 1e-8 to 10).\nDefault 5, or n when n < 5; 2 to n. Ignored (and left out of the resolved spec) for\nnetworks.";
    data_sha256: String, noflag(skip), default |_| None,
        range Range::Sha256, id IdRule::Always,
        help "SHA-256 of the `data` file, computed by the check and recorded (run.json, the store);\na spec that sets it refuses a file with other contents.";
    test_data_sha256: String, noflag(skip), default |_| None,
        range Range::Sha256, id IdRule::Always,
        help "SHA-256 of the `test_data` file (computed; setting it pins the contents).";
    init_from_sha256: String, noflag(skip), default |_| None,
        range Range::Sha256, id IdRule::Always,
        help "SHA-256 of the `init_from` file (computed; setting it pins the contents).";
}

/// The input-file settings and the setting recording each one's SHA-256.
pub const INPUT_FILES: [(&str, &str); 3] = [
    ("data", "data_sha256"),
    ("test_data", "test_data_sha256"),
    ("init_from", "init_from_sha256"),
];

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
        /// SHA-256 of its contents when checked (the run refuses a file that changed since).
        sha256: String,
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

/// A checked run: every value in range, every name resolved, every input file hashed.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The resolved spec it was made from (every field present; for a data file, `n` and `d`
    /// are the file's and `data_sha256` its hash).
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
    /// Curvature beyond sharpness (outliers above a threshold, the trace), off by default.
    pub curvature: CurvatureOptions,
    /// Seed of the run.
    pub seed: u64,
    /// Network or kernel ridge regression.
    pub model: ModelKind,
}

impl RunConfig {
    /// The number of training samples: the spec's `n`, which for a data file is the file's
    /// number of rows.
    pub fn data_n(&self) -> usize {
        self.spec.n.unwrap_or(512)
    }

    /// The run id ([`RunSpec::run_id`] of the checked spec, which holds the input hashes).
    pub fn run_id(&self) -> String {
        self.spec.run_id()
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

    /// This spec with every field that `over` sets replaced by `over`'s value, field by field
    /// (every value kept exactly, `NaN` included, for the check to judge).
    pub fn overridden_by(&self, over: &RunSpec) -> RunSpec {
        let mut merged = self.merge_fields(over);
        if merged.no_bias {
            merged.bias = Some(false);
        }
        merged
    }

    /// Every field filled in with its default. Without a check, a data file's `n` and `d`
    /// stay unset (the check reads them from the file).
    pub fn resolved(&self) -> RunSpec {
        let mut s = self.clone();
        if s.no_bias {
            s.bias = Some(false);
        }
        s.no_bias = false;
        s.fill_defaults();
        if !is_krr(&s) && s.model.as_deref().is_none_or(|m| m == MODEL_NETWORK) {
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
    /// canonical JSON (keys sorted). Settings marked [`IdRule::UnlessDefault`] enter only when
    /// they differ from their default, so adding a setting changes no earlier id. An input
    /// file enters by its contents: when its hash is known (a checked spec,
    /// [`RunConfig::spec`]) the path is replaced by `sha256:HEX` (`sha256:HEX tsv` for a
    /// `.tsv` name, which is read with tabs), so the same contents under another name or
    /// folder give the same id and changed contents a new one. Settings that do not change
    /// results (the device, threads) do not enter.
    pub fn run_id(&self) -> String {
        let json = serde_json::to_value(self.resolved()).expect("a spec serialises");
        let mut json = match json {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("a spec serialises to an object"),
        };
        for (name, default) in Self::id_defaults() {
            if json.get(name) == Some(&default) {
                json.remove(name);
            }
        }
        for (path_key, hash_key) in INPUT_FILES {
            if let Some(serde_json::Value::String(hash)) = json.remove(hash_key) {
                let tsv = json
                    .get(path_key)
                    .and_then(|p| p.as_str())
                    .is_some_and(|p| p.to_ascii_lowercase().ends_with(".tsv"));
                let content = format!("sha256:{hash}{}", if tsv { " tsv" } else { "" });
                json.insert(path_key.to_string(), serde_json::Value::String(content));
            }
        }
        let canonical =
            serde_json::to_string(&serde_json::Value::Object(json)).expect("JSON serialises");
        let digest = Sha256::digest(canonical.as_bytes());
        hex::encode(&digest[..8])
    }

    /// Checks every value, reads the input files (hashes, the data file's `n` and `d`) and
    /// resolves names. `source` is the spec file's path and text, used to point errors at the
    /// right line. Cost: reading (and hashing) each input file once, and the data file's
    /// parse; see [`RunSpec::check_with`] to share that across many specs.
    pub fn check(&self, source: Option<(&str, &str)>) -> Result<RunConfig, SpecError> {
        self.check_with(source, &mut InputCache::default())
    }

    /// [`RunSpec::check`] with a cache of the input files already read (a sweep reads each
    /// file once for all its points).
    pub fn check_with(
        &self,
        source: Option<(&str, &str)>,
        cache: &mut InputCache,
    ) -> Result<RunConfig, SpecError> {
        let place = |key: &str| place_of(source, key);
        let range = |key: &'static str, value: String, expected: &str| SpecError::OutOfRange {
            place: place(key),
            key,
            value,
            expected: expected.to_string(),
        };
        // Every value as written against its range, before any file is read.
        self.check_ranges(&place)?;
        if self.data.is_none() {
            if let Some(col) = &self.label_column {
                return Err(SpecError::Conflict {
                    place: place("label_column"),
                    message: format!("label_column = {col:?} names a column of a data file, but data is not set; add data or remove label_column"),
                });
            }
        }
        if let Some(path) = &self.data {
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
        }
        let mut bound = self.clone();
        inputs::bind_inputs(&mut bound, &place, cache)?;
        let s = bound.resolved();
        s.check_ranges(&place)?;
        let (d, n, width) = (
            s.d.unwrap_or(10),
            s.n.unwrap_or(512),
            s.width.unwrap_or(2048),
        );
        let lr = s.lr.unwrap_or(0.9);
        let wd = s.weight_decay.unwrap_or(0.0);
        let clip = s.clip.unwrap_or(50.0);
        let momentum = s.momentum.unwrap_or(0.0);
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
        let log_every = s.log_every.unwrap_or(10);
        let top_k = s.top_k.unwrap_or(1);
        let tol = s.lanczos_tol.unwrap_or(1e-4);
        let max_iter = s.lanczos_max_iter.unwrap_or(100);
        let outlier_threshold = s.outlier_threshold.unwrap_or(0.0);
        let trace_products = s.trace_products.unwrap_or(0);
        if (1..4).contains(&trace_products) {
            return Err(range(
                "trace_products",
                trace_products.to_string(),
                "must be 0 (off) or between 4 and 100000",
            ));
        }
        let batch = s.batch_size.unwrap_or(0);
        let mixup = s.mixup_alpha.unwrap_or(0.0);
        let data = match &s.data {
            Some(path) => DataSource::File {
                path: path.clone(),
                label_column: s.label_column.clone(),
                sha256: s.data_sha256.clone().unwrap_or_default(),
            },
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
        // A data file's batch size is checked where the run reads it (naming the file).
        if matches!(data, DataSource::Generated(_)) && batch > n {
            return Err(range(
                "batch_size",
                batch.to_string(),
                &format!("must be at most n = {n} (0 for full batch)"),
            ));
        }
        let init = match &s.init_from {
            Some(p) => {
                if self.init_scale.is_some() {
                    return Err(SpecError::Conflict { place: place("init_scale"), message: "init_scale applies to the default initialisation; it cannot go with init_from".into() });
                }
                Init::From(p.clone())
            }
            None => Init::Default {
                scale: s.init_scale.unwrap_or(1.0),
            },
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
                if folds < 2 || folds > n {
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
        let curvature = CurvatureOptions {
            outlier_threshold: (outlier_threshold > 0.0).then_some(outlier_threshold),
            trace_products,
        };
        let cfg = RunConfig {
            curvature,
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
        };
        inputs::check_memory(&cfg, &place, cache.available_memory())?;
        Ok(cfg)
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

    /// Ids computed with the code before the typed settings layer (commit 3f4c330): a
    /// default run, a small network, a run that sets many options, kernel ridge regression
    /// and a run that sets the measurement options. New settings must not move them.
    #[test]
    fn run_ids_are_pinned_across_versions() {
        let cases = [
            ("default", RunSpec::default(), "ef304286e8c7d10d"),
            (
                "small network",
                RunSpec {
                    d: Some(2),
                    n: Some(64),
                    width: Some(128),
                    lr: Some(0.5),
                    seed: Some(3),
                    epochs: Some(300),
                    ..RunSpec::default()
                },
                "02656470dd391e52",
            ),
            (
                "many options",
                RunSpec {
                    target: Some("teacher(8)".into()),
                    input: Some("gaussian".into()),
                    loss: Some("logistic".into()),
                    precision: Some("f64".into()),
                    no_bias: true,
                    momentum: Some(0.9),
                    batch_size: Some(32),
                    weight_decay: Some(1e-3),
                    clip: Some(0.0),
                    ..RunSpec::default()
                },
                "df3af1e0c619cd6d",
            ),
            (
                "krr",
                RunSpec {
                    model: Some("krr".into()),
                    n: Some(50),
                    kernel: Some("laplace".into()),
                    ..RunSpec::default()
                },
                "e3b214222cc4853c",
            ),
            (
                "measurement options",
                RunSpec {
                    mixup_alpha: Some(0.2),
                    init_scale: Some(0.5),
                    sharpness_every: Some(0),
                    test_every: Some(50),
                    log_every: Some(1),
                    top_k: Some(3),
                    lanczos_tol: Some(1e-6),
                    lanczos_max_iter: Some(300),
                    n_test: Some(100),
                    sigma: Some(0.25),
                    ..RunSpec::default()
                },
                "0512c8cf7e3f269b",
            ),
        ];
        for (name, spec, id) in cases {
            assert_eq!(spec.run_id(), id, "{name}: the unchecked spec's id");
            let cfg = spec.check(None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(cfg.run_id(), id, "{name}: the checked spec's id");
        }
    }

    #[test]
    fn every_float_setting_refuses_non_finite_values_from_flags_and_files() {
        let floats: Vec<&str> = SETTINGS
            .iter()
            .filter(|s| s.kind == "f64")
            .map(|s| s.name)
            .collect();
        assert_eq!(
            floats,
            [
                "lr",
                "weight_decay",
                "clip",
                "momentum",
                "sigma",
                "mixup_alpha",
                "init_scale",
                "lanczos_tol",
                "outlier_threshold"
            ]
        );
        for key in &floats {
            for (text, value) in [
                ("nan", f64::NAN),
                ("inf", f64::INFINITY),
                ("-inf", f64::NEG_INFINITY),
            ] {
                // From a file, merged with empty flags (the merge once turned these into
                // defaults through JSON).
                let toml = format!("epochs = 1\n{key} = {text}\n");
                let file = RunSpec::from_toml(&toml, "run.toml").expect("TOML takes nan and inf");
                let merged = file.overridden_by(&RunSpec::default());
                let err = merged
                    .check(Some(("run.toml", &toml)))
                    .expect_err(&format!("{key} = {text} must be refused"))
                    .to_string();
                let shown = value.to_string();
                assert!(
                    err.starts_with(&format!(
                        "run.toml:2: {key} = {shown} is out of range: must be"
                    )),
                    "{key} = {text}: {err}"
                );
                // As a flag over a file that sets nothing.
                let mut flags = RunSpec::default();
                set_float(&mut flags, key, value);
                let err = RunSpec::default()
                    .overridden_by(&flags)
                    .check(None)
                    .expect_err("refused")
                    .to_string();
                assert!(
                    err.starts_with(&format!("{key} = {shown} is out of range")),
                    "{err}"
                );
            }
        }
        let err = RunSpec {
            lr: Some(f64::NAN),
            ..RunSpec::default()
        }
        .check(None)
        .unwrap_err()
        .to_string();
        assert_eq!(err, "lr = NaN is out of range: must be positive and finite");
    }

    fn set_float(spec: &mut RunSpec, key: &str, v: f64) {
        let slot = match key {
            "lr" => &mut spec.lr,
            "weight_decay" => &mut spec.weight_decay,
            "clip" => &mut spec.clip,
            "momentum" => &mut spec.momentum,
            "sigma" => &mut spec.sigma,
            "mixup_alpha" => &mut spec.mixup_alpha,
            "init_scale" => &mut spec.init_scale,
            "lanczos_tol" => &mut spec.lanczos_tol,
            "outlier_threshold" => &mut spec.outlier_threshold,
            other => panic!("no float setting {other}"),
        };
        *slot = Some(v);
    }

    #[test]
    fn merging_is_field_by_field() {
        let file = RunSpec {
            lr: Some(f64::INFINITY),
            d: Some(3),
            ..RunSpec::default()
        };
        let flags = RunSpec {
            clip: Some(f64::NAN),
            ..RunSpec::default()
        };
        let m = file.overridden_by(&flags);
        assert!(m.lr == Some(f64::INFINITY) && m.clip.is_some_and(f64::is_nan) && m.d == Some(3));
    }

    #[test]
    fn label_column_without_data_names_both_keys() {
        let text = "label_column = \"y\"\n";
        let spec = RunSpec::from_toml(text, "run.toml").unwrap();
        let err = spec
            .check(Some(("run.toml", text)))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("run.toml:1: ")
                && err.contains("label_column")
                && err.contains("data is not set"),
            "{err}"
        );
    }

    #[test]
    fn sizes_have_upper_ranges() {
        for (key, spec) in [
            (
                "width",
                RunSpec {
                    width: Some(100_000_000_000),
                    ..RunSpec::default()
                },
            ),
            (
                "n",
                RunSpec {
                    n: Some(100_000_000_000),
                    ..RunSpec::default()
                },
            ),
            (
                "d",
                RunSpec {
                    d: Some(100_000_000_000),
                    ..RunSpec::default()
                },
            ),
            (
                "n_test",
                RunSpec {
                    n_test: Some(100_000_000_000),
                    ..RunSpec::default()
                },
            ),
        ] {
            let err = spec.check(None).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{key} = 100000000000 is out of range")),
                "{err}"
            );
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Content identity: the id follows the bytes of the data file, not its name.
    #[test]
    fn a_data_files_contents_decide_the_run_id_and_its_shape_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let rows = "0.1,0.2,0.3,1.0\n0.3,0.4,0.5,0.5\n0.5,0.1,0.2,0.2\n";
        let a = write(dir.path(), "a.csv", rows);
        let spec = |p: &Path| RunSpec {
            data: Some(p.to_path_buf()),
            epochs: Some(1),
            ..RunSpec::default()
        };
        let cfg = spec(&a).check(None).expect("a valid file run");
        assert_eq!(
            (cfg.spec.n, cfg.spec.d),
            (Some(3), Some(3)),
            "n and d are the file's"
        );
        assert_eq!((cfg.data_n(), cfg.shape.d), (3, 3));
        let hash = cfg.spec.data_sha256.clone().expect("hashed");
        assert_eq!(hash.len(), 64);
        let id = cfg.run_id();
        // The same bytes under another name (and folder): the same run.
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let b = write(&dir.path().join("sub"), "b.csv", rows);
        assert_eq!(spec(&b).check(None).unwrap().run_id(), id);
        // Other bytes under the same name: another run.
        write(
            dir.path(),
            "a.csv",
            "0.1,0.2,0.3,1.0\n0.3,0.4,0.5,0.5\n0.5,0.1,0.2,0.25\n",
        );
        let changed = spec(&a).check(None).unwrap();
        assert_ne!(changed.run_id(), id, "changed contents, same name");
        assert_ne!(changed.spec.data_sha256.as_deref(), Some(hash.as_str()));
        // A pinned hash refuses the changed file.
        let pinned = RunSpec {
            data_sha256: Some(hash.clone()),
            ..spec(&a)
        };
        let err = pinned.check(None).unwrap_err().to_string();
        assert!(
            err.contains("data_sha256") && err.contains("changed"),
            "{err}"
        );
        // The id of the checked spec is stable through its printed TOML.
        let printed = RunSpec::from_toml(&changed.spec.to_toml(), "printed").unwrap();
        assert_eq!(printed.check(None).unwrap().run_id(), changed.run_id());
        // n contradicting the file is refused; d contradicting it is the reader's error.
        let err = RunSpec {
            n: Some(10),
            ..spec(&a)
        }
        .check(None)
        .unwrap_err()
        .to_string();
        assert!(err.contains("n = 10") && err.contains("3 rows"), "{err}");
        assert!(RunSpec {
            d: Some(2),
            ..spec(&a)
        }
        .check(None)
        .is_err());
        // A test file and an initial model enter by content too.
        let t = write(dir.path(), "t.csv", rows);
        let with_test = RunSpec {
            test_data: Some(t.clone()),
            ..spec(&b)
        }
        .check(None)
        .unwrap();
        write(dir.path(), "t.csv", "0.1,0.2,0.3,9.0\n");
        let with_test2 = RunSpec {
            test_data: Some(t),
            ..spec(&b)
        }
        .check(None)
        .unwrap();
        assert_ne!(with_test.run_id(), with_test2.run_id());
    }
}
