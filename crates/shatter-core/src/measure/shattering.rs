//! Neural shattering statistics (SCIENCE.md section 5): per neuron, how often it fires on the
//! training inputs, how large it is and where its hyperplane sits; and a summary of the table
//! in the terms the papers use (neurons firing on at most 10% of the data with large norm),
//! with dead and negligible neurons counted apart (see [`NeuronClass`]). Plots of these numbers
//! are the lab's job.

use super::{check_pair, inputs64, median, MeasureError, Neurons};
use crate::data::Dataset;
use crate::float::Float;
use crate::model::{Activation, Network};
use rayon::prelude::*;

/// Activation rates at or below this count as "low" (the papers' 10%).
pub const LOW_RATE: f64 = 0.10;

/// A neuron that fires is *negligible* when its amplitude `|v_k| ||w_k||` is below this fraction
/// of the largest amplitude among the neurons that fire.
///
/// Why relative to the largest firing amplitude: on inputs of norm at most `R` a neuron adds at
/// most `amplitude (R + |t_k|)` to `f`, so a neuron below `1e-3` of the largest moves `f` by
/// less than 0.1% of what the largest one does: it is not part of the function, whatever its
/// rate (the papers' scatter plots of rate against norm show such neurons at the bottom, apart).
/// Not the mean: the mean moves with the number of tiny neurons it is meant to detect. Dead
/// neurons are left out of the reference because they keep their untouched initial weights,
/// which say nothing about the trained function.
pub const NEGLIGIBLE_AMPLITUDE: f64 = 1e-3;

/// A GELU neuron fires at `x_i` when `z_ik > GELU_OFF_Z`, the point where the GELU gate
/// `Phi(z)` equals `1e-3` (`Phi(-3.0902) = 0.001`).
///
/// ReLU is `z 1[z > 0]`, GELU is `z Phi(z)`: the gate `1[z > 0]` becomes `Phi(z)`, which is not
/// 0 for `z < 0`. A GELU neuron whose pre-activations all lie in `(-3, 0)` is not dead: its
/// output `z Phi(z)` varies over the data (down to `-0.17` at `z = -0.75`) and it receives
/// gradient `s'(z) = Phi(z) + z phi(z)` there; the test `z > 0` called it dead. Below
/// `GELU_OFF_Z`, `|s(z)| < 3.1e-3` and `|s'(z)| < 1e-2`: the neuron is as good as off, as a
/// ReLU neuron is for `z <= 0`. For a neuron of large `||w||` the band `(GELU_OFF_Z, 0]` is a
/// slab of width `3.09 / ||w||` next to the hyperplane, so the two tests agree in the limit
/// where GELU approaches ReLU.
pub const GELU_OFF_Z: f64 = -3.090_232_306_167_813;

/// The pre-activation above which a neuron with activation `act` counts as firing: 0 for ReLU,
/// [`GELU_OFF_Z`] for GELU.
pub fn firing_threshold(act: Activation) -> f64 {
    match act {
        Activation::Relu => 0.0,
        Activation::Gelu => GELU_OFF_Z,
    }
}

/// What a neuron is in the trained network; the three classes are disjoint and cover all `K`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeuronClass {
    /// Fires on no training input (`rho_k = 0`).
    Dead,
    /// Fires, with amplitude below [`NEGLIGIBLE_AMPLITUDE`] times the largest firing amplitude.
    Negligible,
    /// Fires with a non-negligible amplitude: the neurons that make the function.
    Active,
}

/// Per-neuron statistics, one entry per neuron in network order (struct of columns).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NeuronStats {
    /// Number of training inputs `n` the rates refer to.
    pub n: usize,
    /// `#{i : z_ik > z_off}` with `z_ik = w_k . x_i + b_k` (computed in `f64`) and `z_off` the
    /// activation's [`firing_threshold`]: `z > 0` for ReLU, `z > GELU_OFF_Z` for GELU.
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

    /// The largest amplitude among neurons that fire; 0 when none fires.
    pub fn largest_firing_amplitude(&self) -> f64 {
        (0..self.len())
            .filter(|&k| !self.dead[k])
            .map(|k| self.amplitude[k])
            .fold(0.0, f64::max)
    }

    /// The class of every neuron, in network order (see [`NeuronClass`]).
    pub fn classes(&self) -> Vec<NeuronClass> {
        let cut = NEGLIGIBLE_AMPLITUDE * self.largest_firing_amplitude();
        (0..self.len())
            .map(|k| {
                if self.dead[k] {
                    NeuronClass::Dead
                } else if self.amplitude[k] < cut || self.amplitude[k] == 0.0 {
                    NeuronClass::Negligible
                } else {
                    NeuronClass::Active
                }
            })
            .collect()
    }
}

/// The papers' summary of a [`NeuronStats`] table. Fractions are of all `K` neurons unless
/// said otherwise; every field is 0 (or `None`) for a network without neurons. "Share of the
/// path norm" is a share of `sum_k |v_k| ||w_k||`, 0 when that sum is 0.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ShatteringSummary {
    /// Number of neurons `K`.
    pub width: usize,
    /// Fraction of all `K` neurons with `rho_k <= 10%`, **dead and negligible ones included**:
    /// the statistic before issue 12, kept under its store and `run.json` name for old stores.
    /// It is not the papers' shattering fraction (a network with half its neurons dead scores
    /// 50% without any neuron shattering); see [`frac_shattered`](Self::frac_shattered).
    pub frac_neurons_rate_le_10pct: f64,
    /// Fraction of all neurons that fire but on at most 10% of the data: `0 < rho_k <= 10%`
    /// (negligible ones included).
    pub frac_sparse_active: f64,
    /// Fraction of dead neurons (`rho_k = 0`), [`NeuronClass::Dead`].
    pub frac_dead: f64,
    /// Fraction of negligible neurons ([`NeuronClass::Negligible`]: they fire, with amplitude
    /// below [`NEGLIGIBLE_AMPLITUDE`] times the largest firing amplitude).
    pub frac_negligible: f64,
    /// Fraction of [`NeuronClass::Active`] neurons; `frac_dead + frac_negligible + frac_active`
    /// is 1.
    pub frac_active: f64,
    /// The papers' shattering fraction: among the active neurons (they fire and have a large
    /// norm, which here means an amplitude of at least [`NEGLIGIBLE_AMPLITUDE`] times the
    /// largest firing amplitude), the fraction that fire on at most 10% of the data
    /// (`10 count <= n`). Dead and negligible neurons are in neither numerator nor denominator.
    /// 0 when no neuron is active.
    pub frac_shattered: f64,
    /// Number of active neurons firing on at most 10% of the data (the numerator of
    /// `frac_shattered`), for criteria that need a count at small `K`.
    pub count_shattered: usize,
    /// Number of active neurons (the denominator of `frac_shattered`).
    pub count_active: usize,
    /// Share of the path norm carried by dead neurons.
    pub path_share_dead: f64,
    /// Share of the path norm carried by negligible neurons.
    pub path_share_negligible: f64,
    /// Share of the path norm carried by active neurons.
    pub path_share_active: f64,
    /// Share of the path norm carried by the shattered neurons (active, `rho_k <= 10%`): the
    /// "large norm" half of the papers' statement.
    pub path_share_shattered: f64,
    /// Median of `rho_k` over all neurons (mean of the two middle ones for even `K`).
    pub median_activation_rate: f64,
    /// Mean of `rho_k` over all neurons.
    pub mean_activation_rate: f64,
    /// `sum_k a_k rho_k / sum_k a_k` with amplitudes `a_k = |v_k| ||w_k||`: the rate of a
    /// typical unit of output; 0 when every amplitude is 0.
    pub amplitude_weighted_rate: f64,
    /// Share of the total amplitude carried by low-rate neurons (`rho_k <= 10%`, dead ones
    /// included); 0 when every amplitude is 0.
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
/// A neuron fires at `x_i` when `z_ik` exceeds the activation's [`firing_threshold`].
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
    let off = firing_threshold(net.shape.activation);
    let active_count: Vec<usize> = (0..neurons.k)
        .into_par_iter()
        .map(|k| {
            let w = neurons.w(k);
            let bk = neurons.b[k];
            x.chunks_exact(d)
                .filter(|row| bk + row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() > off)
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
    let classes = stats.classes();
    let classes = &classes;
    let is = |c: NeuronClass| move |i: usize| classes[i] == c;
    let shattered = |i: usize| classes[i] == NeuronClass::Active && low[i];
    // A fold from +0.0: an empty `sum` of floats is -0.0, which would print as "-0%".
    let share = |pred: &dyn Fn(usize) -> bool| {
        ratio(
            (0..k)
                .filter(|&i| pred(i))
                .fold(0.0, |acc, i| acc + stats.amplitude[i]),
        )
    };
    let count_active = count(&is(NeuronClass::Active));
    let count_shattered = count(&shattered);
    ShatteringSummary {
        width: k,
        frac_neurons_rate_le_10pct: count(&|i| low[i]) as f64 / kf,
        frac_sparse_active: count(&|i| low[i] && !stats.dead[i]) as f64 / kf,
        frac_dead: count(&|i| stats.dead[i]) as f64 / kf,
        frac_negligible: count(&is(NeuronClass::Negligible)) as f64 / kf,
        frac_active: count_active as f64 / kf,
        frac_shattered: if count_active > 0 {
            count_shattered as f64 / count_active as f64
        } else {
            0.0
        },
        count_shattered,
        count_active,
        path_share_dead: share(&is(NeuronClass::Dead)),
        path_share_negligible: share(&is(NeuronClass::Negligible)),
        path_share_active: share(&is(NeuronClass::Active)),
        path_share_shattered: share(&shattered),
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
    use crate::model::Shape;

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

    /// Twenty inputs `x = 0, ..., 19`; dead, negligible and active neurons known by
    /// construction, with amplitudes that are exact in binary.
    #[test]
    fn dead_negligible_and_active_neurons_are_counted_apart() {
        let x: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let data = Dataset::new(1, x, vec![0.0; 20]).unwrap();
        let shape = Shape {
            d: 1,
            width: 6,
            bias: true,
            activation: Activation::Relu,
        };
        // 0: relu(x - 17.5) fires on {18, 19} (10%), amplitude 4: shattered.
        // 1: relu(x - 9.5) fires on {10..19} (50%), amplitude 2: active, dense.
        // 2: relu(-x - 1) never fires, amplitude 8 (an untouched initial v): dead.
        // 3: relu(-x - 3) never fires, amplitude 2: dead.
        // 4: relu(x - 18.5) fires on {19} (5%), amplitude 2^-12 < 1e-3 * 4: negligible.
        // 5: relu(x + 1) fires everywhere, amplitude 2^-13: negligible.
        let w = [1.0, 1.0, -1.0, -1.0, 1.0, 1.0];
        let b = [-17.5, -9.5, -1.0, -3.0, -18.5, 1.0];
        let tiny = 2f64.powi(-12);
        let v = [4.0, -2.0, 8.0, 2.0, tiny, -tiny / 2.0];
        let net = Network::from_parts(shape, &w, &b, &v, 0.0).unwrap();
        let s = neuron_stats(&net, &data).unwrap();
        assert_eq!(s.active_count, vec![2, 10, 0, 0, 1, 20]);
        assert_eq!(
            s.largest_firing_amplitude(),
            4.0,
            "dead neuron 2 (8) is left out"
        );
        use NeuronClass::*;
        assert_eq!(
            s.classes(),
            vec![Active, Active, Dead, Dead, Negligible, Negligible]
        );
        let sum = shattering_summary(&s);
        let total = 4.0 + 2.0 + 8.0 + 2.0 + tiny + tiny / 2.0;
        assert_eq!(sum.frac_dead, 2.0 / 6.0);
        assert_eq!(sum.frac_negligible, 2.0 / 6.0);
        assert_eq!(sum.frac_active, 2.0 / 6.0);
        assert_eq!((sum.count_active, sum.count_shattered), (2, 1));
        assert_eq!(sum.frac_shattered, 0.5, "1 of the 2 active neurons");
        // The old statistic counts the dead and the negligible low-rate neuron too: 4 of 6.
        assert_eq!(sum.frac_neurons_rate_le_10pct, 4.0 / 6.0);
        assert_eq!(sum.path_share_dead, 10.0 / total);
        assert_eq!(sum.path_share_negligible, (tiny + tiny / 2.0) / total);
        assert_eq!(sum.path_share_active, 6.0 / total);
        assert_eq!(sum.path_share_shattered, 4.0 / total);
    }

    /// Without firing neurons every neuron is dead, and the shattering fraction is 0 (not NaN).
    #[test]
    fn all_dead_network_has_no_active_neurons() {
        let data = Dataset::new(1, vec![0.0, 1.0], vec![0.0; 2]).unwrap();
        let shape = Shape {
            d: 1,
            width: 2,
            bias: true,
            activation: Activation::Relu,
        };
        let net =
            Network::from_parts(shape, &[-1.0, -2.0], &[0.0, -1.0], &[1.0, 1.0], 0.0).unwrap();
        let sum = shattering_summary(&neuron_stats(&net, &data).unwrap());
        assert_eq!(
            (sum.frac_dead, sum.frac_active, sum.frac_shattered),
            (1.0, 0.0, 0.0)
        );
        assert_eq!(sum.path_share_dead, 1.0);
        assert!(
            sum.path_share_negligible.is_sign_positive(),
            "an empty class has share +0, not -0"
        );
    }

    /// The cause of GELU's low "active fraction" (issue 12): with the same pre-activations, a
    /// neuron whose `z` stays in `(-3, 0)` on every input is dead for ReLU (output and gradient
    /// 0) but not for GELU, whose output and slope there are clearly non-zero; the old test
    /// `z > 0` called it dead under both.
    #[test]
    fn gelu_and_relu_fire_alike_on_the_same_pre_activations() {
        let x: Vec<f64> = (0..10).map(|i| i as f64 / 10.0).collect(); // 0, 0.1, ..., 0.9
        let data = Dataset::new(1, x.clone(), vec![0.0; 10]).unwrap();
        // 0: z = x - 2 in [-2, -1.1]: off for ReLU, on for GELU.
        // 1: z = 100 (x - 0.75): fires on {0.8, 0.9} under ReLU; GELU adds 0.7 (z = -5: off).
        // 2: z = -x - 4 <= -4: off for both.
        // 3: z = x + 1: on for both everywhere.
        let w = [1.0, 100.0, -1.0, 1.0];
        let b = [-2.0, -75.0, -4.0, 1.0];
        let v = [1.0; 4];
        let stats = |activation| {
            let shape = Shape {
                d: 1,
                width: 4,
                bias: true,
                activation,
            };
            let net = Network::from_parts(shape, &w, &b, &v, 0.0).unwrap();
            neuron_stats(&net, &data).unwrap()
        };
        let (relu, gelu) = (stats(Activation::Relu), stats(Activation::Gelu));
        // Neuron 0 under GELU: not dead in any useful sense.
        for xi in &x {
            let z = xi - 2.0;
            let (s, ds, _) = Activation::Gelu.derivatives(z);
            assert!(
                s.abs() > 0.01 && ds.abs() > 0.01,
                "z = {z}: s = {s}, s' = {ds}"
            );
        }
        assert_eq!(relu.active_count, vec![0, 2, 0, 10]);
        assert_eq!(gelu.active_count, vec![10, 2, 0, 10]);
        assert_eq!(relu.dead, vec![true, false, true, false]);
        assert_eq!(gelu.dead, vec![false, false, true, false]);
        // Below the GELU threshold the neuron is as good as off.
        let (s, ds, _) = Activation::Gelu.derivatives(GELU_OFF_Z);
        assert!(s.abs() < 3.1e-3 && ds.abs() < 1e-2, "s = {s}, s' = {ds}");
        let (phi, _) = GELU_OFF_Z.normal_cdf_pdf();
        assert!((phi - 1e-3).abs() < 1e-12, "Phi(GELU_OFF_Z) = {phi}");
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
