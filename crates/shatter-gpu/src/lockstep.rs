//! Many Lanczos runs in lockstep over one batched operator. Each run's Lanczos (the certified
//! one of `shatter_core::hessian::lanczos`) runs on its own thread and sees an ordinary
//! [`SymmetricOperator`]; every product it asks for is parked until all live runs have asked,
//! then one call of the batched product serves them all (on the GPU: one launch of each
//! Hessian-vector kernel for the whole batch). Runs that converge early drop out.

use shatter_core::hessian::lanczos::{
    extreme_eigenvalues, LanczosError, LanczosOptions, LanczosWorkspace, Spectrum,
    SymmetricOperator,
};
use std::sync::{Condvar, Mutex, MutexGuard};

/// One Lanczos to run: its dimension, options and warm start.
pub(crate) struct Job<'a> {
    pub dim: usize,
    pub options: LanczosOptions,
    pub start: Option<&'a [f64]>,
}

/// Computes `ys[s] = A_s xs[s]` for every slot `s` in `slots` (other entries untouched).
pub(crate) type BatchApply<'a> =
    dyn FnMut(&[usize], &[Vec<f64>], &mut [Vec<f64>]) -> Result<(), String> + 'a;

struct State {
    x: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    submitted: Vec<bool>,
    ready: Vec<bool>,
    live: usize,
    pending: usize,
    failed: bool,
}

struct Exchange {
    state: Mutex<State>,
    to_main: Condvar,
    to_workers: Condvar,
}

impl Exchange {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked has already poisoned nothing we rely on: the state stays
        // consistent between statements.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Remote<'a> {
    slot: usize,
    dim: usize,
    exchange: &'a Exchange,
}

impl SymmetricOperator for Remote<'_> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn apply(&mut self, x: &[f64], y: &mut [f64]) {
        let ex = self.exchange;
        let mut st = ex.lock();
        st.x[self.slot].copy_from_slice(x);
        st.submitted[self.slot] = true;
        st.pending += 1;
        ex.to_main.notify_one();
        while !st.ready[self.slot] && !st.failed {
            st = ex.to_workers.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if st.ready[self.slot] {
            y.copy_from_slice(&st.y[self.slot]);
        } else {
            // The device failed: a non-finite product ends this Lanczos at once.
            y.fill(f64::NAN);
        }
        st.ready[self.slot] = false;
    }
}

/// Runs every job's Lanczos with products from `apply`, and returns their results in order.
///
/// # Errors
/// The first error of `apply` (the device failed); the runs' own Lanczos errors are results.
pub(crate) fn lockstep(
    jobs: &[Job<'_>],
    apply: &mut BatchApply<'_>,
) -> Result<Vec<Result<Spectrum, LanczosError>>, String> {
    let count = jobs.len();
    let exchange = Exchange {
        state: Mutex::new(State {
            x: jobs.iter().map(|j| vec![0.0; j.dim]).collect(),
            y: jobs.iter().map(|j| vec![0.0; j.dim]).collect(),
            submitted: vec![false; count],
            ready: vec![false; count],
            live: count,
            pending: 0,
            failed: false,
        }),
        to_main: Condvar::new(),
        to_workers: Condvar::new(),
    };
    let mut results: Vec<Option<Result<Spectrum, LanczosError>>> = vec![None; count];
    let mut device_error = None;
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(count);
        for (slot, job) in jobs.iter().enumerate() {
            let exchange = &exchange;
            handles.push(scope.spawn(move || {
                /// Counts the worker out when it ends, a panic included, so that the
                /// coordinator never waits for it.
                struct Leave<'a>(&'a Exchange);
                impl Drop for Leave<'_> {
                    fn drop(&mut self) {
                        let mut st = self.0.lock();
                        st.live -= 1;
                        self.0.to_main.notify_one();
                    }
                }
                let _leave = Leave(exchange);
                let mut op = Remote {
                    slot,
                    dim: job.dim,
                    exchange,
                };
                let mut ws = LanczosWorkspace::new(job.dim, job.options.max_iter);
                extreme_eigenvalues(&mut op, &job.options, job.start, &mut ws)
            }));
        }
        let mut xs: Vec<Vec<f64>> = jobs.iter().map(|j| vec![0.0; j.dim]).collect();
        let mut ys: Vec<Vec<f64>> = jobs.iter().map(|j| vec![0.0; j.dim]).collect();
        let mut st = exchange.lock();
        loop {
            while st.pending < st.live {
                st = exchange.to_main.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.live == 0 {
                break;
            }
            let slots: Vec<usize> = (0..count).filter(|&s| st.submitted[s]).collect();
            for &s in &slots {
                st.submitted[s] = false;
                std::mem::swap(&mut st.x[s], &mut xs[s]);
            }
            st.pending = 0;
            drop(st);
            let outcome = if device_error.is_some() {
                Err(String::new())
            } else {
                apply(&slots, &xs, &mut ys)
            };
            st = exchange.lock();
            match outcome {
                Ok(()) => {
                    for &s in &slots {
                        std::mem::swap(&mut st.y[s], &mut ys[s]);
                        st.ready[s] = true;
                    }
                }
                Err(e) => {
                    st.failed = true;
                    device_error.get_or_insert(e);
                }
            }
            exchange.to_workers.notify_all();
        }
        drop(st);
        for (slot, h) in handles.into_iter().enumerate() {
            match h.join() {
                Ok(r) => results[slot] = Some(r),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    if let Some(e) = device_error {
        return Err(e);
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every worker joined"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shatter_core::grad::{forward, hvp, Workspace};
    use shatter_core::hessian::hvp::SharpnessTracker;
    use shatter_core::{Activation, Dataset, Loss, Network, Shape};

    fn problem(seed: u64, d: usize, width: usize, n: usize) -> (Network<f64>, Dataset<f64>) {
        let shape = Shape {
            d,
            width,
            bias: seed.is_multiple_of(2),
            activation: if seed.is_multiple_of(3) {
                Activation::Gelu
            } else {
                Activation::Relu
            },
        };
        let net = Network::init(shape, seed, 1.0);
        let data = shatter_core::data::generate::generate(
            &shatter_core::data::generate::DataSpec::new(n, d),
            seed,
        )
        .expect("valid spec")
        .train;
        (net, data)
    }

    /// Lanczos in lockstep over a batched product gives each run exactly what the CPU tracker
    /// gives it alone, and a failing product ends every run with the device's error.
    #[test]
    fn lockstep_lanczos_matches_the_solo_tracker() {
        let problems: Vec<_> = (0..5u64)
            .map(|s| problem(s, 1 + s as usize, 6 + 3 * s as usize, 20 + 7 * s as usize))
            .collect();
        let options = LanczosOptions::default();
        let expected: Vec<f64> = problems
            .iter()
            .map(|(net, data)| {
                let mut ws = Workspace::new(net.shape, data.n);
                forward(net, data, Loss::Square, &mut ws);
                let mut tracker = SharpnessTracker::<f64>::new(net.shape, options.clone());
                tracker
                    .measure(net, data, &mut ws)
                    .expect("finite")
                    .sharpness
            })
            .collect();
        let mut workspaces: Vec<Workspace<f64>> = problems
            .iter()
            .map(|(net, data)| {
                let mut ws = Workspace::new(net.shape, data.n);
                forward(net, data, Loss::Square, &mut ws);
                ws
            })
            .collect();
        let jobs: Vec<Job<'_>> = problems
            .iter()
            .map(|(net, _)| Job {
                dim: net.shape.trainable(),
                options: options.clone(),
                start: None,
            })
            .collect();
        let mut rounds = 0;
        let mut apply = |slots: &[usize], xs: &[Vec<f64>], ys: &mut [Vec<f64>]| {
            rounds += 1;
            for &s in slots {
                let (net, data) = &problems[s];
                let shape = net.shape;
                let full = shatter_core::hessian::hvp::expand_vector(&shape, &xs[s]);
                let mut out = vec![0.0; shape.len()];
                hvp(net, data, &mut workspaces[s], &full, &mut out);
                if !shape.bias {
                    out.drain(shape.b_offset()..shape.v_offset());
                }
                ys[s].copy_from_slice(&out);
            }
            Ok(())
        };
        let got = lockstep(&jobs, &mut apply).expect("no device error");
        for (s, (g, e)) in got.iter().zip(&expected).enumerate() {
            let spectrum = g.as_ref().expect("converges");
            assert_eq!(spectrum.top[0].value, *e, "run {s}");
        }
        let most = got
            .iter()
            .map(|g| g.as_ref().unwrap().iterations)
            .max()
            .unwrap();
        assert_eq!(rounds, most, "one batched call per round");

        let mut failing = |_: &[usize], _: &[Vec<f64>], _: &mut [Vec<f64>]| -> Result<(), String> {
            Err("device lost".into())
        };
        assert_eq!(
            lockstep(&jobs, &mut failing).err().as_deref(),
            Some("device lost")
        );
    }
}
