//! Training many runs at once. A sweep hands a device a batch of runs (any mix of seeds, step
//! sizes, decays, `n`, `d` and `K`) and gets back one [`TrainOutcome`] per run, exactly what
//! [`train`] returns for it. [`CpuBatch`] trains the runs side by side on the current rayon
//! pool; the CUDA backend (crate `shatter-gpu`) packs them into batched kernels.
//!
//! A backend may not support every setting: [`BatchTrainer::unsupported`] says why, and the
//! caller trains such runs elsewhere.

use crate::data::Dataset;
use crate::float::Float;
use crate::model::{Network, Shape};
use crate::train::{train, Control, Record, TrainConfig, TrainOutcome};
use rayon::prelude::*;
use std::sync::Mutex;

/// One run of a batch: its network (trained in place), its data and its settings.
pub struct BatchRun<'a, F> {
    /// The network, overwritten with the final parameters.
    pub net: &'a mut Network<F>,
    /// The training set.
    pub data: &'a Dataset<F>,
    /// The test set, if any (its MSE is recorded at `test_every` and at the end).
    pub test: Option<&'a Dataset<F>>,
    /// Optimiser and recording settings.
    pub cfg: &'a TrainConfig,
}

/// A device failed while training a batch (a driver error, too little memory). The runs of the
/// batch have no results; a diverged run is a result, not an error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BatchError(pub String);

/// Sees each trajectory row of run `index` (the position in the batch) and may stop that run;
/// called from any thread.
pub type BatchObserver<'a> = dyn Fn(usize, &Record) -> Control + Sync + 'a;

/// Something that trains a batch of runs: the CPU, or a GPU.
pub trait BatchTrainer<F: Float> {
    /// The device as recorded with results: `cpu`, or for example `cuda:0 (NVIDIA H100 80GB
    /// HBM3)`.
    fn device(&self) -> String;

    /// Why this trainer cannot train a run of `shape` on `n` samples with `cfg`, or `None` when
    /// it can.
    fn unsupported(&self, shape: &Shape, n: usize, cfg: &TrainConfig) -> Option<String>;

    /// Trains every run in place and returns their outcomes in the order of `runs`, each the
    /// same as [`train`] gives for that run (up to rounding on other hardware).
    ///
    /// # Errors
    /// When the device fails; runs it does not support are a caller bug and also an error.
    fn train_batch(
        &mut self,
        runs: &mut [BatchRun<'_, F>],
        observe: &BatchObserver<'_>,
    ) -> Result<Vec<TrainOutcome>, BatchError>;
}

/// The CPU as a [`BatchTrainer`]: each run is [`train`] on the current rayon pool, runs side by
/// side. Supports every setting.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBatch;

impl<F: Float> BatchTrainer<F> for CpuBatch {
    fn device(&self) -> String {
        "cpu".to_string()
    }

    fn unsupported(&self, _shape: &Shape, _n: usize, _cfg: &TrainConfig) -> Option<String> {
        None
    }

    fn train_batch(
        &mut self,
        runs: &mut [BatchRun<'_, F>],
        observe: &BatchObserver<'_>,
    ) -> Result<Vec<TrainOutcome>, BatchError> {
        let outcomes = Mutex::new(vec![None; runs.len()]);
        runs.par_iter_mut().enumerate().for_each(|(i, run)| {
            let out = train(run.net, run.data, run.test, run.cfg, &mut |r| observe(i, r));
            outcomes.lock().expect("no panics while held")[i] = Some(out);
        });
        Ok(outcomes
            .into_inner()
            .expect("no panics while held")
            .into_iter()
            .map(|o| o.expect("every run trained"))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate::{generate, DataSpec};
    use crate::hessian::lanczos::LanczosOptions;
    use crate::loss::Loss;
    use crate::model::Activation;

    fn config(lr: f64, seed: u64) -> TrainConfig {
        TrainConfig {
            epochs: 30,
            lr,
            weight_decay: 0.01,
            clip: Some(5.0),
            momentum: 0.0,
            batch_size: None,
            loss: Loss::Square,
            sharpness_every: 10,
            test_every: 10,
            log_every: 5,
            lanczos: LanczosOptions::default(),
            mixup_alpha: None,
            seed,
        }
    }

    #[test]
    fn cpu_batch_gives_each_run_what_train_gives_it() {
        let shapes = [(2, 8, 16), (3, 12, 24), (1, 20, 5)];
        let mut nets = Vec::new();
        let mut data = Vec::new();
        let mut cfgs = Vec::new();
        for (r, &(d, width, n)) in shapes.iter().enumerate() {
            let shape = Shape {
                d,
                width,
                bias: r != 1,
                activation: Activation::Relu,
            };
            nets.push(Network::<f64>::init(shape, r as u64, 1.0));
            let spec = DataSpec::new(n, d);
            data.push(generate(&spec, r as u64).expect("valid spec").train);
            cfgs.push(config(0.1 * (r + 1) as f64, r as u64));
        }
        let mut solo = nets.clone();
        let expected: Vec<TrainOutcome> = (0..shapes.len())
            .map(|r| {
                train(&mut solo[r], &data[r], None, &cfgs[r], &mut |_| {
                    Control::Continue
                })
            })
            .collect();
        let mut runs: Vec<BatchRun<'_, f64>> = nets
            .iter_mut()
            .zip(&data)
            .zip(&cfgs)
            .map(|((net, data), cfg)| BatchRun {
                net,
                data,
                test: None,
                cfg,
            })
            .collect();
        let seen = Mutex::new(vec![0usize; shapes.len()]);
        let got = CpuBatch
            .train_batch(&mut runs, &|i, _| {
                seen.lock().unwrap()[i] += 1;
                Control::Continue
            })
            .expect("the CPU does not fail");
        drop(runs);
        for r in 0..shapes.len() {
            assert_eq!(got[r].trajectory, expected[r].trajectory, "run {r}");
            assert_eq!(nets[r], solo[r], "run {r}");
            assert_eq!(seen.lock().unwrap()[r], expected[r].trajectory.len());
        }
    }
}
