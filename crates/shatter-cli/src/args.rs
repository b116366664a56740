//! Command-line arguments. Run settings come from `shatter_lab::spec::RunSpec`, so every TOML
//! key is also a flag with the same name (`sharpness_every` is `--sharpness-every`).

use clap::{Args, Parser, Subcommand};
use shatter_lab::device::Device;
use shatter_lab::spec::RunSpec;
use std::path::PathBuf;

/// shatter: a laboratory for the implicit bias of large-step gradient descent in two-layer ReLU
/// networks (edge of stability, flat minima, weighted variation norms, neural shattering).
#[derive(Parser, Debug)]
#[command(name = "shatter", version, about, long_about = None, propagate_version = true, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The exit codes of every subcommand (`shatter --help` ends with them).
pub const EXIT_CODES: &str =
    "Exit codes (every command): 0 success, 1 failure (a file, the store, the device), \
2 usage error (a flag, a setting, a spec), 130 interrupted by Ctrl-C (what was finished is kept); \
`slurm submit --wait` exits with the merge job's exit code.";

/// The most worker threads `--threads` accepts.
pub const MAX_THREADS: usize = 1024;

/// Parses `--threads`: 0 (every core) to [`MAX_THREADS`].
fn parse_threads(text: &str) -> Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number of threads"))?;
    if n > MAX_THREADS {
        return Err(format!(
            "{n} threads is more than {MAX_THREADS}; use 0 for one per core"
        ));
    }
    Ok(n)
}

/// The longest `bench --seconds` accepted.
pub const MAX_BENCH_SECONDS: f64 = 3600.0;

/// Parses `bench --seconds`: finite, above 0 and at most [`MAX_BENCH_SECONDS`].
fn parse_bench_seconds(text: &str) -> Result<f64, String> {
    let s: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(s.is_finite() && s > 0.0 && s <= MAX_BENCH_SECONDS) {
        return Err(format!(
            "{s} is out of range; seconds must be above 0 and at most {MAX_BENCH_SECONDS}"
        ));
    }
    Ok(s)
}

/// Options every subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Print nothing but results and errors (no progress bars).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Worker threads, 0 to 1024; 0 uses every core. Results do not depend on it.
    #[arg(long, global = true, default_value_t = 0, value_parser = parse_threads)]
    pub threads: usize,
}

// Parsed once per process; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
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
    /// Run every point of an experiment spec into a results store; resumes where it stopped.
    Sweep(SweepArgs),
    /// Write a store's tables (runs, trajectories, neurons) as CSV or Parquet files.
    Export(ExportArgs),
    /// List a store's runs, optionally filtered (`--where "d=5 and lr=0.2"`).
    Runs(RunsArgs),
    /// Combine stores into one, refusing runs whose results disagree.
    Merge(MergeArgs),
    /// Reproduce an experiment of the papers (or `all`, or `headline`: shattering and cod) with
    /// its store, figures and an HTML report setting the measured outcome beside the paper's.
    Reproduce(ReproduceArgs),
    /// Write an HTML report (tables, figures, spec, provenance) for a results store.
    Report(ReportArgs),
    /// Matrix sensing: train an over-parameterised L R^T by gradient descent at one or several
    /// step sizes; report recovery error, balance, nuclear norm and sharpness against 2/lr.
    #[command(allow_negative_numbers = true)]
    Sensing(SensingArgs),
    /// Run a sweep on a Slurm cluster as a job array of shards and a merge job; resubmitting
    /// runs only what is missing.
    Slurm(SlurmArgs),
    /// The lower-bound construction: boundary-localised ReLU atoms a relu(u_j . x - t) on
    /// disjoint caps of the unit ball, per d: caps packed, each atom's |f|_Vg and L2 norm,
    /// atoms under a |f|_Vg budget, and the flatness bound on the atom network on a sample.
    /// Trains nothing.
    #[command(allow_negative_numbers = true)]
    Construct(ConstructArgs),
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
    /// Where to train: cpu, cuda (CUDA device 0) or cuda:N. The GPU trains full-batch gradient
    /// descent; a mini-batch (batch_size), mixup, krr or curvature (outlier_threshold,
    /// trace_products) run is refused there (train it on the CPU). Fails with an error when CUDA is not available. The device is recorded in run.json
    /// but is not part of the run id.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda|cuda:N")]
    pub device: Device,
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
    /// Input dimension (with --n and --width: one custom shape instead of the papers' shapes:
    /// d=1 n=32 K=128, d=3 n=128 K=512, d=5 n=512 K=2048 and d=1 n=512 K=1024 of the cod sweep,
    /// the shattering run d=10 n=512 K=2048, the univariate d=1 n=30 K=1000 and the
    /// under-parameterised d=5 n=1024 K=64).
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
    /// Hidden activation of the benchmarked network: relu or gelu.
    #[arg(long, default_value = "relu")]
    pub activation: String,
    /// Minimum seconds spent timing each operation, above 0 and at most 3600.
    #[arg(long, default_value_t = 2.0, value_parser = parse_bench_seconds)]
    pub seconds: f64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also time the JAX and PyTorch peers (bench/peer_jax.py, bench/peer_torch.py, embedded
    /// in the program) on the same shapes and threads, and the machine's fp32 limit (numpy
    /// sgemm), in this same run; with --threads 1 every peer is pinned to one core. Fails,
    /// naming the peer, when one cannot run.
    #[arg(long)]
    pub peers: bool,
    /// The Python interpreter that runs the peers (it needs numpy, jax and torch).
    #[arg(long, default_value = "python3", requires = "peers")]
    pub python: PathBuf,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The experiment spec: [base] run settings, [grid] axes, optional [[zip]] groups and
    /// [measure] (see examples/cod-quick.toml).
    pub spec: PathBuf,
    /// The results store (SQLite; created if missing). Models go in a folder beside it.
    #[arg(long, required_unless_present = "print_points")]
    pub store: Option<PathBuf>,
    /// Run only slice i of N (1-based, i/N): the points whose index is i-1 modulo N.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<shatter_lab::sweep::Shard>,
    /// Runs at once. Default: one per thread (see --threads), fewer when fewer runs remain.
    /// With a GPU --device, for the runs that stay on the CPU.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Where to train: cpu, cuda (CUDA device 0) or cuda:N. On a GPU the runs train together,
    /// packed into batches (see --batch-runs); mini-batch (batch_size), mixup, krr and
    /// curvature (outlier_threshold, trace_products) runs stay on the CPU (the sweep says how
    /// many). Fails with an error when CUDA is not available.
    /// Results go to the same store with the device recorded; it is not part of the run ids.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda|cuda:N")]
    pub device: Device,
    /// With a GPU --device: at most this many runs per batch (at least 1). Lower it when the
    /// device runs out of memory.
    #[arg(long, default_value_t = shatter_lab::sweep::DEFAULT_BATCH_RUNS)]
    pub batch_runs: usize,
    /// Print the expanded points (index, run id, axis values) as TSV and exit.
    #[arg(long)]
    pub print_points: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The results store.
    #[arg(long)]
    pub store: PathBuf,
    /// csv or parquet.
    #[arg(long, default_value = "csv")]
    pub format: shatter_lab::export::Format,
    /// Output folder for runs.*, trajectories.*, neurons.*.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct RunsArgs {
    /// The results store.
    #[arg(long)]
    pub store: PathBuf,
    /// Filter: clauses `key OP value` joined by `and`, OP one of = != < > <= >=; keys are run
    /// columns (config, summary, status, sweep).
    #[arg(long = "where", value_name = "EXPR")]
    pub filter: Option<String>,
    /// Columns to show, comma-separated. Default: run_id, status, the settings that vary, and
    /// the main metrics.
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Show at most this many runs.
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Stores to merge from.
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
    /// The store to merge into (created if missing).
    #[arg(long)]
    pub into: PathBuf,
}

#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// Experiment id: shattering, cod, dims, lr, underparam, gelu, cod-variants, univariate,
    /// univariate-interpolation, univariate-rate, no-bias, geometry, logistic, mixup, sphere,
    /// ood, lower-bound, curvature; `all` runs every one, `headline` runs shattering and cod.
    pub id: String,
    /// quick (the same phenomenon at reduced size, minutes on a laptop) or paper (the papers'
    /// sizes, epochs and seeds).
    #[arg(long, default_value = "quick")]
    pub scale: String,
    /// Output directory: one folder per experiment with results.db, spec.toml, figures/ and
    /// index.html.
    #[arg(long, default_value = "reproduce")]
    pub out: PathBuf,
    /// Print the experiment's sweep spec (TOML) and exit.
    #[arg(long)]
    pub print_spec: bool,
    /// Runs at once (default: one per core). With a GPU --device, for the runs that stay on
    /// the CPU.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Where to train: cpu, cuda (CUDA device 0) or cuda:N. On a GPU the runs train together,
    /// packed into batches (see --batch-runs); mini-batch (batch_size), mixup, krr and
    /// curvature (outlier_threshold, trace_products) runs stay on the CPU (the sweep says how
    /// many). Fails with an error when CUDA is not available.
    /// Results go to the same store with the device recorded; it is not part of the run ids.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda|cuda:N")]
    pub device: Device,
    /// With a GPU --device: at most this many runs per batch (at least 1). Lower it when the
    /// device runs out of memory.
    #[arg(long, default_value_t = shatter_lab::sweep::DEFAULT_BATCH_RUNS)]
    pub batch_runs: usize,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The results store.
    #[arg(long)]
    pub store: PathBuf,
    /// Output directory for index.html and figures/.
    #[arg(long)]
    pub out: PathBuf,
    /// Analyse the runs as this experiment of `shatter reproduce` (for its comparison table).
    #[arg(long)]
    pub experiment: Option<String>,
    /// The sweep spec the store was made from, shown in the report.
    #[arg(long)]
    pub spec: Option<PathBuf>,
}

/// `shatter sensing`. The defaults are a small over-parameterised problem: a rank-2 20 x 20
/// truth, rank-10 factors ((20 + 20) 10 = 400 parameters) and m = 4 r (d1 + d2) = 320
/// measurements, fewer than the 400 entries of the matrix, so the interpolating `L R^T` form a
/// whole affine family and most of them miss the truth. From a sizeable unbalanced
/// initialisation (0.3 per entry), 10000 steps at lr 0.02 end on a sharp, unbalanced iterate
/// that has not recovered `M*` (relative error about 5e-2, sharpness about 8), and at lr 0.25
/// on a flatter, more balanced one that has (about 2e-5, sharpness about 3.7 < 2/lr = 8); at
/// seed 0, a few seconds. Step sizes from about 0.3 on diverge from this initialisation.
#[derive(Args, Debug)]
pub struct SensingArgs {
    /// Rows d1 of the truth M*. At least 1.
    #[arg(long, default_value_t = 20)]
    pub d1: usize,
    /// Columns d2 of the truth M*. At least 1.
    #[arg(long, default_value_t = 20)]
    pub d2: usize,
    /// Rank r of the truth. Between 1 and min(d1, d2).
    #[arg(long, default_value_t = 2)]
    pub rank: usize,
    /// Number of Gaussian measurements m. Default 4 r (d1 + d2); at least 1.
    #[arg(long)]
    pub measurements: Option<usize>,
    /// Noise standard deviation of each observation (M* has unit Frobenius norm). At least 0.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Rank k of the factors L (d1 x k) and R (d2 x k); over-parameterised when k > rank.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Step sizes, comma-separated; one gradient-descent run each, from the same
    /// initialisation. Positive.
    #[arg(long, value_delimiter = ',', default_values_t = [0.02, 0.25])]
    pub lr: Vec<f64>,
    /// Gradient steps per run.
    #[arg(long, default_value_t = 10000)]
    pub epochs: usize,
    /// Initial factors have i.i.d. N(0, init_scale^2) entries. At least 0.
    #[arg(long, default_value_t = 0.3)]
    pub init_scale: f64,
    /// Seed of the truth, the measurements, the noise, the initialisation and Lanczos.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory for sensing.json and trajectory.csv.
    #[arg(long, default_value = "sensing")]
    pub out: PathBuf,
}

/// For each input dimension d: a seeded greedy packing of cap directions u_j (pairwise angle
/// at least the cap's angular diameter 2 arccos t, so the caps {u_j . x > t} of the unit ball
/// are disjoint), the closed forms for x ~ Uniform(B^d) (one atom's |f|_Vg = a g_P(t) and
/// L2(P) norm, the pairwise separation, the spherical-cap bounds on the packing), the atoms
/// that fit under the --budget on |f|_Vg, and on --n sample points the atom network's
/// empirical |f|_Vg, its sharpness (Lanczos) and the flatness bound of Theorem 3.2. Writes
/// construction.csv and construction.json (one row per d) and atoms_d<d>.csv (one row per
/// atom: sign, direction u_1..u_d, |f|_Vg under the population and the empirical weight);
/// prints a table. At the defaults, seconds.
#[derive(Args, Debug)]
pub struct ConstructArgs {
    /// Input dimensions, comma-separated; each at least 1.
    #[arg(long, value_delimiter = ',', default_values_t = [2usize, 3, 4, 5, 6])]
    pub d: Vec<usize>,
    /// Offset t of every atom, in the open interval (0, 1); the cap height is 1 - t.
    #[arg(long, default_value_t = 0.9)]
    pub offset: f64,
    /// Amplitude a of every atom (output weight; ||w|| = 1). Finite, > 0.
    #[arg(long, default_value_t = 1.0)]
    pub amplitude: f64,
    /// Budget on the network's |f|_Vg under the population weight. Finite, > 0.
    #[arg(long, default_value_t = 1.0)]
    pub budget: f64,
    /// The greedy packing stops after this many consecutive rejected candidates; at least 1.
    /// Larger packs closer to a maximal packing (the free area left is about 1/patience).
    #[arg(long, default_value_t = 2000)]
    pub patience: usize,
    /// The greedy packing stops at this many caps; at least 1.
    #[arg(long, default_value_t = 200_000)]
    pub max_caps: usize,
    /// Sample points (uniform in the ball) for the empirical weight and the flatness check of
    /// the network of the atoms under the budget; at least 1.
    #[arg(long, default_value_t = 512)]
    pub n: usize,
    /// Seed of the packing, the atoms' signs and the sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory for construction.csv, construction.json and atoms_d<d>.csv.
    #[arg(long, default_value = "construct")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct SlurmArgs {
    #[command(subcommand)]
    pub command: SlurmCommand,
}

#[derive(Subcommand, Debug)]
pub enum SlurmCommand {
    /// Submit a sweep as a job array of --tasks shards, each into its own store beside
    /// --store, and a merge job (after the array, whatever its end) that merges them into
    /// --store; prints the job ids. Submitted again, it runs only the shards with points
    /// missing.
    Submit(SlurmSubmitArgs),
    /// Print the two batch scripts `submit` would submit, without submitting them.
    Script(SlurmJobArgs),
    /// Per shard: points, merged into the store, stored (merged or in the shard's store),
    /// failed, pending, and the task's state while Slurm still lists it.
    Status(SlurmStatusArgs),
}

#[derive(Args, Debug)]
pub struct SlurmJobArgs {
    /// The experiment spec (as for `shatter sweep`).
    pub spec: PathBuf,
    /// The store the shards are merged into. The shard stores, scripts, logs and slurm.json go
    /// in a folder beside it (results.db: results.slurm/). On a file system every node sees.
    #[arg(long)]
    pub store: PathBuf,
    /// Array tasks, one shard each (`--shard i/N` of `shatter sweep`); at most the number of
    /// points. Keep it when resubmitting.
    #[arg(long)]
    pub tasks: usize,
    /// Partition (sbatch --partition) of every job.
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit of every job (sbatch --time: minutes, HH:MM:SS, D-HH:MM, ...).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs of each array task; its sweep runs that many threads (SLURM_CPUS_PER_TASK).
    #[arg(long, default_value_t = 1)]
    pub cpus_per_task: usize,
    /// Memory per node of every job (sbatch --mem: 4G, 500M, ...).
    #[arg(long)]
    pub mem: Option<String>,
    /// A further sbatch option for every job, as one word (--sbatch-arg=--account=lab);
    /// repeatable.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub sbatch_arg: Vec<String>,
    /// The shatter binary the jobs run, by a path valid on the nodes. Default: this program.
    #[arg(long, value_name = "PATH")]
    pub shatter: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SlurmSubmitArgs {
    #[command(flatten)]
    pub job: SlurmJobArgs,
    /// Wait for the merge job to end and exit with its exit code (1 when it was cancelled or
    /// timed out; it fails when points are missing).
    #[arg(long)]
    pub wait: bool,
}

#[derive(Args, Debug)]
pub struct SlurmStatusArgs {
    /// The store given to `shatter slurm submit`.
    #[arg(long)]
    pub store: PathBuf,
    /// Fail (exit code 1) unless every point of the sweep is in the store.
    #[arg(long)]
    pub require_complete: bool,
}
