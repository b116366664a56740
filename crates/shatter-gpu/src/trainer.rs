//! The batched training loop: every epoch, one launch per kernel instantiation computes the
//! forward pass, the gradient, the per-run loss, gradient norm and clipping factor, and the
//! update of every run in the batch. The host steps in only at epochs where some run records a
//! trajectory row: it reads the per-run scalars, measures test error and sharpness for the runs
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
use shatter_core::hessian::lanczos::LanczosOptions;
use shatter_core::train::{Control, Record, RunStatus, TrainConfig, TrainOutcome};
use std::sync::Arc;

/// Host memory that the Lanczos bases of one round of sharpness estimates may take; more runs
/// than fit are measured in several rounds.
const LANCZOS_BYTES: usize = 2 << 30;

/// Most Lanczos threads at once.
const LANCZOS_THREADS: usize = 512;

fn driver(e: cudarc::driver::DriverError) -> GpuError {
    GpuError::Driver(e.to_string())
}

struct Group {
    kernels: Arc<Tiled>,
    sample_tiles: CudaSlice<i32>,
    samples: usize,
    test_tiles: CudaSlice<i32>,
    tests: usize,
    neuron_tiles: CudaSlice<i32>,
    neurons: usize,
}

/// The batch on the device.
struct Device<T> {
    stream: Arc<CudaStream>,
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
    loss: CudaSlice<f64>,
    gnorm: CudaSlice<f64>,
    scale: CudaSlice<f64>,
    sums: CudaSlice<f64>,
    step_tiles: CudaSlice<i32>,
    steps: usize,
}

fn grid(blocks: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (THREADS as u32, 1, 1),
        shared_mem_bytes: 0,
    }
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
        let common = cache.common::<T>()?;
        let mut groups = Vec::with_capacity(p.groups.len());
        for g in &p.groups {
            groups.push(Group {
                kernels: cache.tiled::<T>(g.dp, g.activation)?,
                sample_tiles: up(&g.sample_tiles)?,
                samples: g.sample_tiles.len() / 2,
                test_tiles: up(&g.test_tiles)?,
                tests: g.test_tiles.len() / 2,
                neuron_tiles: up(&g.neuron_tiles)?,
                neurons: g.neuron_tiles.len() / 2,
            });
        }
        let runs = p.runs.len();
        let (np, ns, nt) = (p.param_len(), p.sample_len(), p.test_len());
        Ok(Device {
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
            loss: s.alloc_zeros::<f64>(runs).map_err(driver)?,
            gnorm: s.alloc_zeros::<f64>(runs).map_err(driver)?,
            scale: s.alloc_zeros::<f64>(runs).map_err(driver)?,
            sums: s.alloc_zeros::<f64>(runs).map_err(driver)?,
            step_tiles: up(&p.step_tiles)?,
            steps: p.step_tiles.len() / 2,
            stream,
        })
    }

    /// Forward pass, gradient and per-run reductions at `epoch` for the runs still on.
    fn gradient(&mut self, epoch: usize) -> Result<(), GpuError> {
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
                unsafe { b.launch(grid(g.samples)) }.map_err(driver)?;
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
                unsafe { b.launch(grid(g.neurons)) }.map_err(driver)?;
            }
        }
        let epoch = epoch as i32;
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
            .arg(&epoch);
        unsafe { b.launch(grid(self.runs)) }.map_err(driver)?;
        Ok(())
    }

    /// The update of every run still on.
    fn step(&mut self) -> Result<(), GpuError> {
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
        unsafe { b.launch(grid(self.steps)) }.map_err(driver)?;
        Ok(())
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
        unsafe { b.launch(grid(self.runs)) }.map_err(driver)?;
        s.memcpy_dtoh(&self.sums, out).map_err(driver)?;
        s.synchronize().map_err(driver)
    }

    fn set_flags(&mut self, flags: &[i32]) -> Result<(), GpuError> {
        self.stream
            .memcpy_htod(flags, &mut self.flags)
            .map_err(driver)
    }

    /// `sum (f - y)^2 / 2` over each flagged run's test set.
    fn test_sums(&mut self, out: &mut [f64]) -> Result<(), GpuError> {
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
                unsafe { b.launch(grid(g.tests)) }.map_err(driver)?;
            }
        }
        self.sums(true, out)
    }

    /// `H dir` for every flagged run, `dir` already uploaded; the output is in `hv` (beta
    /// entries excluded) and the beta entries in `out`.
    fn hvp(&mut self, beta: &mut [f64]) -> Result<(), GpuError> {
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
                unsafe { b.launch(grid(g.samples)) }.map_err(driver)?;
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
                unsafe { b.launch(grid(g.neurons)) }.map_err(driver)?;
            }
        }
        self.sums(false, beta)
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
}

fn due(cfg: &TrainConfig, epoch: usize) -> (bool, bool, bool) {
    let last = epoch == cfg.epochs;
    let sharp = last || (cfg.sharpness_every > 0 && epoch.is_multiple_of(cfg.sharpness_every));
    let test = last || (cfg.test_every > 0 && epoch.is_multiple_of(cfg.test_every));
    let logged = last || epoch.is_multiple_of(cfg.log_every.max(1)) || sharp || test;
    (logged, sharp, test)
}

/// Trains `runs` on the device of `cache`; see the module documentation.
pub(crate) fn train_batch<T: GpuFloat>(
    stream: Arc<CudaStream>,
    cache: &mut Cache,
    runs: &mut [BatchRun<'_, T>],
    observe: &BatchObserver<'_>,
) -> Result<Vec<TrainOutcome>, GpuError> {
    let count = runs.len();
    if count == 0 {
        return Ok(Vec::new());
    }
    let packed = Packed::new(runs);
    let mut dev = Device::new(stream.clone(), cache, &packed)?;
    let cfgs: Vec<&TrainConfig> = runs.iter().map(|r| r.cfg).collect();
    let mut track: Vec<Track> = (0..count)
        .map(|_| Track {
            alive: true,
            status: RunStatus::Completed,
            trajectory: Vec::new(),
            final_sharpness: None,
            hvp_count: 0,
            previous: None,
        })
        .collect();
    let max_epochs = cfgs.iter().map(|c| c.epochs).max().unwrap_or(0);
    let (mut loss, mut gnorm, mut scale) = (vec![0.0; count], vec![0.0; count], vec![0.0; count]);
    let (mut on, mut diverged_at) = (vec![0i32; count], vec![0i32; count]);
    let mut sums = vec![0.0; count];
    let mut flags = vec![0i32; count];
    let mut dir_host = vec![T::zero(); packed.param_len()];
    let mut hv_host = vec![T::zero(); packed.param_len()];

    for epoch in 0..=max_epochs {
        dev.gradient(epoch)?;
        let due_now: Vec<usize> = (0..count)
            .filter(|&r| track[r].alive && due(cfgs[r], epoch).0)
            .collect();
        if !due_now.is_empty() {
            stream.memcpy_dtoh(&dev.on, &mut on).map_err(driver)?;
            stream
                .memcpy_dtoh(&dev.diverged_at, &mut diverged_at)
                .map_err(driver)?;
            stream.memcpy_dtoh(&dev.loss, &mut loss).map_err(driver)?;
            stream.memcpy_dtoh(&dev.gnorm, &mut gnorm).map_err(driver)?;
            stream.memcpy_dtoh(&dev.scale, &mut scale).map_err(driver)?;
            stream.synchronize().map_err(driver)?;
            // Runs that diverged since the last look: frozen on the device at that epoch.
            for (r, t) in track.iter_mut().enumerate() {
                if t.alive && diverged_at[r] >= 0 {
                    let at = diverged_at[r] as usize;
                    t.status = RunStatus::Diverged { epoch: at };
                    t.trajectory.push(Record {
                        epoch: at,
                        train_loss: loss[r],
                        test_mse: None,
                        sharpness: None,
                        sharpness_err: None,
                        grad_norm: gnorm[r],
                        clipped: false,
                    });
                    t.alive = false;
                }
            }
            let due_now: Vec<usize> = due_now.into_iter().filter(|&r| track[r].alive).collect();
            let mut records: Vec<Record> = due_now
                .iter()
                .map(|&r| Record {
                    epoch,
                    train_loss: loss[r],
                    test_mse: None,
                    sharpness: None,
                    sharpness_err: None,
                    grad_norm: gnorm[r],
                    clipped: scale[r] < 1.0,
                })
                .collect();
            // Test error of the runs that ask for it now.
            flags.fill(0);
            let mut any = false;
            for &r in &due_now {
                if due(cfgs[r], epoch).2 && packed.runs[r].nt > 0 {
                    flags[r] = 1;
                    any = true;
                }
            }
            if any {
                dev.set_flags(&flags)?;
                dev.test_sums(&mut sums)?;
                for (rec, &r) in records.iter_mut().zip(&due_now) {
                    if flags[r] == 1 {
                        rec.test_mse = Some(2.0 * sums[r] / packed.runs[r].nt as f64);
                    }
                }
            }
            // Sharpness of the runs that ask for it now.
            let sharp: Vec<usize> = due_now
                .iter()
                .copied()
                .filter(|&r| due(cfgs[r], epoch).1)
                .collect();
            if !sharp.is_empty() {
                let estimates = measure(
                    &mut dev,
                    &packed,
                    &sharp,
                    &cfgs,
                    epoch,
                    &mut track,
                    (&mut dir_host, &mut hv_host, &mut flags, &mut sums),
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
            stream.memcpy_htod(&on, &mut dev.on).map_err(driver)?;
        }
        if !track.iter().any(|t| t.alive) {
            break;
        }
        dev.step()?;
    }

    let mut params = vec![T::zero(); packed.param_len()];
    stream
        .memcpy_dtoh(&dev.params, &mut params)
        .map_err(driver)?;
    stream.synchronize().map_err(driver)?;
    let mut outcomes = Vec::with_capacity(count);
    for (r, (run, t)) in runs.iter_mut().zip(track).enumerate() {
        packed.read_params(r, &params, run.net);
        let epochs_run = match t.status {
            RunStatus::Completed => run.cfg.epochs,
            RunStatus::Diverged { epoch } | RunStatus::Interrupted { epoch } => epoch,
        };
        outcomes.push(TrainOutcome {
            status: t.status,
            epochs_run,
            final_loss: t.trajectory.last().map_or(f64::NAN, |r| r.train_loss),
            trajectory: t.trajectory,
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
fn measure<T: GpuFloat>(
    dev: &mut Device<T>,
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
            let dim = trainable(packed, r);
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
                dim: trainable(packed, r),
                options: if epoch == cfgs[r].epochs {
                    cfgs[r].lanczos.clone()
                } else {
                    LanczosOptions {
                        smallest: false,
                        ..cfgs[r].lanczos.clone()
                    }
                },
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
                dev.set_flags(flags)?;
                dev.stream
                    .memcpy_htod(dir_host.as_slice(), &mut dev.dir)
                    .map_err(driver)?;
                dev.hvp(beta)?;
                dev.stream
                    .memcpy_dtoh(&dev.hv, hv_host.as_mut_slice())
                    .map_err(driver)?;
                dev.stream.synchronize().map_err(driver)?;
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
                if spectrum.top_vector.iter().all(|v| v.is_finite())
                    && !spectrum.top_vector.is_empty()
                {
                    track[r].previous = Some(spectrum.top_vector.clone());
                }
                let top = spectrum.top.first().copied();
                out.push((
                    r,
                    SharpnessEstimate {
                        sharpness: top.map_or(0.0, |t| t.value),
                        error_bound: top.map_or(0.0, |t| t.error_bound),
                        products: spectrum.iterations,
                        spectrum,
                    },
                ));
            }
        }
        start = end;
    }
    Ok(out)
}

fn trainable<T>(packed: &Packed<T>, r: usize) -> usize {
    let l = &packed.runs[r];
    l.d * l.k + if l.bias { 2 * l.k } else { l.k } + 1
}
