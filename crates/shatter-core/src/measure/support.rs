//! What the geometry of the training support lets a flat network do, and what it does outside
//! that support.
//!
//! *Isolation* (the tutorial's sphere against ball): a training point `x_i` is isolated by the
//! radial cap `{x : u_i . x > t}` with `u_i = x_i / ||x_i||` when no other training point lies
//! beyond `s_i = max_{j != i} u_i . x_j`, i.e. when `||x_i|| > s_i`. The ReLU atom
//! `a relu(u_i . x - t)` with `s_i <= t < ||x_i||` then changes the fit at `x_i` alone, and fitting
//! a residual `r_i` there costs `|r_i| c_i` in the weighted variation norm, with
//! `c_i = g(u_i, t) / (||x_i|| - t)`: on the small side `g~ = (||x_i|| - t) sqrt(1 + ||x_i||^2) / n^2`,
//! so `c_i = sqrt(1 + ||x_i||^2) / n^2` whenever that side is the smaller (it is, unless `n` is
//! tiny). On the sphere every point is isolated and interpolating all the noise costs about
//! `sqrt(2) E|noise| / n` in total: the flatness bound gives no control. In the ball only points
//! near the boundary are isolated by their radial cap, a fraction that falls with `n`.
//!
//! *Per-class output* (out-of-distribution behaviour of dead and shattered neurons): the
//! network's output split by neuron class (dead, negligible, shattered = active on at most
//! [`LOW_RATE`] of the training inputs, broad = the other active neurons), its size on test
//! inputs inside and outside the training support, and the test MSE with each class removed.

use super::shattering::{NeuronClass, NeuronStats, LOW_RATE};
use super::{check_pair, weight, MeasureError, Neurons};
use crate::data::Dataset;
use crate::float::Float;
use crate::model::{Activation, Network, Shape};

/// Which training points their radial cap isolates, and what fitting a unit residual there
/// costs in the weighted variation norm. One entry per training point, in data order.
#[derive(Clone, Debug, PartialEq)]
pub struct Isolation {
    /// `||x_i|| > max_{j != i} u_i . x_j` (with `u_i = x_i / ||x_i||`; a point at the origin is
    /// never isolated, nor is the point of a one-point set, which has no other point to
    /// separate from and is given `true`).
    pub isolated: Vec<bool>,
    /// The offset `t_i` of the isolating atom, halfway between `s_i` and `||x_i||`
    /// (`NaN` when not isolated).
    pub offset: Vec<f64>,
    /// `c_i = g(u_i, t_i) / (||x_i|| - t_i)`: the weighted variation norm of the atom that adds
    /// 1 to the fit at `x_i` and nothing at the other training points (`NaN` when not
    /// isolated). Evaluated with the empirical weight function of the data set.
    pub unit_cost: Vec<f64>,
}

impl Isolation {
    /// The fraction of training points that are isolated.
    pub fn isolated_fraction(&self) -> f64 {
        let n = self.isolated.len().max(1);
        self.isolated.iter().filter(|&&b| b).count() as f64 / n as f64
    }

    /// `sum_i |r_i| c_i` over the isolated points: the weighted variation norm of the network of
    /// isolating atoms that adds `r_i` at every isolated `x_i` ([`isolating_network`]).
    /// Errors when `residuals` does not have one entry per point.
    pub fn fitting_cost(&self, residuals: &[f64]) -> Result<f64, MeasureError> {
        if residuals.len() != self.isolated.len() {
            return Err(MeasureError::LengthMismatch {
                what: "residuals and training points",
                left: residuals.len(),
                right: self.isolated.len(),
            });
        }
        Ok(residuals
            .iter()
            .zip(&self.unit_cost)
            .zip(&self.isolated)
            .filter(|(_, &iso)| iso)
            .map(|((r, c), _)| r.abs() * c)
            .sum())
    }
}

/// The radial-cap isolation of every training point (see the module documentation).
///
/// `O(n^2 d)`; allocates `O(n)`. Errors when the data set is empty.
pub fn isolation<F: Float>(data: &Dataset<F>) -> Result<Isolation, MeasureError> {
    if data.n == 0 {
        return Err(MeasureError::EmptyData { what: "isolation" });
    }
    let (n, d) = (data.n, data.d);
    let x: Vec<f64> = data.x.iter().map(|v| v.to64()).collect();
    let mut out = Isolation {
        isolated: Vec::with_capacity(n),
        offset: Vec::with_capacity(n),
        unit_cost: Vec::with_capacity(n),
    };
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        let norm = xi.iter().map(|v| v * v).sum::<f64>().sqrt();
        let u: Vec<f64> = xi.iter().map(|v| v / norm).collect();
        let beyond = (0..n)
            .filter(|&j| j != i)
            .map(|j| dot(&u, &x[j * d..(j + 1) * d]))
            .fold(f64::NEG_INFINITY, f64::max);
        // One point: any cap below it isolates it; take the origin's side as the other edge.
        let s = if n == 1 { 0.0 } else { beyond };
        if norm > 0.0 && norm > s {
            let t = 0.5 * (s + norm);
            let g = weight(data, &u, t)?;
            out.isolated.push(true);
            out.offset.push(t);
            out.unit_cost.push(g / (norm - t));
        } else {
            out.isolated.push(false);
            out.offset.push(f64::NAN);
            out.unit_cost.push(f64::NAN);
        }
    }
    Ok(out)
}

/// The network of isolating atoms that adds `residuals[i]` at every isolated training point and
/// nothing at the others (output bias 0), one neuron per isolated point with a non-zero
/// residual, each balanced (`|v_k| = ||w_k||`). `None` when no atom is needed. Errors when the
/// lengths disagree.
pub fn isolating_network<F: Float>(
    data: &Dataset<F>,
    iso: &Isolation,
    residuals: &[f64],
) -> Result<Option<Network<f64>>, MeasureError> {
    iso.fitting_cost(residuals)?;
    let d = data.d;
    let (mut w, mut b, mut v) = (Vec::new(), Vec::new(), Vec::new());
    for (i, &r) in residuals.iter().enumerate() {
        if !iso.isolated[i] || r == 0.0 {
            continue;
        }
        let xi: Vec<f64> = data.row(i).iter().map(|v| v.to64()).collect();
        let norm = xi.iter().map(|v| v * v).sum::<f64>().sqrt();
        let t = iso.offset[i];
        // a (norm - t) = r with a = v ||w|| and |v| = ||w|| = sqrt(|a|).
        let scale = (r.abs() / (norm - t)).sqrt();
        w.extend(xi.iter().map(|c| c / norm * scale));
        b.push(-t * scale);
        v.push(r.signum() * scale);
    }
    if v.is_empty() {
        return Ok(None);
    }
    let shape = Shape {
        d,
        width: v.len(),
        bias: true,
        activation: Activation::Relu,
    };
    Ok(Network::from_parts(shape, &w, &b, &v, 0.0))
}

/// The kinds of neurons whose output [`class_outputs`] separates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutputClass {
    /// Fires on no training input.
    Dead,
    /// Fires, with negligible amplitude ([`NeuronClass::Negligible`]).
    Negligible,
    /// Active, on at most [`LOW_RATE`] of the training inputs.
    Shattered,
    /// Active on more than [`LOW_RATE`] of them.
    Broad,
}

impl OutputClass {
    /// Every class, in table order.
    pub const ALL: [OutputClass; 4] = [
        OutputClass::Dead,
        OutputClass::Negligible,
        OutputClass::Shattered,
        OutputClass::Broad,
    ];

    /// `dead`, `negligible`, `shattered` or `broad`.
    pub fn name(self) -> &'static str {
        match self {
            OutputClass::Dead => "dead",
            OutputClass::Negligible => "negligible",
            OutputClass::Shattered => "shattered",
            OutputClass::Broad => "broad",
        }
    }

    /// The class of every neuron of `stats`.
    pub fn of(stats: &NeuronStats) -> Vec<OutputClass> {
        stats
            .classes()
            .into_iter()
            .enumerate()
            .map(|(k, c)| match c {
                NeuronClass::Dead => OutputClass::Dead,
                NeuronClass::Negligible => OutputClass::Negligible,
                NeuronClass::Active if stats.activation_rate[k] <= LOW_RATE => {
                    OutputClass::Shattered
                }
                NeuronClass::Active => OutputClass::Broad,
            })
            .collect()
    }
}

/// What one class of neurons adds to the network's output on two test sets.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassOutput {
    /// The class.
    pub class: OutputClass,
    /// How many neurons it has.
    pub neurons: usize,
    /// Root mean square of the class's summed output `f_C(x) = sum_{k in C} v_k s(w_k . x + b_k)`
    /// on the inside test set.
    pub rms_inside: f64,
    /// The same on the outside test set.
    pub rms_outside: f64,
    /// Test MSE of the network without the class, on the inside set.
    pub mse_without_inside: f64,
    /// The same on the outside set.
    pub mse_without_outside: f64,
}

/// The network's test MSE on two sets and each class's share of its output.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassOutputs {
    /// Test MSE of the whole network on the inside set.
    pub mse_inside: f64,
    /// The same on the outside set.
    pub mse_outside: f64,
    /// Root mean square of the labels (the noiseless target) on the inside set: how large the
    /// function to fit is there.
    pub rms_target_inside: f64,
    /// The same on the outside set.
    pub rms_target_outside: f64,
    /// One entry per class of [`OutputClass::ALL`].
    pub classes: Vec<ClassOutput>,
}

/// The per-class output of `net` (classes from `stats`, the neuron table over the training
/// inputs) on the test sets `inside` and `outside`, whose labels are the noiseless target.
///
/// Cost `O((n_in + n_out) K d)`; allocates the per-point outputs of every class. Errors when the
/// dimensions or lengths disagree or a set is empty.
pub fn class_outputs<F: Float>(
    net: &Network<F>,
    stats: &NeuronStats,
    inside: &Dataset<f64>,
    outside: &Dataset<f64>,
) -> Result<ClassOutputs, MeasureError> {
    let net64: Network<f64> = net.cast();
    check_pair(&net64, inside, "per-class output (inside)")?;
    check_pair(&net64, outside, "per-class output (outside)")?;
    if stats.len() != net.shape.width {
        return Err(MeasureError::LengthMismatch {
            what: "neuron table and network width",
            left: stats.len(),
            right: net.shape.width,
        });
    }
    let classes = OutputClass::of(stats);
    let inside_split = split_outputs(&net64, &classes, inside);
    let outside_split = split_outputs(&net64, &classes, outside);
    let mut out = ClassOutputs {
        mse_inside: mse_without(&inside_split, inside, None),
        mse_outside: mse_without(&outside_split, outside, None),
        rms_target_inside: rms(&inside.y),
        rms_target_outside: rms(&outside.y),
        classes: Vec::new(),
    };
    for (c, class) in OutputClass::ALL.into_iter().enumerate() {
        out.classes.push(ClassOutput {
            class,
            neurons: classes.iter().filter(|&&k| k == class).count(),
            rms_inside: rms(&inside_split.per_class[c]),
            rms_outside: rms(&outside_split.per_class[c]),
            mse_without_inside: mse_without(&inside_split, inside, Some(c)),
            mse_without_outside: mse_without(&outside_split, outside, Some(c)),
        });
    }
    Ok(out)
}

/// The output on each point of a set, split by class, and the output bias.
struct Split {
    /// `per_class[c][i]`: class `c`'s summed output at point `i`.
    per_class: Vec<Vec<f64>>,
    beta: f64,
}

fn split_outputs(net: &Network<f64>, classes: &[OutputClass], set: &Dataset<f64>) -> Split {
    let neurons = Neurons::of(net);
    let act = net.shape.activation;
    let mut per_class = vec![vec![0.0; set.n]; OutputClass::ALL.len()];
    for i in 0..set.n {
        let x = set.row(i);
        for (k, class) in classes.iter().enumerate() {
            let z = neurons.b[k] + dot(neurons.w(k), x);
            per_class[*class as usize][i] += neurons.v[k] * act.value(z);
        }
    }
    Split {
        per_class,
        beta: net.beta(),
    }
}

/// Test MSE of the split's network, without class `skip` when given.
fn mse_without(split: &Split, set: &Dataset<f64>, skip: Option<usize>) -> f64 {
    let sum: f64 = (0..set.n)
        .map(|i| {
            let f: f64 = split.beta
                + split
                    .per_class
                    .iter()
                    .enumerate()
                    .filter(|(c, _)| Some(*c) != skip)
                    .map(|(_, out)| out[i])
                    .sum::<f64>();
            (f - set.y[i]).powi(2)
        })
        .sum();
    sum / set.n as f64
}

fn rms(values: &[f64]) -> f64 {
    (values.iter().map(|v| v * v).sum::<f64>() / values.len().max(1) as f64).sqrt()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ball_data, random_net};
    use super::super::{neuron_stats, vg_norm};
    use super::*;

    fn sphere_data(n: usize, d: usize, seed: u64) -> Dataset<f64> {
        let mut data = ball_data(n, d, seed);
        for i in 0..n {
            let row = &mut data.x[i * d..(i + 1) * d];
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            row.iter_mut().for_each(|v| *v /= norm);
        }
        data
    }

    /// Brute force: point `i` is isolated by its radial cap iff no other point projects as far.
    fn isolated_brute(data: &Dataset<f64>, i: usize) -> bool {
        let xi = data.row(i);
        let norm = dot(xi, xi).sqrt();
        (0..data.n)
            .filter(|&j| j != i)
            .all(|j| dot(xi, data.row(j)) / norm < norm)
    }

    #[test]
    fn every_point_on_the_sphere_is_isolated_and_costs_the_closed_form() {
        for (seed, d) in [(1, 2), (2, 3), (3, 5)] {
            let n = 40;
            let data = sphere_data(n, d, seed);
            let iso = isolation(&data).unwrap();
            assert_eq!(iso.isolated_fraction(), 1.0, "seed {seed}");
            // The small side holds x_i alone: c_i = sqrt(1 + ||x_i||^2) / n^2 = sqrt(2) / n^2.
            // (The excess p - t is a difference of nearby numbers when a neighbour is close:
            // relative rounding up to eps / (||x_i|| - t).)
            let closed = 2f64.sqrt() / (n * n) as f64;
            for c in &iso.unit_cost {
                assert!(
                    (c - closed).abs() < 1e-8 * closed,
                    "seed {seed}: {c} vs {closed}"
                );
            }
        }
    }

    #[test]
    fn ball_isolation_matches_brute_force_and_falls_with_n() {
        let mut fractions = Vec::new();
        for n in [16, 64, 256] {
            let data = ball_data(n, 2, 7);
            let iso = isolation(&data).unwrap();
            for i in 0..n {
                assert_eq!(
                    iso.isolated[i],
                    isolated_brute(&data, i),
                    "seed 7 n {n} point {i}"
                );
            }
            fractions.push(iso.isolated_fraction());
        }
        assert!(
            fractions[0] > fractions[2] && fractions[2] < 0.5,
            "seed 7: {fractions:?}"
        );
    }

    #[test]
    fn the_isolating_network_fits_the_residuals_alone_at_its_weighted_variation_cost() {
        for (seed, data) in [(4, sphere_data(30, 3, 4)), (5, ball_data(30, 3, 5))] {
            let iso = isolation(&data).unwrap();
            let r: Vec<f64> = (0..data.n).map(|i| ((i as f64) * 0.7).sin()).collect();
            let net = isolating_network(&data, &iso, &r).unwrap().unwrap();
            for i in 0..data.n {
                let want = if iso.isolated[i] { r[i] } else { 0.0 };
                let got = net.predict(data.row(i));
                assert!(
                    (got - want).abs() < 1e-12,
                    "seed {seed} point {i}: {got} vs {want}"
                );
            }
            // The weighted variation norm of that network, computed by the general routine,
            // is the summed cost.
            let vg = vg_norm(&net, &data).unwrap();
            let cost = iso.fitting_cost(&r).unwrap();
            assert!(
                (vg - cost).abs() < 1e-12 * cost.max(1e-300),
                "seed {seed}: {vg} vs {cost}"
            );
        }
    }

    #[test]
    fn mismatched_residuals_are_refused_by_name() {
        let data = ball_data(5, 2, 1);
        let iso = isolation(&data).unwrap();
        let err = iso.fitting_cost(&[1.0; 4]).unwrap_err();
        assert!(err.to_string().contains("residuals"), "{err}");
        let empty = Dataset::<f64> {
            n: 0,
            d: 2,
            x: vec![],
            y: vec![],
        };
        assert!(isolation(&empty).is_err());
    }

    #[test]
    fn class_outputs_add_up_to_the_network_and_removal_matches_a_pruned_network() {
        let data = ball_data(60, 3, 11);
        let net = random_net(3, 24, 12, 2.0);
        let stats = neuron_stats(&net, &data).unwrap();
        let classes = OutputClass::of(&stats);
        let inside = ball_data(50, 3, 13);
        let mut outside = ball_data(50, 3, 14);
        outside.x.iter_mut().for_each(|v| *v *= 2.0);
        let out = class_outputs(&net, &stats, &inside, &outside).unwrap();
        assert_eq!(
            out.classes.iter().map(|c| c.neurons).sum::<usize>(),
            24,
            "seed 12"
        );
        let mse = |n: &Network<f64>, s: &Dataset<f64>| {
            (0..s.n)
                .map(|i| (n.predict(s.row(i)) - s.y[i]).powi(2))
                .sum::<f64>()
                / s.n as f64
        };
        assert!(
            (out.mse_inside - mse(&net, &inside)).abs() < 1e-10,
            "seed 12"
        );
        assert!(
            (out.mse_outside - mse(&net, &outside)).abs() < 1e-10,
            "seed 12"
        );
        let rms_y = |s: &Dataset<f64>| (s.y.iter().map(|y| y * y).sum::<f64>() / s.n as f64).sqrt();
        assert_eq!(out.rms_target_outside, rms_y(&outside), "seed 12");
        assert_eq!(out.rms_target_inside, rms_y(&inside), "seed 12");
        for c in &out.classes {
            // Zeroing the class's output weights gives the network without it.
            let mut pruned = net.clone();
            let off = pruned.shape.v_offset();
            for (k, class) in classes.iter().enumerate() {
                if *class == c.class {
                    pruned.params[off + k] = 0.0;
                }
            }
            assert!(
                (c.mse_without_outside - mse(&pruned, &outside)).abs() < 1e-10,
                "seed 12 {}",
                c.class.name()
            );
            assert!(
                (c.mse_without_inside - mse(&pruned, &inside)).abs() < 1e-10,
                "seed 12 {}",
                c.class.name()
            );
            if c.class == OutputClass::Dead {
                // A dead neuron is silent on the training inputs by definition.
                let dead: Vec<usize> = (0..24).filter(|&k| stats.dead[k]).collect();
                for i in 0..data.n {
                    for &k in &dead {
                        let z = net.b()[k] + dot(&net.w_row(k), data.row(i));
                        assert!(z <= 0.0, "seed 12 neuron {k}");
                    }
                }
            }
        }
    }
}
