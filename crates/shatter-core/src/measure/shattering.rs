//! Neural shattering statistics (SCIENCE.md section 5): per neuron, how often it fires on the
//! training inputs, how large it is and where its hyperplane sits; and a summary of the table
//! in the terms the papers use (fraction of neurons firing on at most 10% of the data). Plots
//! of these numbers are the lab's job.

use super::{check_pair, inputs64, median, MeasureError, Neurons};
use crate::data::Dataset;
use crate::float::Float;
use crate::model::Network;
use rayon::prelude::*;

/// Activation rates at or below this count as "low" (the papers' 10%).
pub const LOW_RATE: f64 = 0.10;

/// Per-neuron statistics, one entry per neuron in network order (struct of columns).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NeuronStats {
    /// Number of training inputs `n` the rates refer to.
    pub n: usize,
    /// `#{i : z_ik > 0}` with `z_ik = w_k . x_i + b_k` (computed in `f64`).
    pub active_count: Vec<usize>,
    /// Activation rate `rho_k = active_count_k / n`.
    pub activation_rate: Vec<f64>,
    /// Amplitude `|v_k| ||w_k||` (invariant under the ReLU rescaling of a neuron).
    pub amplitude: Vec<f64>,
    /// Parameter norm `||(w_k, b_k, v_k)||`, the Euclidean norm of the neuron's `d + 2` numbers.
    pub param_norm: Vec<f64>,
    /// Boundary offset `|t_k| = |b_k| / ||w_k||`, the distance of the hyperplane `z = 0` from the
    /// origin. `f64::INFINITY` when `w_k = 0`: such a neuron is constant and has no hyperplane
    /// (the limit of `|b| / ||w||` as `w -> 0` for `b != 0`; also used for `b = 0`).
    pub offset: Vec<f64>,
    /// Dead: `rho_k = 0` (never fires on the training inputs).
    pub dead: Vec<bool>,
}

impl NeuronStats {
    /// Number of neurons `K`.
    pub fn len(&self) -> usize {
        self.activation_rate.len()
    }

    /// Whether the table has no neurons.
    pub fn is_empty(&self) -> bool {
        self.activation_rate.is_empty()
    }

    /// Whether neuron `k` has a low activation rate, `rho_k <= 10%` (dead neurons included);
    /// decided in integers, `10 count <= n`, so `rho = 0.1` exactly counts as low.
    pub fn is_low_rate(&self, k: usize) -> bool {
        10 * self.active_count[k] <= self.n
    }
}

/// The papers' summary of a [`NeuronStats`] table. Fractions are of all `K` neurons; every
/// field is 0 for a network without neurons.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ShatteringSummary {
    /// Number of neurons `K`.
    pub width: usize,
    /// Fraction of neurons with `rho_k <= 10%`, dead ones included (the papers' headline).
    pub frac_neurons_rate_le_10pct: f64,
    /// Fraction of neurons that fire but on at most 10% of the data: `0 < rho_k <= 10%`.
    pub frac_sparse_active: f64,
    /// Fraction of dead neurons (`rho_k = 0`).
    pub frac_dead: f64,
    /// Median of `rho_k` over all neurons (mean of the two middle ones for even `K`).
    pub median_activation_rate: f64,
    /// Mean of `rho_k` over all neurons.
    pub mean_activation_rate: f64,
    /// `sum_k a_k rho_k / sum_k a_k` with amplitudes `a_k = |v_k| ||w_k||`: the rate of a
    /// typical unit of output; 0 when every amplitude is 0.
    pub amplitude_weighted_rate: f64,
    /// Share of the total amplitude carried by low-rate neurons (`rho_k <= 10%`); 0 when every
    /// amplitude is 0.
    pub amplitude_share_low_rate: f64,
    /// Mean amplitude of neurons with `0 < rho_k <= 10%`; `None` when there are none.
    pub mean_amplitude_sparse: Option<f64>,
    /// Mean amplitude of neurons with `rho_k > 10%`; `None` when there are none.
    pub mean_amplitude_dense: Option<f64>,
    /// Median boundary offset `|t_k|` of the neurons that fire (`rho_k > 0`); `None` when all
    /// are dead. Shattered neurons sit near the edge of the data (`|t_k|` close to `R`).
    pub median_offset_active: Option<f64>,
}

/// The [`NeuronStats`] of `net` on the training inputs of `data` (SCIENCE.md section 5).
///
/// One pass `z_ik = w_k . x_i + b_k` per neuron (`2 K n d` flops), parallel over neurons with
/// rayon; each neuron is handled by one thread, so the table is identical for any thread count.
/// Allocates the table and an `f64` copy of the inputs. Errors when the dimensions disagree or
/// the data set is empty.
pub fn neuron_stats<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
) -> Result<NeuronStats, MeasureError> {
    check_pair(net, data, "shattering statistics")?;
    let neurons = Neurons::of(net);
    let x = inputs64(data);
    let (n, d) = (data.n, data.d);
    let active_count: Vec<usize> = (0..neurons.k)
        .into_par_iter()
        .map(|k| {
            let w = neurons.w(k);
            let bk = neurons.b[k];
            x.chunks_exact(d)
                .filter(|row| bk + row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() > 0.0)
                .count()
        })
        .collect();
    let mut stats = NeuronStats {
        n,
        ..NeuronStats::default()
    };
    for (k, &count) in active_count.iter().enumerate() {
        let norm = neurons.w_norm(k);
        let (bk, vk) = (neurons.b[k], neurons.v[k]);
        stats.activation_rate.push(count as f64 / n as f64);
        stats.amplitude.push(vk.abs() * norm);
        stats
            .param_norm
            .push((norm * norm + bk * bk + vk * vk).sqrt());
        stats.offset.push(if norm > 0.0 {
            bk.abs() / norm
        } else {
            f64::INFINITY
        });
        stats.dead.push(count == 0);
    }
    stats.active_count = active_count;
    Ok(stats)
}

/// Summarises a [`NeuronStats`] table (see [`ShatteringSummary`] for the definitions).
/// `O(K log K)` (two medians); allocates `O(K)`.
pub fn shattering_summary(stats: &NeuronStats) -> ShatteringSummary {
    let k = stats.len();
    if k == 0 {
        return ShatteringSummary::default();
    }
    let kf = k as f64;
    let low: Vec<bool> = (0..k).map(|i| stats.is_low_rate(i)).collect();
    let count = |pred: &dyn Fn(usize) -> bool| (0..k).filter(|&i| pred(i)).count();
    let mean_of = |pred: &dyn Fn(usize) -> bool| {
        let idx: Vec<usize> = (0..k).filter(|&i| pred(i)).collect();
        (!idx.is_empty())
            .then(|| idx.iter().map(|&i| stats.amplitude[i]).sum::<f64>() / idx.len() as f64)
    };
    let total_amp: f64 = stats.amplitude.iter().sum();
    let ratio = |num: f64| {
        if total_amp > 0.0 {
            num / total_amp
        } else {
            0.0
        }
    };
    let active_offsets: Vec<f64> = (0..k)
        .filter(|&i| !stats.dead[i])
        .map(|i| stats.offset[i])
        .collect();
    ShatteringSummary {
        width: k,
        frac_neurons_rate_le_10pct: count(&|i| low[i]) as f64 / kf,
        frac_sparse_active: count(&|i| low[i] && !stats.dead[i]) as f64 / kf,
        frac_dead: count(&|i| stats.dead[i]) as f64 / kf,
        median_activation_rate: median(&stats.activation_rate).unwrap_or(0.0),
        mean_activation_rate: stats.activation_rate.iter().sum::<f64>() / kf,
        amplitude_weighted_rate: ratio(
            (0..k)
                .map(|i| stats.amplitude[i] * stats.activation_rate[i])
                .sum(),
        ),
        amplitude_share_low_rate: ratio(
            (0..k).filter(|&i| low[i]).map(|i| stats.amplitude[i]).sum(),
        ),
        mean_amplitude_sparse: mean_of(&|i| low[i] && !stats.dead[i]),
        mean_amplitude_dense: mean_of(&|i| !low[i]),
        median_offset_active: median(&active_offsets),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ball_data, random_net};
    use super::*;
    use crate::model::{Activation, Shape};

    /// Ten inputs `x = 0, 1, ..., 9` and four neurons with known rates.
    #[test]
    fn hand_built_rates() {
        let x: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let data = Dataset::new(1, x, vec![0.0; 10]).unwrap();
        let shape = Shape {
            d: 1,
            width: 4,
            bias: true,
            activation: Activation::Relu,
        };
        // relu(x - 8.5): fires on {9} (10%); relu(-x - 1): never; relu(x - 4): {5..9} (50%;
        // x = 4 gives z = 0, not active); w = 0, b = 1: always (100%).
        let w = [1.0, -1.0, 2.0, 0.0];
        let b = [-8.5, -1.0, -8.0, 1.0];
        let v = [3.0, 1.0, -0.5, 2.0];
        let net = Network::from_parts(shape, &w, &b, &v, 0.0).unwrap();
        let s = neuron_stats(&net, &data).unwrap();
        assert_eq!(s.active_count, vec![1, 0, 5, 10]);
        assert_eq!(s.activation_rate, vec![0.1, 0.0, 0.5, 1.0]);
        assert_eq!(s.dead, vec![false, true, false, false]);
        assert_eq!(s.amplitude, vec![3.0, 1.0, 1.0, 0.0]);
        assert_eq!(s.offset, vec![8.5, 1.0, 4.0, f64::INFINITY]);
        assert!((s.param_norm[0] - (1.0f64 + 72.25 + 9.0).sqrt()).abs() < 1e-15);
        let sum = shattering_summary(&s);
        assert_eq!(sum.width, 4);
        assert_eq!(
            sum.frac_neurons_rate_le_10pct, 0.5,
            "rho = 0.1 counts as low"
        );
        assert_eq!(sum.frac_sparse_active, 0.25);
        assert_eq!(sum.frac_dead, 0.25);
        assert!((sum.median_activation_rate - 0.3).abs() < 1e-15);
        assert!((sum.mean_activation_rate - 0.4).abs() < 1e-15);
        assert!((sum.amplitude_weighted_rate - (0.3 + 0.5) / 5.0).abs() < 1e-15);
        assert!((sum.amplitude_share_low_rate - 4.0 / 5.0).abs() < 1e-15);
        assert_eq!(sum.mean_amplitude_sparse, Some(3.0));
        assert_eq!(sum.mean_amplitude_dense, Some(0.5));
        assert_eq!(sum.median_offset_active, Some(8.5));
    }

    #[test]
    fn wide_network_runs_and_is_thread_count_independent() {
        let data = ball_data(512, 10, 21);
        let net = random_net(10, 256, 22, 3.0);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let a = one.install(|| neuron_stats(&net, &data).unwrap());
        let b = two.install(|| neuron_stats(&net, &data).unwrap());
        assert_eq!(a, b, "seeds 21/22: 1 and 2 threads agree");
        let ga = one.install(|| super::super::neuron_weights(&net, &data).unwrap());
        let gb = two.install(|| super::super::neuron_weights(&net, &data).unwrap());
        assert_eq!(
            ga, gb,
            "seeds 21/22: g with 1 and 2 threads agrees bit for bit"
        );
        let sum = shattering_summary(&a);
        assert!(
            (0.0..=1.0).contains(&sum.frac_neurons_rate_le_10pct),
            "seeds 21/22: {sum:?}"
        );
    }

    #[test]
    fn mismatched_inputs_are_errors() {
        let data = ball_data(8, 2, 1);
        let net = random_net(3, 4, 1, 1.0);
        assert!(matches!(
            neuron_stats(&net, &data),
            Err(MeasureError::DimensionMismatch { .. })
        ));
        assert_eq!(
            shattering_summary(&NeuronStats::default()),
            ShatteringSummary::default()
        );
    }
}
