//! Training loops (SCIENCE.md section 2): full-batch gradient descent with gradient-norm clipping
//! and weight decay in PyTorch's order, optional heavy-ball momentum and mini-batches, with the
//! loss, test error and sharpness recorded along the way. A run that diverges (see
//! [`Divergence`] for the two rules) stops with [`RunStatus::Diverged`]; that is a result, not an
//! error.

use crate::data::Dataset;
use crate::float::Float;
use crate::grad::{backward, forward, loss_and_gradient_fused, mean_squared_error, Workspace};
use crate::hessian::hvp::{HessianOperator, SharpnessEstimate, SharpnessTracker};
use crate::hessian::lanczos::{LanczosOptions, LanczosWorkspace};
use crate::hessian::outliers::{eigenvalues_above, OutlierOptions, Outliers};
use crate::hessian::trace::{hutch_plus_plus, TraceEstimate};
use crate::loss::Loss;
use crate::model::Network;
use crate::rng::{stream, Stream};
use rand::Rng;

/// Settings of the optimiser and of what is recorded. Checked by the caller (the lab crate's
/// config); the loop assumes finite, in-range values.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Number of epochs (passes over the data; one step each for full-batch GD).
    pub epochs: usize,
    /// Step size `eta`.
    pub lr: f64,
    /// Weight decay `lambda`, applied to every parameter.
    pub weight_decay: f64,
    /// Gradient-norm clipping threshold `c`; `None` turns clipping off.
    pub clip: Option<f64>,
    /// Heavy-ball momentum `mu` as in PyTorch's SGD (`0` for plain GD).
    pub momentum: f64,
    /// Mini-batch size; `None` for full-batch GD.
    pub batch_size: Option<usize>,
    /// The training loss.
    pub loss: Loss,
    /// Measure sharpness every this many epochs (`0`: only at the end).
    pub sharpness_every: usize,
    /// Evaluate the test error every this many epochs (`0`: only at the end).
    pub test_every: usize,
    /// Write a trajectory row every this many epochs (the first and last epochs always).
    pub log_every: usize,
    /// Lanczos settings for sharpness.
    pub lanczos: LanczosOptions,
    /// Mixup: train each step on inputs and labels mixed with a random partner,
    /// `lambda x_i + (1 - lambda) x_j` with `lambda ~ Beta(alpha, alpha)`; `None` turns it off.
    /// Recorded losses stay those of the original data.
    pub mixup_alpha: Option<f64>,
    /// Seed of the run (mini-batch order, mixup draws).
    pub seed: u64,
}

/// Curvature measured beyond sharpness at every sharpness record (the last epoch included):
/// the Hessian eigenvalues above a threshold and the trace. Off by default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CurvatureOptions {
    /// Track every eigenvalue above `outlier_threshold / lr` (the threshold in units of
    /// `1/eta`, e.g. 1.5), with bounds and a miss certificate; `None` turns it off.
    pub outlier_threshold: Option<f64>,
    /// Hutch++ operator products per trace estimate; 0 turns the trace off, otherwise at least 4.
    pub trace_products: usize,
}

/// The most outliers tracked per record (more are reported as an incomplete count).
pub const MAX_OUTLIERS: usize = 64;

impl CurvatureOptions {
    /// Whether anything is measured.
    pub fn enabled(&self) -> bool {
        self.outlier_threshold.is_some() || self.trace_products > 0
    }
}

/// Curvature at one sharpness record (see [`CurvatureOptions`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CurvatureRecord {
    /// Epochs completed.
    pub epoch: usize,
    /// The eigenvalues above the threshold, with bounds and the miss certificate (their
    /// `vectors` are dropped once used as the next record's warm start).
    pub outliers: Option<Outliers>,
    /// The Hutch++ trace estimate with its standard error.
    pub trace: Option<TraceEstimate>,
}

/// What happens at one epoch of a run (see [`TrainConfig::due`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    /// The run's last epoch (always recorded, with sharpness and test error).
    pub last: bool,
    /// A trajectory row is written.
    pub logged: bool,
    /// Sharpness is measured.
    pub sharpness: bool,
    /// The test error is measured.
    pub test: bool,
}

impl TrainConfig {
    /// What is recorded at `epoch`: a row every `log_every` epochs and whenever sharpness
    /// (every `sharpness_every`) or test error (every `test_every`) is measured, and everything
    /// at the last epoch. Every backend follows this schedule.
    pub fn due(&self, epoch: usize) -> Due {
        let last = epoch == self.epochs;
        let sharpness =
            last || (self.sharpness_every > 0 && epoch.is_multiple_of(self.sharpness_every));
        let test = last || (self.test_every > 0 && epoch.is_multiple_of(self.test_every));
        Due {
            last,
            logged: last || epoch.is_multiple_of(self.log_every.max(1)) || sharpness || test,
            sharpness,
            test,
        }
    }

    /// Lanczos settings for a sharpness estimate: along the way only the top eigenvalues; the
    /// smallest (slow to certify) at the last epoch.
    pub fn lanczos_at(&self, last: bool) -> LanczosOptions {
        if last {
            self.lanczos.clone()
        } else {
            LanczosOptions {
                smallest: false,
                ..self.lanczos.clone()
            }
        }
    }
}

/// A run whose loss has stayed above this many times its epoch-0 value for
/// [`BLOW_UP_EPOCHS`] epochs, or ends above it, has diverged ([`Divergence::BlowUp`]).
pub const BLOW_UP_FACTOR: f64 = 10.0;

/// How many epochs in a row the loss must stay above [`BLOW_UP_FACTOR`] times its epoch-0 value
/// for a run to be stopped as diverged. A catapult of an honest edge-of-stability run stays
/// above for a few epochs (at most 3 in the reproduce experiments' quick runs, whose spikes reach
/// a thousand times the initial loss) and then falls below its start.
pub const BLOW_UP_EPOCHS: usize = 100;

/// Why a run was declared diverged. Every backend applies the same two rules to the full-batch
/// loss `L_t` of each epoch `t` (before that epoch's step):
///
/// - [`Divergence::NonFinite`]: `L_t` or the gradient norm is NaN or infinite (for mini-batches,
///   also the loss of any batch);
/// - [`Divergence::BlowUp`]: `L_t > BLOW_UP_FACTOR * L_0` at every evaluated epoch of the last
///   [`BLOW_UP_EPOCHS`] epochs, or at the run's last epoch. Such a run is finite but has left the
///   region it started in and not come back (for example, most neurons dead and the output far
///   off the labels). The epoch recorded is the one at which the rule fired.
///
/// `L_0` is the loss at the run's own start, so a run started from a near-perfect fit
/// (`--init-from`) is held to that fit. Mini-batch runs evaluate the full loss only at recorded
/// epochs; the streak counts those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Divergence {
    /// The loss or the gradient norm became NaN or infinite.
    NonFinite,
    /// The loss stayed above [`BLOW_UP_FACTOR`] times its initial value.
    BlowUp,
}

impl Divergence {
    /// The rule in words, as `run.json`'s `diverged_rule` and the store record it:
    /// `non-finite loss` or `loss above 10x its initial value`.
    pub fn rule(&self) -> &'static str {
        match self {
            Divergence::NonFinite => "non-finite loss",
            Divergence::BlowUp => "loss above 10x its initial value",
        }
    }
}

/// Whether `loss` is above [`BLOW_UP_FACTOR`] times `initial` (the rule of
/// [`Divergence::BlowUp`] at one epoch).
pub fn above_blow_up(loss: f64, initial: f64) -> bool {
    loss > BLOW_UP_FACTOR * initial
}

/// The divergence rules of [`Divergence`] over one run: fed the full-batch loss of every
/// evaluated epoch in order, it says when the run has diverged. Backends that check on a
/// device keep the same state there (the initial loss and the epoch the current streak began).
#[derive(Clone, Debug, Default)]
pub struct DivergenceWatch {
    initial: Option<f64>,
    since: Option<usize>,
}

impl DivergenceWatch {
    /// A watch for a run that has not started.
    pub fn new() -> Self {
        Self::default()
    }

    /// The loss of the first epoch seen (epoch 0), once seen.
    pub fn initial(&self) -> Option<f64> {
        self.initial
    }

    /// Checks the full-batch `loss` and `grad_norm` at `epoch` (`last`: the run's last epoch).
    pub fn check(
        &mut self,
        epoch: usize,
        loss: f64,
        grad_norm: f64,
        last: bool,
    ) -> Option<Divergence> {
        if !(loss.is_finite() && grad_norm.is_finite()) {
            return Some(Divergence::NonFinite);
        }
        let initial = *self.initial.get_or_insert(loss);
        if !above_blow_up(loss, initial) {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(epoch);
        (last || epoch + 1 - since >= BLOW_UP_EPOCHS).then_some(Divergence::BlowUp)
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// All epochs ran.
    Completed,
    /// The run diverged at this epoch (see [`Divergence`]).
    Diverged {
        /// The epoch at which a divergence rule fired (the run's last record).
        epoch: usize,
        /// Which rule.
        rule: Divergence,
    },
    /// The caller asked to stop at this epoch.
    Interrupted {
        /// Epochs completed.
        epoch: usize,
    },
}

impl RunStatus {
    /// Epochs run by a run of `epochs` epochs that ended this way.
    pub fn epochs_run(&self, epochs: usize) -> usize {
        match *self {
            RunStatus::Completed => epochs,
            RunStatus::Diverged { epoch, .. } | RunStatus::Interrupted { epoch } => epoch,
        }
    }

    /// The rule that declared the run diverged, if it did.
    pub fn divergence(&self) -> Option<Divergence> {
        match *self {
            RunStatus::Diverged { rule, .. } => Some(rule),
            _ => None,
        }
    }

    /// `completed`, `diverged` or `interrupted`.
    pub fn name(&self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Diverged { .. } => "diverged",
            RunStatus::Interrupted { .. } => "interrupted",
        }
    }
}

/// One trajectory row: the state at the parameters after `epoch` epochs.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Epochs completed.
    pub epoch: usize,
    /// Full-batch training loss.
    pub train_loss: f64,
    /// Mean squared error against the test set's labels, when there is a test set.
    pub test_mse: Option<f64>,
    /// Top Hessian eigenvalue, when measured at this epoch.
    pub sharpness: Option<f64>,
    /// Certified error bound of `sharpness`.
    pub sharpness_err: Option<f64>,
    /// Norm of the full-batch gradient of the loss (before clipping and decay).
    pub grad_norm: f64,
    /// Whether clipping scaled this epoch's step down (the first step's, for mini-batches).
    pub clipped: bool,
}

/// What the caller's observer returns after each record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this record; the run ends as interrupted.
    Stop,
}

/// The result of [`train`].
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// How the run ended.
    pub status: RunStatus,
    /// Epochs actually run.
    pub epochs_run: usize,
    /// The recorded rows, in epoch order; the last is the final state.
    pub trajectory: Vec<Record>,
    /// Full-batch loss at the final parameters.
    pub final_loss: f64,
    /// Sharpness estimate at the final parameters (absent for a diverged run).
    pub final_sharpness: Option<SharpnessEstimate>,
    /// Number of Hessian-vector products spent on sharpness (and on curvature, when measured).
    pub hvp_count: usize,
    /// Curvature at each sharpness record, when [`train_with_curvature`] measured it.
    pub curvature: Vec<CurvatureRecord>,
}

/// Measures [`CurvatureOptions`] along a run, warm-starting each outlier search from the
/// previous record's vectors. Owns its scratch (a Lanczos basis of `max_iter x dim`).
struct CurvatureTracker<F> {
    options: CurvatureOptions,
    lanczos: LanczosWorkspace,
    input: Vec<F>,
    output: Vec<F>,
    warm: Vec<Vec<f64>>,
}

impl<F: Float> CurvatureTracker<F> {
    fn new(net: &Network<F>, cfg: &TrainConfig, options: CurvatureOptions) -> Self {
        let dim = net.shape.trainable();
        let steps = if options.outlier_threshold.is_some() {
            cfg.lanczos.max_iter.min(dim)
        } else {
            0
        };
        CurvatureTracker {
            options,
            lanczos: LanczosWorkspace::new(dim, steps),
            input: vec![F::zero(); net.shape.len()],
            output: vec![F::zero(); net.shape.len()],
            warm: Vec::new(),
        }
    }

    /// Curvature at `net` (`ws` holds a forward pass there) at `epoch`, and the products used.
    fn measure(
        &mut self,
        net: &Network<F>,
        data: &Dataset<F>,
        ws: &mut Workspace<F>,
        epoch: usize,
        cfg: &TrainConfig,
    ) -> (CurvatureRecord, usize) {
        // One seed per record, so a record's probes do not depend on the others'.
        let seed = cfg
            .lanczos
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(epoch as u64 + 1);
        let mut op = HessianOperator::new(net, data, ws, &mut self.input, &mut self.output);
        let outliers = self.options.outlier_threshold.and_then(|units| {
            let opts = OutlierOptions {
                threshold: units / cfg.lr,
                max_count: MAX_OUTLIERS,
                rel_tol: cfg.lanczos.rel_tol,
                max_iter: cfg.lanczos.max_iter,
                seed,
            };
            eigenvalues_above(&mut op, &opts, &self.warm, &mut self.lanczos)
                .ok()
                .map(|mut o| {
                    self.warm = std::mem::take(&mut o.vectors);
                    o
                })
        });
        let trace = (self.options.trace_products > 0)
            .then(|| hutch_plus_plus(&mut op, self.options.trace_products, seed).ok())
            .flatten();
        let products = op.products;
        (
            CurvatureRecord {
                epoch,
                outliers,
                trace,
            },
            products,
        )
    }
}

/// Trains `net` on `data` in place, as [`train_with_curvature`] without curvature.
pub fn train<F: Float>(
    net: &mut Network<F>,
    data: &Dataset<F>,
    test: Option<&Dataset<F>>,
    cfg: &TrainConfig,
    observe: &mut dyn FnMut(&Record) -> Control,
) -> TrainOutcome {
    train_with_curvature(net, data, test, cfg, &CurvatureOptions::default(), observe)
}

/// Trains `net` on `data` in place, measuring `curvature` at every sharpness record (into
/// [`TrainOutcome::curvature`]; its products count in `hvp_count`).
///
/// Each epoch of full-batch GD computes `g = grad L`, scales it by
/// `min(1, c / (||g|| + 1e-6))`, then sets `theta <- theta - eta (g + lambda theta)` (with momentum:
/// `m <- mu m + g + lambda theta`, `theta <- theta - eta m`). Mini-batch SGD does the same per
/// batch, in an order drawn from the run's `Batches` stream. The run stops as diverged by the
/// rules of [`Divergence`]. `observe` sees every record and can stop the run. Allocates its scratch once; the steps allocate nothing.
pub fn train_with_curvature<F: Float>(
    net: &mut Network<F>,
    data: &Dataset<F>,
    test: Option<&Dataset<F>>,
    cfg: &TrainConfig,
    curvature: &CurvatureOptions,
    observe: &mut dyn FnMut(&Record) -> Control,
) -> TrainOutcome {
    let shape = net.shape;
    let mut curvature_tracker = curvature
        .enabled()
        .then(|| CurvatureTracker::new(net, cfg, curvature.clone()));
    let mut curvature_records = Vec::new();
    let p = shape.len();
    let mut ws = Workspace::new(shape, data.n);
    let mut test_ws = test.map(|t| Workspace::new(shape, t.n));
    let mut grad = vec![F::zero(); p];
    let mut velocity = vec![F::zero(); if cfg.momentum > 0.0 { p } else { 0 }];
    let mut tracker = SharpnessTracker::<F>::new(shape, cfg.lanczos.clone());
    let mut hvp_count = 0usize;
    let mini = cfg.batch_size.filter(|&b| b < data.n);
    // Mini-batches and mixup train on a copy of (part of) the data, refilled every step.
    let batch = if mini.is_some() || cfg.mixup_alpha.is_some() {
        Some(mini.unwrap_or(data.n))
    } else {
        None
    };
    let mut batch_data = batch.map(|b| Dataset {
        n: b,
        d: data.d,
        x: vec![F::zero(); b * data.d],
        y: vec![F::zero(); b],
    });
    let mut batch_ws = batch.map(|b| Workspace::new(shape, b));
    let mut order: Vec<usize> = (0..data.n).collect();
    let mut batch_rng = stream(cfg.seed, Stream::Batches);
    let mut mixup_rng = stream(cfg.seed, Stream::Mixup);
    let mixup = cfg
        .mixup_alpha
        .and_then(|a| rand_distr::Beta::new(a, a).ok());
    let mut partner: Vec<usize> = (0..batch.unwrap_or(0)).collect();
    let mut trajectory = Vec::new();
    let mut status = RunStatus::Completed;
    let mut epoch = 0;
    let mut final_sharpness = None;
    let mut watch = DivergenceWatch::new();

    loop {
        let Due {
            last,
            logged,
            sharpness: sharp_now,
            test: test_now,
        } = cfg.due(epoch);
        let full_grad_needed = batch.is_none() || logged;
        let (loss, grad_norm) = if full_grad_needed {
            // A sharpness estimate reads the stored pre-activations; other epochs stream.
            let loss = if sharp_now {
                let loss = forward(net, data, cfg.loss, &mut ws);
                backward(net, data, &mut ws, &mut grad);
                loss
            } else {
                loss_and_gradient_fused(net, data, cfg.loss, &mut ws, &mut grad)
            };
            (loss, norm(&grad))
        } else {
            (f64::NAN, f64::NAN)
        };
        let diverged = if full_grad_needed {
            watch.check(epoch, loss, grad_norm, last)
        } else {
            None
        };
        if let Some(rule) = diverged {
            status = RunStatus::Diverged { epoch, rule };
            trajectory.push(Record {
                epoch,
                train_loss: loss,
                test_mse: None,
                sharpness: None,
                sharpness_err: None,
                grad_norm,
                clipped: false,
            });
            break;
        }
        let clip_scale = clip_factor(cfg.clip, grad_norm);
        if logged {
            let mut rec = Record {
                epoch,
                train_loss: loss,
                test_mse: None,
                sharpness: None,
                sharpness_err: None,
                grad_norm,
                clipped: clip_scale < 1.0,
            };
            if let (true, Some(t), Some(tws)) = (test_now, test, test_ws.as_mut()) {
                rec.test_mse = Some(mean_squared_error(net, t, tws));
            }
            if sharp_now {
                let opts = cfg.lanczos_at(last);
                if let Ok(est) = tracker.measure_with(net, data, &mut ws, &opts) {
                    hvp_count += est.products;
                    rec.sharpness = Some(est.sharpness);
                    rec.sharpness_err = Some(est.error_bound);
                    if last {
                        final_sharpness = Some(est);
                    }
                }
                if let Some(tracker) = curvature_tracker.as_mut() {
                    let (record, products) = tracker.measure(net, data, &mut ws, epoch, cfg);
                    hvp_count += products;
                    curvature_records.push(record);
                }
            }
            trajectory.push(rec);
            if !last && observe(trajectory.last().expect("just pushed")) == Control::Stop {
                status = RunStatus::Interrupted { epoch };
                break;
            }
        }
        if last {
            observe(
                trajectory
                    .last()
                    .expect("the last epoch is always recorded"),
            );
            break;
        }
        let mut diverged_in_batch = false;
        match (batch, batch_data.as_mut(), batch_ws.as_mut()) {
            (Some(b), Some(bd), Some(bws)) => {
                if mini.is_some() {
                    shuffle(&mut order, &mut batch_rng);
                }
                for start in (0..data.n).step_by(b) {
                    let idx = &order[start..(start + b).min(data.n)];
                    bd.n = idx.len();
                    for (r, &i) in idx.iter().enumerate() {
                        bd.x[r * data.d..(r + 1) * data.d].copy_from_slice(data.row(i));
                        bd.y[r] = data.y[i];
                    }
                    if let Some(beta) = &mixup {
                        mix(bd, idx, data, &mut partner, beta, &mut mixup_rng);
                    }
                    let bl = loss_and_gradient_fused(net, bd, cfg.loss, bws, &mut grad);
                    if !bl.is_finite() {
                        diverged_in_batch = true;
                        break;
                    }
                    let scale = clip_factor(cfg.clip, norm(&grad));
                    step(net, &grad, &mut velocity, scale, cfg);
                }
            }
            _ => step(net, &grad, &mut velocity, clip_scale, cfg),
        }
        if diverged_in_batch {
            status = RunStatus::Diverged {
                epoch,
                rule: Divergence::NonFinite,
            };
            let rec = Record {
                epoch,
                train_loss: f64::NAN,
                test_mse: None,
                sharpness: None,
                sharpness_err: None,
                grad_norm: f64::NAN,
                clipped: false,
            };
            trajectory.push(rec);
            break;
        }
        epoch += 1;
    }

    let epochs_run = status.epochs_run(cfg.epochs);
    let final_loss = trajectory.last().map_or(f64::NAN, |r| r.train_loss);
    TrainOutcome {
        status,
        epochs_run,
        trajectory,
        final_loss,
        final_sharpness,
        hvp_count,
        curvature: curvature_records,
    }
}

/// The Euclidean norm of `v`, accumulated in `f64` (the `grad_norm` of a [`Record`]): entry `i`
/// goes to accumulator `i mod 8` in order, and the accumulators are added pairwise, a fixed order
/// whatever the thread count. One running sum would be a chain of `len` dependent additions,
/// about a third of a training step at K = 1000, n = 30 (BENCHMARKS.md).
pub fn norm<F: Float>(v: &[F]) -> f64 {
    const ACC: usize = 8;
    let mut acc = [0.0f64; ACC];
    let chunks = v.chunks_exact(ACC);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            let x = x.to64();
            *a += x * x;
        }
    }
    for (a, x) in acc.iter_mut().zip(rest) {
        let x = x.to64();
        *a += x * x;
    }
    let quads = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    ((quads[0] + quads[2]) + (quads[1] + quads[3])).sqrt()
}

/// PyTorch's `clip_grad_norm_` factor `min(1, c / (||g|| + 1e-6))`.
pub fn clip_factor(clip: Option<f64>, grad_norm: f64) -> f64 {
    match clip {
        Some(c) if grad_norm.is_finite() => (c / (grad_norm + 1e-6)).min(1.0),
        _ => 1.0,
    }
}

/// One update of `net` by the gradient `grad` in PyTorch's order: the gradient scaled by
/// `clip_scale` (when below 1), weight decay, momentum when `velocity` is not empty, and the
/// projection that keeps the `b` block at zero without biases. Device backends follow it.
pub fn step<F: Float>(
    net: &mut Network<F>,
    grad: &[F],
    velocity: &mut [F],
    clip_scale: f64,
    cfg: &TrainConfig,
) {
    let (eta, lambda, scale) = (F::of(cfg.lr), F::of(cfg.weight_decay), F::of(clip_scale));
    let clipping = clip_scale < 1.0;
    if velocity.is_empty() {
        for (p, &g) in net.params.iter_mut().zip(grad) {
            let g = if clipping { g * scale } else { g };
            *p -= eta * (g + lambda * *p);
        }
    } else {
        let mu = F::of(cfg.momentum);
        for ((p, &g), m) in net.params.iter_mut().zip(grad).zip(velocity.iter_mut()) {
            let g = if clipping { g * scale } else { g };
            *m = mu * *m + g + lambda * *p;
            *p -= eta * *m;
        }
    }
    let shape = net.shape;
    shape.project(&mut net.params);
}

/// Replaces the batch by its mixup: sample `r` becomes `lambda_r` times itself plus
/// `1 - lambda_r` times a partner drawn by a random permutation of the batch.
fn mix<F: Float, R: Rng>(
    bd: &mut Dataset<F>,
    idx: &[usize],
    data: &Dataset<F>,
    partner: &mut [usize],
    beta: &rand_distr::Beta<f64>,
    rng: &mut R,
) {
    use rand_distr::Distribution;
    let m = idx.len();
    let partner = &mut partner[..m];
    for (r, p) in partner.iter_mut().enumerate() {
        *p = r;
    }
    shuffle(partner, rng);
    let d = data.d;
    for r in 0..m {
        let lam = beta.sample(rng);
        let (l, k) = (F::of(lam), F::of(1.0 - lam));
        let j = idx[partner[r]];
        for c in 0..d {
            bd.x[r * d + c] = l * bd.x[r * d + c] + k * data.x[j * d + c];
        }
        bd.y[r] = l * bd.y[r] + k * data.y[j];
    }
}

fn shuffle<R: Rng>(order: &mut [usize], rng: &mut R) {
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_norm_is_the_running_sum_up_to_rounding() {
        assert_eq!(super::norm::<f64>(&[]), 0.0);
        assert_eq!(super::norm(&[3.0f64, 4.0]), 5.0);
        // Every remainder length, both precisions, against one running sum in f64.
        for len in [1usize, 7, 8, 9, 15, 16, 17, 385, 3001] {
            let v: Vec<f64> = (0..len)
                .map(|i| ((i * 7919) % 101) as f64 / 37.0 - 1.3)
                .collect();
            let naive = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            let got = super::norm(&v);
            assert!(
                (got - naive).abs() <= 1e-14 * naive,
                "len {len}: {got} vs {naive}"
            );
            let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            let naive32 = v32.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            let got32 = super::norm(&v32);
            assert!((got32 - naive32).abs() <= 1e-14 * naive32, "f32 len {len}");
        }
    }

    use super::*;

    #[test]
    fn a_catapult_is_not_a_divergence_but_a_plateau_far_above_the_start_is() {
        // A catapult: 1000x the start for 3 epochs, then below it (as the `lr` quick runs do).
        let mut watch = DivergenceWatch::new();
        let catapult = [0.6, 2.0, 530.0, 17.8, 0.68, 0.6];
        for (epoch, &loss) in catapult.iter().enumerate() {
            assert_eq!(watch.check(epoch, loss, 1.0, false), None, "epoch {epoch}");
        }
        for epoch in 6..1000 {
            assert_eq!(watch.check(epoch, 0.3, 1.0, epoch == 999), None);
        }
        // A plateau at 100x the start: diverged once it has lasted BLOW_UP_EPOCHS epochs.
        let mut watch = DivergenceWatch::new();
        assert_eq!(watch.check(0, 0.79, 1.0, false), None);
        assert_eq!(watch.check(1, 0.68, 1.0, false), None);
        let fired = (2..1000)
            .find(|&e| watch.check(e, 81.7, 1.0, false).is_some())
            .expect("the plateau is caught");
        assert_eq!(fired, 2 + BLOW_UP_EPOCHS - 1);
        // A run that ends far above its start is diverged at its last epoch.
        let mut watch = DivergenceWatch::new();
        assert_eq!(watch.check(0, 1.0, 1.0, false), None);
        assert_eq!(
            watch.check(1, 11.0, 1.0, true),
            Some(Divergence::BlowUp),
            "last epoch"
        );
        // The rule's words follow the constant.
        assert!(Divergence::BlowUp
            .rule()
            .contains(&format!("above {BLOW_UP_FACTOR}x")));
        // Non-finite values.
        let mut watch = DivergenceWatch::new();
        assert_eq!(
            watch.check(0, 1.0, f64::INFINITY, false),
            Some(Divergence::NonFinite)
        );
        assert_eq!(
            watch.check(1, f64::NAN, 1.0, false),
            Some(Divergence::NonFinite)
        );
    }
}
