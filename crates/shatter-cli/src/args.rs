//! Command-line arguments. Run settings come from `shatter_lab::spec::RunSpec`, so every TOML
//! key is also a flag with the same name (`sharpness_every` is `--sharpness-every`).

use clap::{Args, Parser, Subcommand};
use shatter_lab::spec::RunSpec;
use std::path::PathBuf;

/// shatter: a laboratory for the implicit bias of large-step gradient descent in two-layer ReLU
/// networks (edge of stability, flat minima, weighted variation norms, neural shattering).
#[derive(Parser, Debug)]
#[command(name = "shatter", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Print nothing but results and errors (no progress bars).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Worker threads; 0 uses every core. Results do not depend on it.
    #[arg(long, global = true, default_value_t = 0)]
    pub threads: usize,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train one network and write run.json, trajectory.csv, neurons.csv, model.npz, data.npz.
    #[command(allow_negative_numbers = true)]
    Train(TrainArgs),
    /// Measure a saved model: shattering statistics, weight function, weighted variation norm,
    /// flatness bound, Hessian spectrum.
    Inspect(InspectArgs),
    /// Print the rates the theory predicts for a dimension and a table of the population
    /// weight function g_P.
    Theory(TheoryArgs),
    /// Time a GD step, a Hessian-vector product and a sharpness estimate.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// A TOML file with run settings (the keys below); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output directory. Default: runs/<run id>.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the resolved settings as TOML and exit.
    #[arg(long)]
    pub print_spec: bool,
    /// Also write spectrum.csv: top eigenvalues and a stochastic-Lanczos-quadrature density.
    #[arg(long)]
    pub spectrum: bool,
    #[command(flatten)]
    pub spec: RunSpec,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The model: an .npz with arrays W (K x d), b (K), v (K), beta.
    pub model: PathBuf,
    /// The training data (CSV, .npy or .npz with X and y), e.g. a run's data.npz.
    #[arg(long)]
    pub data: PathBuf,
    /// Label column of a CSV or .npy data file (name or 0-based index). Default: the last.
    #[arg(long)]
    pub label_column: Option<String>,
    /// Loss the bound is evaluated for: square, mse or logistic.
    #[arg(long, default_value = "square")]
    pub loss: String,
    /// Hidden activation of the model: relu or gelu.
    #[arg(long, default_value = "relu")]
    pub activation: String,
    /// Directory for neurons.csv, spectrum.csv and inspect.json. Default: print only.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Number of top Hessian eigenvalues to report.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Relative tolerance of the certified Lanczos bound.
    #[arg(long, default_value_t = 1e-6)]
    pub lanczos_tol: f64,
}

#[derive(Args, Debug)]
pub struct TheoryArgs {
    /// Input dimension.
    #[arg(long, default_value_t = 5)]
    pub d: usize,
    /// Number of offsets t in the g_P table (evenly spaced in [0, 1]).
    #[arg(long, default_value_t = 11)]
    pub points: usize,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Input dimension (with --n and --width: one custom shape instead of the two presets,
    /// the paper's largest run d=10 n=512 K=2048 and the univariate d=1 n=30 K=1000).
    #[arg(long, requires_all = ["n", "width"])]
    pub d: Option<usize>,
    /// Samples.
    #[arg(long, requires_all = ["d", "width"])]
    pub n: Option<usize>,
    /// Width.
    #[arg(long, requires_all = ["d", "n"])]
    pub width: Option<usize>,
    /// f32 or f64.
    #[arg(long, default_value = "f32")]
    pub precision: String,
    /// Minimum seconds spent timing each operation.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}
