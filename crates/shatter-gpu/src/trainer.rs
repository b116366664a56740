//! The batched training loop: between two epochs where some run records a trajectory row, one
//! launch of the fused kernel per kernel instantiation trains every run of the batch for the
//! whole interval (the update, forward pass, gradient, per-run loss, gradient norm, clipping
//! factor and divergence rules of each epoch); with `SHATTER_CUDA_FUSED=0`, separate kernels do
//! the same epoch by epoch. The host steps in only at the record epochs: it reads the per-run scalars, measures test error and sharpness for the runs
//! that ask (batched test forward passes; batched Hessian-vector products driving one certified
//! Lanczos per run), and retires runs that completed, diverged or were stopped. Semantics are
//! those of `shatter_core::train::train` for full-batch gradient descent.

use crate::compile::{Cache, Common, GpuFloat, Tiled};
use crate::lockstep::{lockstep, Job};
use crate::pack::{Packed, THREADS};
use crate::GpuError;
use cudarc::driver::{CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use shatter_core::batch::{BatchObserver, BatchRun};
use shatter_core::hessian::hvp::SharpnessEstimate;
use shatter_core::train::{
    above_blow_up, Control, Divergence, Record, RunStatus, TrainConfig, TrainOutcome,
    BLOW_UP_EPOCHS, BLOW_UP_FACTOR,
};
use std::sync::Arc;

/// Host memory that the Lanczos bases of one round of sharpness estimates may take; more runs
/// than fit are measured in several rounds.
const LANCZOS_BYTES: usize = 2 << 30;

/// Most Lanczos threads at once.
const LANCZOS_THREADS: usize = 512;

fn driver(e: cudarc::driver::DriverError) -> GpuError {
    GpuError::Driver(e.to_string())
}

/// A failed copy or synchronisation: a kernel launched before it may have faulted, which the
/// debug mode would have named.
fn after_kernels(e: cudarc::driver::DriverError) -> GpuError {
    GpuError::Driver(format!(
        "{e} (the fault may come from a kernel launched earlier: rerun with SHATTER_CUDA_SYNC=1 \
         to synchronise after every launch and name the kernel)"
    ))
}

/// Whether `SHATTER_CUDA_SYNC` asks for the debug mode: synchronising after every launch, so
/// that a fault is reported at the kernel that caused it, by name.
fn sync_mode() -> bool {
    std::env::var_os("SHATTER_CUDA_SYNC").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Whether record intervals run in the fused kernel (the default) or, with
/// `SHATTER_CUDA_FUSED=0`, epoch by epoch in the separate kernels.
fn fused_mode() -> bool {
    std::env::var_os("SHATTER_CUDA_FUSED").is_none_or(|v| v != "0")
}

/// The result of launching `kernel`; in the debug mode, also of running it to completion.
fn launched(
    stream: &CudaStream,
    sync: bool,
    kernel: &str,
    r: Result<
        Option<(cudarc::driver::CudaEvent, cudarc::driver::CudaEvent)>,
        cudarc::driver::DriverError,
    >,
) -> Result<(), GpuError> {
    r.map_err(|e| GpuError::Driver(format!("launching kernel {kernel}: {e}")))?;
    if sync {
        stream
            .synchronize()
            .map_err(|e| GpuError::Driver(format!("kernel {kernel} failed: {e}")))?;
    }
    Ok(())
}

struct Group {
    kernels: Arc<Tiled>,
    /// `(precision, padded d, activation)`, naming its kernels in errors.
    label: String,
    sample_tiles: CudaSlice<i32>,
    samples: usize,
    test_tiles: CudaSlice<i32>,
    tests: usize,
    neuron_tiles: CudaSlice<i32>,
    neurons: usize,
    /// The group's launches of the fused kernel, one per cluster size its runs take.
    fused: Vec<Fused>,
}

/// One launch of the fused kernel: the runs trained by clusters of `cluster` blocks.
struct Fused {
    kernel: cudarc::driver::CudaFunction,
    cluster: usize,
    runs: CudaSlice<i32>,
    count: usize,
    /// The stream it runs on, beside the other launches'.
    lane: Arc<CudaStream>,
}

/// The batch on the device.
struct Device<T> {
    stream: Arc<CudaStream>,
    /// The debug mode of [`sync_mode`].
    sync: bool,
    /// Whether whole record intervals run in the fused kernel ([`fused_mode`]).
    fused: bool,
    common: Arc<Common>,
    groups: Vec<Group>,
    runs: usize,
    meta: CudaSlice<i64>,
    hyper: CudaSlice<f64>,
    x: CudaSlice<T>,
    y: CudaSlice<T>,
    xt: CudaSlice<T>,
    yt: CudaSlice<T>,
    params: CudaSlice<T>,
    grad: CudaSlice<T>,
    velocity: CudaSlice<T>,
    dir: CudaSlice<T>,
    hv: CudaSlice<T>,
    e1: CudaSlice<T>,
    e2: CudaSlice<T>,
    lt: CudaSlice<T>,
    q: CudaSlice<T>,
    rt: CudaSlice<T>,
    on: CudaSlice<i32>,
    flags: CudaSlice<i32>,
    diverged_at: CudaSlice<i32>,
    loss0: CudaSlice<f64>,
    since: CudaSlice<i32>,
    loss: CudaSlice<f64>,
    gnorm: CudaSlice<f64>,
    scale: CudaSlice<f64>,
    sums: CudaSlice<f64>,
    step_tiles: CudaSlice<i32>,
    steps: usize,
    test_sizes: Vec<usize>,
}

/// The per-run scalars the host reads at a recording epoch.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scalars {
    /// 1 while the run trains.
    pub on: Vec<i32>,
    /// The epoch at which the run diverged, or -1.
    pub diverged_at: Vec<i32>,
    pub loss: Vec<f64>,
    pub gnorm: Vec<f64>,
    /// The clipping factor of this epoch's step.
    pub scale: Vec<f64>,
}

impl Scalars {
    fn new(runs: usize) -> Scalars {
        Scalars {
            on: vec![0; runs],
            diverged_at: vec![0; runs],
            loss: vec![0.0; runs],
            gnorm: vec![0.0; runs],
            scale: vec![0.0; runs],
        }
    }
}

/// What the batched loop needs of a device: the CUDA one here, and a CPU reference in tests
/// that checks the loop against `shatter_core::train::train`. Vectors of parameters are in the
/// packed layout of [`Packed`].
pub(crate) trait Engine<T> {
    /// Forward pass, gradient, loss, gradient norm and clipping factor at `epoch` of every run
    /// still on; a run that diverges by the per-epoch rules of
    /// `shatter_core::train::Divergence` (a non-finite loss or gradient norm, or a loss above
    /// `BLOW_UP_FACTOR` times its epoch-0 value for `BLOW_UP_EPOCHS` epochs) is switched off
    /// and marked as diverged at `epoch`, its loss and gradient norm left as they were then.
    fn gradient(&mut self, epoch: usize) -> Result<(), GpuError>;
    /// Reads every run's scalars.
    fn scalars(&mut self, out: &mut Scalars) -> Result<(), GpuError>;
    /// Switches runs on (1) and off (0).
    fn set_on(&mut self, on: &[i32]) -> Result<(), GpuError>;
    /// Test MSE of the flagged runs at the current parameters.
    fn test_mse(&mut self, flags: &[i32], out: &mut [f64]) -> Result<(), GpuError>;
    /// `hv = H dir` for the flagged runs at the parameters of the last `gradient`, the `beta`
    /// entries in `beta`.
    fn hvp(
        &mut self,
        flags: &[i32],
        dir: &[T],
        hv: &mut [T],
        beta: &mut [f64],
    ) -> Result<(), GpuError>;
    /// The update of every run still on.
    fn step(&mut self) -> Result<(), GpuError>;
    /// Epochs `from` to `to` of every run still on, between two record epochs: at each, the
    /// update of the epoch before (skipped at `from` unless `step_first`) and then
    /// [`Engine::gradient`].
    fn advance(&mut self, from: usize, to: usize, step_first: bool) -> Result<(), GpuError> {
        for epoch in from..=to {
            if epoch > from || step_first {
                self.step()?;
            }
            self.gradient(epoch)?;
        }
        Ok(())
    }
    /// All parameters.
    fn params(&mut self, out: &mut [T]) -> Result<(), GpuError>;
}

fn grid(blocks: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (THREADS as u32, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The cluster size of every run of `p` in the fused kernel ([`crate::pack::cluster_sizes`]),
/// for as many blocks as the device holds at once: its multiprocessors times the fused kernel's
/// resident blocks per multiprocessor (`SHATTER_CUDA_CLUSTERS=0`: one block per run).
fn cluster_plan<T: GpuFloat>(
    stream: &Arc<CudaStream>,
    cache: &mut Cache,
    p: &Packed<T>,
) -> Result<Vec<usize>, GpuError> {
    let off = std::env::var("SHATTER_CUDA_CLUSTERS").is_ok_and(|v| v == "0");
    let max = if off { 1 } else { cache.max_cluster()? };
    if max == 1 || p.groups.is_empty() {
        return Ok(vec![1; p.runs.len()]);
    }
    let sms = stream
        .context()
        .attribute(
            cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
        )
        .map_err(driver)?;
    let threads = crate::compile::fused_threads(T::CUDA);
    let g = &p.groups[0];
    let per_sm = cache
        .tiled::<T>(g.dp, g.activation)?
        .fused
        .occupancy_max_active_blocks_per_multiprocessor(threads as u32, 0, None)
        .map_err(driver)?
        .max(1);
    let capacity = sms.max(1) as usize * per_sm as usize;
    Ok(crate::pack::cluster_sizes(&p.runs, threads, capacity, max))
}

impl<T: GpuFloat> Device<T> {
    fn new(stream: Arc<CudaStream>, cache: &mut Cache, p: &Packed<T>) -> Result<Self, GpuError> {
        let s = &stream;
        let up = |v: &[i32]| -> Result<CudaSlice<i32>, GpuError> {
            if v.is_empty() {
                s.alloc_zeros::<i32>(2).map_err(driver)
            } else {
                s.clone_htod(v).map_err(driver)
            }
        };
        // Every module the batch needs, compiled together (in parallel) before the first use.
        let wanted: Vec<_> = p.groups.iter().map(|g| (g.dp, g.activation)).collect();
        cache.prepare::<T>(&wanted)?;
        let common = cache.common::<T>()?;
        let clusters = cluster_plan::<T>(&stream, cache, p)?;
        let mut groups = Vec::with_capacity(p.groups.len());
        for g in &p.groups {
            let kernels = cache.tiled::<T>(g.dp, g.activation)?;
            let mut fused = Vec::new();
            for (cluster, runs) in g.by_cluster(&clusters) {
                let kernel = kernels.fused_for(cluster).cloned().ok_or_else(|| {
                    GpuError::Driver(format!("no fused kernel for clusters of {cluster} blocks"))
                })?;
                fused.push(Fused {
                    kernel,
                    cluster,
                    runs: up(&runs)?,
                    count: runs.len(),
                    lane: stream.fork().map_err(driver)?,
                });
            }
            groups.push(Group {
                kernels,
                label: format!("{}, d = {}, {:?}", T::CUDA, g.dp, g.activation).to_lowercase(),
                sample_tiles: up(&g.sample_tiles)?,
                samples: g.sample_tiles.len() / 2,
                test_tiles: up(&g.test_tiles)?,
                tests: g.test_tiles.len() / 2,
                neuron_tiles: up(&g.neuron_tiles)?,
                neurons: g.neuron_tiles.len() / 2,
                fused,
            });
        }
        let runs = p.runs.len();
        let (np, ns, nt) = (p.param_len(), p.sample_len(), p.test_len());
        Ok(Device {
            sync: sync_mode(),
            fused: fused_mode(),
            common,
            groups,
            runs,
            meta: s.clone_htod(&p.meta).map_err(driver)?,
            hyper: s.clone_htod(&p.hyper).map_err(driver)?,
            x: s.clone_htod(&p.x).map_err(driver)?,
            y: s.clone_htod(&p.y).map_err(driver)?,
            xt: s.clone_htod(&p.xt).map_err(driver)?,
            yt: s.clone_htod(&p.yt).map_err(driver)?,
            params: s.clone_htod(&p.params).map_err(driver)?,
            grad: s.alloc_zeros::<T>(np).map_err(driver)?,
            velocity: s.alloc_zeros::<T>(np).map_err(driver)?,
            dir: s.alloc_zeros::<T>(np).map_err(driver)?,
            hv: s.alloc_zeros::<T>(np).map_err(driver)?,
            e1: s.alloc_zeros::<T>(ns).map_err(driver)?,
            e2: s.alloc_zeros::<T>(ns).map_err(driver)?,
            lt: s.alloc_zeros::<T>(ns).map_err(driver)?,
            q: s.alloc_zeros::<T>(ns).map_err(driver)?,
            rt: s.alloc_zeros::<T>(nt).map_err(driver)?,
            on: s.clone_htod(&vec![1i32; runs]).map_err(driver)?,
            flags: s.alloc_zeros::<i32>(runs).map_err(driver)?,
            diverged_at: s.clone_htod(&vec![-1i32; runs]).map_err(driver)?,
            loss0: s.alloc_zeros::<f64>(runs).map_err(driver)?,
            since: s.clone_htod(&vec![-1i32; runs]).map_err(driver)?,
            loss: s.alloc_zeros::<f64>(runs).map_err(driver)?,
            gnorm: s.alloc_zeros::<f64>(runs).map_err(driver)?,
            scale: s.alloc_zeros::<f64>(runs).map_err(driver)?,
            sums: s.alloc_zeros::<f64>(runs).map_err(driver)?,
            step_tiles: up(&p.step_tiles)?,
            steps: p.step_tiles.len() / 2,
            test_sizes: p.runs.iter().map(|l| l.nt).collect(),
            stream,
        })
    }

    /// Forward pass, gradient and per-run reductions at `epoch` for the runs still on.
    fn launch_gradient(&mut self, epoch: usize) -> Result<(), GpuError> {
        let s = self.stream.clone();
        // SAFETY (all launches in this file): every kernel reads and writes only inside the
        // offsets that `Packed` gave each run, and every buffer was allocated with the lengths
        // `Packed` computed; tiles name runs and starts inside them.
        for g in &self.groups {
            if g.samples > 0 {
                let mut b = s.launch_builder(&g.kernels.forward);
                b.arg(&self.meta)
                    .arg(&g.sample_tiles)
                    .arg(&self.x)
                    .arg(&self.y)
                    .arg(&self.params)
                    .arg(&mut self.e1)
                    .arg(&mut self.e2)
                    .arg(&mut self.lt)
                    .arg(&self.on);
                let r = unsafe { b.launch(grid(g.samples)) };
                launched(&s, self.sync, &format!("forward_k ({})", g.label), r)?;
            }
        }
        for g in &self.groups {
            if g.neurons > 0 {
                let mut b = s.launch_builder(&g.kernels.grad);
                b.arg(&self.meta)
                    .arg(&g.neuron_tiles)
                    .arg(&self.x)
                    .arg(&self.params)
                    .arg(&self.e1)
                    .arg(&mut self.grad)
                    .arg(&self.on);
                let r = unsafe { b.launch(grid(g.neurons)) };
                launched(&s, self.sync, &format!("grad_k ({})", g.label), r)?;
            }
        }
        let epoch = epoch as i32;
        let (factor, window) = (BLOW_UP_FACTOR, BLOW_UP_EPOCHS as i32);
        let mut b = s.launch_builder(&self.common.reduce_train);
        b.arg(&self.meta)
            .arg(&self.lt)
            .arg(&self.e1)
            .arg(&mut self.grad)
            .arg(&mut self.on)
            .arg(&mut self.diverged_at)
            .arg(&mut self.loss)
            .arg(&mut self.gnorm)
            .arg(&mut self.scale)
            .arg(&self.hyper)
            .arg(&mut self.loss0)
            .arg(&mut self.since)
            .arg(&factor)
            .arg(&window)
            .arg(&epoch);
        let r = unsafe { b.launch(grid(self.runs)) };
        launched(&s, self.sync, "reduce_train_k", r)
    }

    /// Epochs `from..=to` of every run still on in the fused kernel: one launch per group and
    /// cluster size, each on a stream of its own that waits for the main stream's work, and that
    /// the main stream waits for.
    fn launch_fused(&mut self, from: usize, to: usize, step_first: bool) -> Result<(), GpuError> {
        let (factor, window) = (BLOW_UP_FACTOR, BLOW_UP_EPOCHS as i32);
        let (from, to, first) = (from as i32, to as i32, step_first as i32);
        for g in &self.groups {
            for f in &g.fused {
                f.lane.join(&self.stream).map_err(driver)?;
                let mut b = f.lane.launch_builder(&f.kernel);
                b.arg(&self.meta)
                    .arg(&f.runs)
                    .arg(&self.x)
                    .arg(&self.y)
                    .arg(&mut self.params)
                    .arg(&mut self.grad)
                    .arg(&mut self.velocity)
                    .arg(&mut self.e1)
                    .arg(&mut self.e2)
                    .arg(&mut self.lt)
                    .arg(&mut self.on)
                    .arg(&mut self.diverged_at)
                    .arg(&mut self.loss)
                    .arg(&mut self.gnorm)
                    .arg(&mut self.scale)
                    .arg(&self.hyper)
                    .arg(&mut self.loss0)
                    .arg(&mut self.since)
                    .arg(&factor)
                    .arg(&window)
                    .arg(&from)
                    .arg(&to)
                    .arg(&first);
                // SAFETY: as for every launch here; the launches' runs are disjoint, so the
                // blocks of launches running side by side write disjoint parts of each buffer.
                // The clustered kernels' cluster size is compiled in; the grid is a multiple.
                let cfg = LaunchConfig {
                    block_dim: (crate::compile::fused_threads(T::CUDA) as u32, 1, 1),
                    ..grid(f.count * f.cluster)
                };
                let r = unsafe { b.launch(cfg) };
                let name = match f.cluster {
                    1 => "fused_k".to_string(),
                    cl => format!("fused_c{cl}_k"),
                };
                launched(&f.lane, self.sync, &format!("{name} ({})", g.label), r)?;
            }
        }
        for g in &self.groups {
            for f in &g.fused {
                self.stream.join(&f.lane).map_err(driver)?;
            }
        }
        Ok(())
    }

    /// The update of every run still on.
    fn launch_step(&mut self) -> Result<(), GpuError> {
        let s = self.stream.clone();
        let mut b = s.launch_builder(&self.common.step);
        b.arg(&self.meta)
            .arg(&self.step_tiles)
            .arg(&mut self.params)
            .arg(&self.grad)
            .arg(&mut self.velocity)
            .arg(&self.hyper)
            .arg(&self.scale)
            .arg(&self.on);
        let r = unsafe { b.launch(grid(self.steps)) };
        launched(&s, self.sync, "step_k", r)
    }

    /// Per-run sums over `src` (train or test samples) for the runs in `flags`, into `out`.
    fn sums(&mut self, test: bool, out: &mut [f64]) -> Result<(), GpuError> {
        let s = self.stream.clone();
        let test_flag = test as i32;
        let src = if test { &self.rt } else { &self.q };
        let mut b = s.launch_builder(&self.common.run_sum);
        b.arg(&self.meta)
            .arg(src)
            .arg(&test_flag)
            .arg(&mut self.sums)
            .arg(&self.flags);
        let r = unsafe { b.launch(grid(self.runs)) };
        launched(&s, self.sync, "run_sum_k", r)?;
        s.memcpy_dtoh(&self.sums, out).map_err(after_kernels)?;
        s.synchronize().map_err(after_kernels)
    }

    fn set_flags(&mut self, flags: &[i32]) -> Result<(), GpuError> {
        self.stream
            .memcpy_htod(flags, &mut self.flags)
            .map_err(driver)
    }

    /// `sum (f - y)^2 / 2` over each flagged run's test set.
    fn launch_test(&mut self, out: &mut [f64]) -> Result<(), GpuError> {
        let s = self.stream.clone();
        for g in &self.groups {
            if g.tests > 0 {
                let mut b = s.launch_builder(&g.kernels.test);
                b.arg(&self.meta)
                    .arg(&g.test_tiles)
                    .arg(&self.xt)
                    .arg(&self.yt)
                    .arg(&self.params)
                    .arg(&mut self.rt)
                    .arg(&self.flags);
                let r = unsafe { b.launch(grid(g.tests)) };
                launched(&s, self.sync, &format!("test_k ({})", g.label), r)?;
            }
        }
        self.sums(true, out)
    }

    /// `H dir` for every flagged run, `dir` already uploaded; the output is in `hv` (beta
    /// entries excluded) and the beta entries in `beta`.
    fn launch_hvp(&mut self, beta: &mut [f64]) -> Result<(), GpuError> {
        let s = self.stream.clone();
        for g in &self.groups {
            if g.samples > 0 {
                let mut b = s.launch_builder(&g.kernels.jvp);
                b.arg(&self.meta)
                    .arg(&g.sample_tiles)
                    .arg(&self.x)
                    .arg(&self.params)
                    .arg(&self.dir)
                    .arg(&mut self.e2)
                    .arg(&mut self.q)
                    .arg(&self.flags);
                let r = unsafe { b.launch(grid(g.samples)) };
                launched(&s, self.sync, &format!("jvp_k ({})", g.label), r)?;
            }
        }
        for g in &self.groups {
            if g.neurons > 0 {
                let mut b = s.launch_builder(&g.kernels.hvp);
                b.arg(&self.meta)
                    .arg(&g.neuron_tiles)
                    .arg(&self.x)
                    .arg(&self.params)
                    .arg(&self.dir)
                    .arg(&self.e1)
                    .arg(&self.q)
                    .arg(&mut self.hv)
                    .arg(&self.flags);
                let r = unsafe { b.launch(grid(g.neurons)) };
                launched(&s, self.sync, &format!("hvp_k ({})", g.label), r)?;
            }
        }
        self.sums(false, beta)
    }
}

impl<T: GpuFloat> Engine<T> for Device<T> {
    fn gradient(&mut self, epoch: usize) -> Result<(), GpuError> {
        self.launch_gradient(epoch)
    }

    fn scalars(&mut self, out: &mut Scalars) -> Result<(), GpuError> {
        let s = &self.stream;
        s.memcpy_dtoh(&self.on, &mut out.on).map_err(driver)?;
        s.memcpy_dtoh(&self.diverged_at, &mut out.diverged_at)
            .map_err(driver)?;
        s.memcpy_dtoh(&self.loss, &mut out.loss).map_err(driver)?;
        s.memcpy_dtoh(&self.gnorm, &mut out.gnorm).map_err(driver)?;
        s.memcpy_dtoh(&self.scale, &mut out.scale)
            .map_err(after_kernels)?;
        s.synchronize().map_err(after_kernels)
    }

    fn set_on(&mut self, on: &[i32]) -> Result<(), GpuError> {
        self.stream.memcpy_htod(on, &mut self.on).map_err(driver)
    }

    fn test_mse(&mut self, flags: &[i32], out: &mut [f64]) -> Result<(), GpuError> {
        self.set_flags(flags)?;
        self.launch_test(out)?;
        for (r, o) in out.iter_mut().enumerate() {
            if flags[r] == 1 {
                *o = 2.0 * *o / self.test_sizes[r] as f64;
            }
        }
        Ok(())
    }

    fn hvp(
        &mut self,
        flags: &[i32],
        dir: &[T],
        hv: &mut [T],
        beta: &mut [f64],
    ) -> Result<(), GpuError> {
        self.set_flags(flags)?;
        self.stream
            .memcpy_htod(dir, &mut self.dir)
            .map_err(driver)?;
        self.launch_hvp(beta)?;
        self.stream
            .memcpy_dtoh(&self.hv, hv)
            .map_err(after_kernels)?;
        self.stream.synchronize().map_err(after_kernels)
    }

    fn step(&mut self) -> Result<(), GpuError> {
        self.launch_step()
    }

    fn advance(&mut self, from: usize, to: usize, step_first: bool) -> Result<(), GpuError> {
        if !self.fused {
            for epoch in from..=to {
                if epoch > from || step_first {
                    self.launch_step()?;
                }
                self.launch_gradient(epoch)?;
            }
            return Ok(());
        }
        self.launch_fused(from, to, step_first)
    }

    fn params(&mut self, out: &mut [T]) -> Result<(), GpuError> {
        self.stream
            .memcpy_dtoh(&self.params, out)
            .map_err(after_kernels)?;
        self.stream.synchronize().map_err(after_kernels)
    }
}

/// Per-run bookkeeping on the host.
struct Track {
    alive: bool,
    status: RunStatus,
    trajectory: Vec<Record>,
    final_sharpness: Option<SharpnessEstimate>,
    hvp_count: usize,
    previous: Option<Vec<f64>>,
    /// The loss at epoch 0, for the last-epoch clause of the blow-up rule.
    initial: f64,
}

/// Trains `runs` on the device of `cache`; see the module documentation.
pub(crate) fn train_batch<T: GpuFloat>(
    stream: Arc<CudaStream>,
    cache: &mut Cache,
    runs: &mut [BatchRun<'_, T>],
    observe: &BatchObserver<'_>,
) -> Result<Vec<TrainOutcome>, GpuError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let packed = Packed::new(runs);
    let mut dev = Device::new(stream, cache, &packed)?;
    run_batch(&mut dev, &packed, runs, observe)
}

/// The loop of [`train_batch`] on any [`Engine`]; writes the final parameters into the runs'
/// networks.
pub(crate) fn run_batch<T: GpuFloat, E: Engine<T>>(
    engine: &mut E,
    packed: &Packed<T>,
    runs: &mut [BatchRun<'_, T>],
    observe: &BatchObserver<'_>,
) -> Result<Vec<TrainOutcome>, GpuError> {
    let count = runs.len();
    let cfgs: Vec<&TrainConfig> = runs.iter().map(|r| r.cfg).collect();
    let mut track: Vec<Track> = (0..count)
        .map(|_| Track {
            alive: true,
            status: RunStatus::Completed,
            trajectory: Vec::new(),
            final_sharpness: None,
            hvp_count: 0,
            previous: None,
            initial: f64::NAN,
        })
        .collect();
    let max_epochs = cfgs.iter().map(|c| c.epochs).max().unwrap_or(0);
    let mut sc = Scalars::new(count);
    let mut on = vec![1i32; count];
    let mut values = vec![0.0; count];
    let mut flags = vec![0i32; count];
    let mut dir_host = vec![T::zero(); packed.param_len()];
    let mut hv_host = vec![T::zero(); packed.param_len()];
    let mut due_now: Vec<usize> = Vec::with_capacity(count);

    let mut from = 0;
    loop {
        // Up to the next epoch at which a run still training records a row (every run records
        // its last epoch), in one go.
        let epoch = (from..=max_epochs)
            .find(|&e| (0..count).any(|r| track[r].alive && cfgs[r].due(e).logged))
            .unwrap_or(max_epochs);
        engine.advance(from, epoch, from > 0)?;
        due_now.clear();
        due_now.extend((0..count).filter(|&r| track[r].alive && cfgs[r].due(epoch).logged));
        if !due_now.is_empty() {
            engine.scalars(&mut sc)?;
            if epoch == 0 {
                for (r, t) in track.iter_mut().enumerate() {
                    t.initial = sc.loss[r];
                }
            }
            // Runs that diverged since the last look: frozen on the device at that epoch (a
            // finite loss there means the blow-up rule fired). A run ending above the blow-up
            // threshold diverges at its last epoch, as in `train`.
            for (r, t) in track.iter_mut().enumerate() {
                let at_end = t.alive
                    && epoch == cfgs[r].epochs
                    && sc.diverged_at[r] < 0
                    && above_blow_up(sc.loss[r], t.initial);
                if t.alive && (sc.diverged_at[r] >= 0 || at_end) {
                    let at = if at_end {
                        epoch
                    } else {
                        sc.diverged_at[r] as usize
                    };
                    let rule = if sc.loss[r].is_finite() && sc.gnorm[r].is_finite() {
                        Divergence::BlowUp
                    } else {
                        Divergence::NonFinite
                    };
                    t.status = RunStatus::Diverged { epoch: at, rule };
                    t.trajectory.push(Record {
                        epoch: at,
                        train_loss: sc.loss[r],
                        test_mse: None,
                        sharpness: None,
                        sharpness_err: None,
                        grad_norm: sc.gnorm[r],
                        clipped: false,
                    });
                    t.alive = false;
                }
            }
            due_now.retain(|&r| track[r].alive);
            let mut records: Vec<Record> = due_now
                .iter()
                .map(|&r| Record {
                    epoch,
                    train_loss: sc.loss[r],
                    test_mse: None,
                    sharpness: None,
                    sharpness_err: None,
                    grad_norm: sc.gnorm[r],
                    clipped: sc.scale[r] < 1.0,
                })
                .collect();
            // Test error of the runs that ask for it now.
            flags.fill(0);
            for &r in &due_now {
                if cfgs[r].due(epoch).test && packed.runs[r].nt > 0 {
                    flags[r] = 1;
                }
            }
            if flags.contains(&1) {
                engine.test_mse(&flags, &mut values)?;
                for (rec, &r) in records.iter_mut().zip(&due_now) {
                    if flags[r] == 1 {
                        rec.test_mse = Some(values[r]);
                    }
                }
            }
            // Sharpness of the runs that ask for it now.
            let sharp: Vec<usize> = due_now
                .iter()
                .copied()
                .filter(|&r| cfgs[r].due(epoch).sharpness)
                .collect();
            if !sharp.is_empty() {
                let estimates = measure(
                    engine,
                    packed,
                    &sharp,
                    &cfgs,
                    epoch,
                    &mut track,
                    (&mut dir_host, &mut hv_host, &mut flags, &mut values),
                )?;
                for (r, est) in estimates {
                    let i = due_now.iter().position(|&x| x == r).expect("due");
                    records[i].sharpness = Some(est.sharpness);
                    records[i].sharpness_err = Some(est.error_bound);
                    track[r].hvp_count += est.products;
                    if epoch == cfgs[r].epochs {
                        track[r].final_sharpness = Some(est);
                    }
                }
            }
            for (rec, &r) in records.into_iter().zip(&due_now) {
                let last = epoch == cfgs[r].epochs;
                let t = &mut track[r];
                t.trajectory.push(rec);
                let rec = t.trajectory.last().expect("just pushed");
                if last {
                    observe(r, rec);
                    t.alive = false;
                } else if observe(r, rec) == Control::Stop {
                    t.status = RunStatus::Interrupted { epoch };
                    t.alive = false;
                }
            }
            for (r, t) in track.iter().enumerate() {
                on[r] = t.alive as i32;
            }
            engine.set_on(&on)?;
        }
        if !track.iter().any(|t| t.alive) || epoch == max_epochs {
            break;
        }
        from = epoch + 1;
    }

    let mut params = vec![T::zero(); packed.param_len()];
    engine.params(&mut params)?;
    let mut outcomes = Vec::with_capacity(count);
    for (r, (run, t)) in runs.iter_mut().zip(track).enumerate() {
        packed.read_params(r, &params, run.net);
        let epochs_run = t.status.epochs_run(run.cfg.epochs);
        outcomes.push(TrainOutcome {
            status: t.status,
            epochs_run,
            final_loss: t.trajectory.last().map_or(f64::NAN, |r| r.train_loss),
            trajectory: t.trajectory,
            curvature: Vec::new(),
            final_sharpness: t.final_sharpness,
            hvp_count: t.hvp_count,
        });
    }
    Ok(outcomes)
}

type Scratch<'a, T> = (
    &'a mut Vec<T>,
    &'a mut Vec<T>,
    &'a mut Vec<i32>,
    &'a mut Vec<f64>,
);

/// Sharpness of the runs `which` at the current parameters (the gradient pass of this epoch
/// left `E1`, `E2` in place), warm-started from each run's previous top eigenvector. During
/// training only the top eigenvalues are computed, at a run's last epoch the smallest too, as
/// on the CPU.
fn measure<T: GpuFloat, E: Engine<T>>(
    engine: &mut E,
    packed: &Packed<T>,
    which: &[usize],
    cfgs: &[&TrainConfig],
    epoch: usize,
    track: &mut [Track],
    scratch: Scratch<'_, T>,
) -> Result<Vec<(usize, SharpnessEstimate)>, GpuError> {
    let (dir_host, hv_host, flags, beta) = scratch;
    let mut out = Vec::with_capacity(which.len());
    let mut start = 0;
    while start < which.len() {
        // As many runs as their Lanczos bases fit in the memory budget.
        let mut end = start;
        let mut bytes = 0usize;
        while end < which.len() && end - start < LANCZOS_THREADS {
            let r = which[end];
            let dim = packed.runs[r].shape().trainable();
            let need = dim * cfgs[r].lanczos.max_iter.min(dim) * 8;
            if end > start && bytes + need > LANCZOS_BYTES {
                break;
            }
            bytes += need;
            end += 1;
        }
        let chunk = &which[start..end];
        let jobs: Vec<Job<'_>> = chunk
            .iter()
            .map(|&r| Job {
                dim: packed.runs[r].shape().trainable(),
                options: cfgs[r].lanczos_at(epoch == cfgs[r].epochs),
                start: track[r].previous.as_deref(),
            })
            .collect();
        let mut failure = None;
        let mut apply = |slots: &[usize], xs: &[Vec<f64>], ys: &mut [Vec<f64>]| {
            let result = (|| -> Result<(), GpuError> {
                flags.fill(0);
                for &s in slots {
                    let r = chunk[s];
                    flags[r] = 1;
                    packed.expand(r, &xs[s], dir_host);
                }
                engine.hvp(flags, dir_host, hv_host, beta)?;
                for &s in slots {
                    let r = chunk[s];
                    packed.compress(r, hv_host, beta[r], &mut ys[s]);
                }
                Ok(())
            })();
            result.map_err(|e| {
                let text = e.to_string();
                failure.get_or_insert(e);
                text
            })
        };
        let results = lockstep(&jobs, &mut apply);
        if let Some(e) = failure {
            return Err(e);
        }
        let results = results.map_err(GpuError::Driver)?;
        for (&r, result) in chunk.iter().zip(results) {
            // A failed Lanczos (a non-finite product) leaves the record without sharpness, as
            // on the CPU.
            if let Ok(spectrum) = result {
                if let Some(v) = spectrum.warm_start() {
                    track[r].previous = Some(v.to_vec());
                }
                let products = spectrum.iterations;
                out.push((r, SharpnessEstimate::from_spectrum(spectrum, products)));
            }
        }
        start = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! The loop above on a CPU [`Engine`] built from the engine's own kernels gives every run
    //! exactly what `shatter_core::train::train` gives it: the same records, statuses, sharpness
    //! estimates and final parameters, bit for bit. What the CUDA engine adds, the kernels, is
    //! checked against the same kernels by the emulator test and, on a GPU, the parity tests.

    use super::*;
    use shatter_core::data::generate::{generate, DataSpec, Labels};
    use shatter_core::grad::{backward, forward, hvp, mean_squared_error, Workspace};
    use shatter_core::hessian::lanczos::LanczosOptions;
    use shatter_core::train::{clip_factor, norm, step, train, DivergenceWatch};
    use shatter_core::{Activation, Dataset, Loss, Network, Shape};

    struct CpuEngine<'a, T> {
        packed: &'a Packed<T>,
        nets: Vec<Network<T>>,
        data: Vec<&'a Dataset<T>>,
        tests: Vec<Option<&'a Dataset<T>>>,
        cfgs: Vec<&'a TrainConfig>,
        ws: Vec<Workspace<T>>,
        grads: Vec<Vec<T>>,
        velocity: Vec<Vec<T>>,
        sc: Scalars,
        watch: Vec<DivergenceWatch>,
        /// Every `advance` call: `(from, to, step_first)`.
        intervals: Vec<(usize, usize, bool)>,
    }

    impl<T: GpuFloat> Engine<T> for CpuEngine<'_, T> {
        fn gradient(&mut self, epoch: usize) -> Result<(), GpuError> {
            for r in 0..self.nets.len() {
                if self.sc.on[r] == 0 {
                    continue;
                }
                let l = forward(
                    &self.nets[r],
                    self.data[r],
                    self.cfgs[r].loss,
                    &mut self.ws[r],
                );
                backward(
                    &self.nets[r],
                    self.data[r],
                    &mut self.ws[r],
                    &mut self.grads[r],
                );
                let gn = norm(&self.grads[r]);
                self.sc.loss[r] = l;
                self.sc.gnorm[r] = gn;
                self.sc.scale[r] = clip_factor(self.cfgs[r].clip, gn);
                // The device's rules: everything but the last-epoch clause, which the loop
                // applies.
                if self.watch[r].check(epoch, l, gn, false).is_some() {
                    self.sc.diverged_at[r] = epoch as i32;
                    self.sc.on[r] = 0;
                }
            }
            Ok(())
        }

        fn scalars(&mut self, out: &mut Scalars) -> Result<(), GpuError> {
            *out = self.sc.clone();
            Ok(())
        }

        fn set_on(&mut self, on: &[i32]) -> Result<(), GpuError> {
            self.sc.on.copy_from_slice(on);
            Ok(())
        }

        fn test_mse(&mut self, flags: &[i32], out: &mut [f64]) -> Result<(), GpuError> {
            for r in 0..self.nets.len() {
                if let (1, Some(t)) = (flags[r], self.tests[r]) {
                    let mut ws = Workspace::new(self.nets[r].shape, t.n);
                    out[r] = mean_squared_error(&self.nets[r], t, &mut ws);
                }
            }
            Ok(())
        }

        fn hvp(
            &mut self,
            flags: &[i32],
            dir: &[T],
            hv: &mut [T],
            beta: &mut [f64],
        ) -> Result<(), GpuError> {
            for r in 0..self.nets.len() {
                if flags[r] == 0 {
                    continue;
                }
                let shape = self.nets[r].shape;
                let mut d = Network::zeros(shape);
                self.packed.read_params(r, dir, &mut d);
                let mut out = vec![T::zero(); shape.len()];
                hvp(
                    &self.nets[r],
                    self.data[r],
                    &mut self.ws[r],
                    &d.params,
                    &mut out,
                );
                self.packed.write_flat(r, &out, hv);
                beta[r] = out[shape.beta_offset()].to64();
            }
            Ok(())
        }

        fn advance(&mut self, from: usize, to: usize, step_first: bool) -> Result<(), GpuError> {
            self.intervals.push((from, to, step_first));
            for epoch in from..=to {
                if epoch > from || step_first {
                    self.step()?;
                }
                self.gradient(epoch)?;
            }
            Ok(())
        }

        fn step(&mut self) -> Result<(), GpuError> {
            for r in 0..self.nets.len() {
                if self.sc.on[r] == 1 {
                    let cfg = self.cfgs[r];
                    let scale = self.sc.scale[r];
                    step(
                        &mut self.nets[r],
                        &self.grads[r],
                        &mut self.velocity[r],
                        scale,
                        cfg,
                    );
                }
            }
            Ok(())
        }

        fn params(&mut self, out: &mut [T]) -> Result<(), GpuError> {
            for (r, net) in self.nets.iter().enumerate() {
                self.packed.write_flat(r, &net.params, out);
            }
            Ok(())
        }
    }

    fn config(epochs: usize, lr: f64, loss: Loss) -> TrainConfig {
        TrainConfig {
            epochs,
            lr,
            weight_decay: 0.0,
            clip: None,
            momentum: 0.0,
            batch_size: None,
            loss,
            sharpness_every: 10,
            test_every: 15,
            log_every: 4,
            lanczos: LanczosOptions::default(),
            mixup_alpha: None,
            seed: 3,
        }
    }

    fn loop_matches_train<T: GpuFloat>() {
        let mut cases: Vec<(Shape, usize, TrainConfig, bool)> = Vec::new();
        let shape = |d, width, bias, activation| Shape {
            d,
            width,
            bias,
            activation,
        };
        cases.push((
            shape(2, 12, true, Activation::Relu),
            30,
            config(40, 0.2, Loss::Square),
            true,
        ));
        let mut c = config(60, 0.05, Loss::Mse);
        c.momentum = 0.9;
        c.weight_decay = 0.01;
        c.clip = Some(0.3);
        cases.push((shape(3, 20, false, Activation::Gelu), 25, c, false));
        // Diverges.
        cases.push((
            shape(1, 8, true, Activation::Relu),
            20,
            config(50, 1e4, Loss::Square),
            true,
        ));
        // Stopped by the observer at epoch 20.
        cases.push((
            shape(4, 10, true, Activation::Relu),
            40,
            config(70, 0.1, Loss::Square),
            true,
        ));
        let mut c = config(33, 0.5, Loss::Logistic);
        c.sharpness_every = 0;
        c.test_every = 0;
        cases.push((shape(1, 16, true, Activation::Relu), 30, c, true));
        cases.push((
            shape(2, 6, true, Activation::Relu),
            10,
            config(0, 0.1, Loss::Square),
            false,
        ));
        // Blows up but stays finite (the `shatter train --lr 2` run of the divergence rule):
        // caught by the streak on the device, and, in a shorter run, by the last-epoch clause.
        for epochs in [160, 40] {
            let mut c = config(epochs, 2.0, Loss::Square);
            c.clip = Some(50.0);
            c.sharpness_every = 0;
            c.test_every = 0;
            c.log_every = 25;
            cases.push((shape(5, 256, true, Activation::Relu), 128, c, false));
        }

        let sets: Vec<(Dataset<T>, Dataset<T>)> = cases
            .iter()
            .enumerate()
            .map(|(s, (shape, n, cfg, _))| {
                let mut spec = DataSpec::new(*n, shape.d);
                if cfg.loss == Loss::Logistic {
                    spec.labels = Labels::Bernoulli;
                }
                let p = generate(&spec, s as u64).expect("valid spec");
                (p.train.cast(), p.test_set(20).cast())
            })
            .collect();
        let start: Vec<Network<T>> = cases
            .iter()
            .enumerate()
            .map(|(s, (shape, ..))| Network::<f64>::init(*shape, s as u64, 1.0).cast())
            .collect();
        let stop = |r: usize, epoch: usize| {
            if r == 3 && epoch >= 20 {
                Control::Stop
            } else {
                Control::Continue
            }
        };
        let expected: Vec<(TrainOutcome, Network<T>)> = (0..cases.len())
            .map(|r| {
                let mut net = start[r].clone();
                let test = cases[r].3.then_some(&sets[r].1);
                let out = train(&mut net, &sets[r].0, test, &cases[r].2, &mut |rec| {
                    stop(r, rec.epoch)
                });
                (out, net)
            })
            .collect();

        let mut nets = start.clone();
        let mut runs: Vec<BatchRun<'_, T>> = nets
            .iter_mut()
            .zip(&sets)
            .zip(&cases)
            .map(|((net, (tr, te)), c)| BatchRun {
                net,
                data: tr,
                test: c.3.then_some(te),
                cfg: &c.2,
            })
            .collect();
        let packed = Packed::new(&runs);
        let mut engine = CpuEngine {
            packed: &packed,
            nets: start.clone(),
            data: sets.iter().map(|s| &s.0).collect(),
            tests: cases
                .iter()
                .zip(&sets)
                .map(|(c, s)| c.3.then_some(&s.1))
                .collect(),
            cfgs: cases.iter().map(|c| &c.2).collect(),
            ws: cases
                .iter()
                .map(|(shape, n, ..)| Workspace::new(*shape, *n))
                .collect(),
            grads: cases.iter().map(|c| vec![T::zero(); c.0.len()]).collect(),
            velocity: cases
                .iter()
                .map(|c| vec![T::zero(); if c.2.momentum > 0.0 { c.0.len() } else { 0 }])
                .collect(),
            sc: Scalars {
                on: vec![1; cases.len()],
                diverged_at: vec![-1; cases.len()],
                ..Scalars::new(cases.len())
            },
            watch: vec![DivergenceWatch::new(); cases.len()],
            intervals: Vec::new(),
        };
        let got = run_batch(&mut engine, &packed, &mut runs, &|r, rec| {
            stop(r, rec.epoch)
        })
        .expect("the CPU engine does not fail");
        drop(runs);
        for (r, (g, (e, net))) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g.status, e.status, "run {r}");
            assert_eq!(g.epochs_run, e.epochs_run, "run {r}");
            assert_eq!(
                format!("{:?}", g.trajectory),
                format!("{:?}", e.trajectory),
                "run {r}"
            );
            assert_eq!(g.hvp_count, e.hvp_count, "run {r}");
            assert_eq!(
                g.final_sharpness
                    .as_ref()
                    .map(|s| (s.sharpness, s.error_bound)),
                e.final_sharpness
                    .as_ref()
                    .map(|s| (s.sharpness, s.error_bound)),
                "run {r}"
            );
            assert_eq!(format!("{:?}", nets[r]), format!("{net:?}"), "run {r}");
        }
        assert!(matches!(got[2].status, RunStatus::Diverged { .. }));
        assert!(
            matches!(
                (got[6].status, got[7].status),
                (
                    RunStatus::Diverged {
                        epoch: 100..=159,
                        rule: Divergence::BlowUp
                    },
                    RunStatus::Diverged {
                        epoch: 40,
                        rule: Divergence::BlowUp
                    }
                )
            ),
            "{:?} {:?}",
            got[6].status,
            got[7].status
        );
        assert_eq!(got[3].status, RunStatus::Interrupted { epoch: 20 });
        assert!(got[0].final_sharpness.is_some() && got[0].trajectory.len() > 10);
        // The device is driven in whole intervals: back to back from epoch 0, each ending at an
        // epoch where some run recorded a row, the update first in all but the first.
        let intervals = &engine.intervals;
        assert_eq!(intervals[0], (0, 0, false));
        for w in intervals.windows(2) {
            assert_eq!(w[1].0, w[0].1 + 1, "{intervals:?}");
            assert!(w[1].2 && w[1].1 >= w[1].0, "{intervals:?}");
        }
        for &(_, to, _) in intervals {
            assert!(
                cases.iter().any(|c| to <= c.2.epochs && c.2.due(to).logged),
                "interval ends at {to}, where no run records: {intervals:?}"
            );
        }
        assert!(intervals.iter().any(|&(a, b, _)| b > a), "{intervals:?}");
    }

    #[test]
    fn batched_loop_matches_train_in_f32() {
        loop_matches_train::<f32>();
    }

    #[test]
    fn batched_loop_matches_train_in_f64() {
        loop_matches_train::<f64>();
    }
}
