//! Shape of a univariate network (`d = 1`, SCIENCE.md sections 4 and 7 "univariate"): where
//! its knots are, how many linear pieces it has inside the data, the weighted total variation
//! `integral |f''| g dx`, how far knots sit from the training inputs, and how sparse the output
//! weights are. The 2024 paper's claims (larger step: fewer knots, knots away from data points,
//! sparser output weights) are read off these numbers.
//!
//! Neuron `k` with `w_k != 0` has its knot at `x = -b_k / w_k`, where `f'` jumps by
//! `v_k |w_k|` (whatever the sign of `w_k`), so `f'' = sum_k v_k |w_k| delta(x - knot_k)`.

use super::weight::neuron_weights;
use super::{check_number, median, MeasureError, Neurons};
use crate::data::Dataset;
use crate::float::Float;
use crate::model::Network;

/// Default tolerance for merging knots: `1e-9` times the data scale `max_i |x_i|` (see
/// [`univariate_summary`]).
pub const DEFAULT_KNOT_TOL: f64 = 1e-9;

/// Output weights with `|v_k| < SMALL_V * max_k |v_k|` count as switched off (both over the
/// neurons that fire on the training inputs).
pub const SMALL_V: f64 = 1e-3;

/// Kinks inside the data closer than `PIECE_MERGE_TOL * (max x - min x)` to their neighbour
/// count as one bend in [`UnivariateSummary::pieces_inside`] (single linkage).
///
/// Gradient descent puts several neurons' knots at nearly the same training input (a kink
/// clusters at a data point); each is a kink of `f`, but together they make one bend: drawn
/// over the data range 1000 pixels wide, knots closer than a pixel are one corner. The same
/// resolution as the significant-knot count of the lab's `univariate` report.
pub const PIECE_MERGE_TOL: f64 = 1e-3;

/// A merged bend whose net slope change `|sum v_k |w_k||` is below `PIECE_SLOPE_TOL` times the
/// largest bend's inside the data does not count as a piece boundary: a corner of 0.1% of the
/// sharpest one is not visible in `f`, and neurons of amplitude `1e-8` make such corners.
pub const PIECE_SLOPE_TOL: f64 = 1e-3;

/// One knot of `f` after merging neurons whose knots coincide (up to the tolerance).
#[derive(Clone, Debug, PartialEq)]
pub struct Knot {
    /// Position: the knot of the group's first neuron in sorted order.
    pub position: f64,
    /// Jump of `f'` across the knot: `sum_k v_k |w_k|` over the merged neurons.
    pub slope_change: f64,
    /// `sum_k |v_k| |w_k|` over the merged neurons (the jump if nothing cancelled).
    pub total_abs: f64,
    /// Whether `f` really bends here: `|slope_change| > 1e-12 * total_abs` (and `total_abs >
    /// 0`). Neurons with `v_k = 0`, or several neurons cancelling, make no kink.
    pub kink: bool,
    /// Whether the knot lies strictly inside `(min x, max x)`.
    pub inside: bool,
    /// `|sum_k v_k |w_k| g_k|` over the merged neurons, with `g_k` the weight function at the
    /// neuron's knot: this knot's share of `integral |f''| g dx`.
    pub weighted_change: f64,
    /// Distance to the nearest training input.
    pub distance_to_data: f64,
    /// The merged neurons, in order of knot position.
    pub neurons: Vec<usize>,
}

/// Univariate shape measures of one network on one data set; see [`univariate_summary`].
#[derive(Clone, Debug, PartialEq)]
pub struct UnivariateSummary {
    /// Smallest training input.
    pub data_min: f64,
    /// Largest training input.
    pub data_max: f64,
    /// Knot `-b_k / w_k` of every neuron, in network order; `None` where `w_k = 0` (a constant
    /// neuron).
    pub neuron_knots: Vec<Option<f64>>,
    /// Merged knots, sorted by position (all of them, inside the data range or not).
    pub knots: Vec<Knot>,
    /// Number of linear pieces of `f` on `[min x, max x]`, counting bends one can see: one plus
    /// the number of groups of kinks strictly inside after merging kinks closer than
    /// [`PIECE_MERGE_TOL`] times the data range, leaving out groups whose net slope change is
    /// below [`PIECE_SLOPE_TOL`] times the largest group's.
    pub pieces_inside: usize,
    /// Number of kinks strictly inside, every one however small or close to another (the
    /// exact number of linear pieces of `f` on the data range is `1 + kinks_inside`).
    pub kinks_inside: usize,
    /// `integral |f''(x)| g(x) dx = sum over merged knots of weighted_change`. Equal to the
    /// reduced `|f|_Vg`, except when neurons of opposite orientation share a knot (their
    /// jumps combine here but not in the reduced form), where it is smaller.
    pub weighted_tv: f64,
    /// `integral |f''(x)| dx` over `[min x, max x]`: the sum of `|slope_change|` over merged
    /// knots strictly inside.
    pub tv_inside: f64,
    /// For every kink strictly inside the data range, its distance to the nearest training
    /// input, in knot order.
    pub knot_distances: Vec<f64>,
    /// Median of `knot_distances`; `None` when there is no kink inside.
    pub median_knot_distance: Option<f64>,
    /// Among the neurons that fire on the training inputs (not dead, in the sense of
    /// [`neuron_stats`](super::neuron_stats)), the fraction whose output weight is below
    /// [`SMALL_V`] times the largest `|v_k|` of those neurons (1 when all their `v_k = 0`; 0
    /// when no neuron fires). Dead neurons are left out: their `v_k` never receives a gradient
    /// and keeps its initial value, which says nothing about training.
    pub frac_small_output_weights: f64,
    /// Participation ratio of the output weights divided by `K`:
    /// `||v||_1^2 / (K ||v||_2^2)`, in `[1/K, 1]`: 1 when all `|v_k|` are equal, `1/K` when one
    /// neuron carries everything; 0 when `v = 0`. Not invariant under neuron rescaling.
    pub output_participation: f64,
    /// The same ratio for the amplitudes `|v_k| |w_k|`, which are invariant under rescaling.
    pub amplitude_participation: f64,
}

/// Univariate shape measures (see [`UnivariateSummary`] for the definitions).
///
/// Knots are sorted and merged by single linkage: consecutive knots closer than
/// `knot_tol * scale`, `scale = max_i |x_i|` (1 if all inputs are 0), share a [`Knot`].
/// `O(K n + K log K + n log n)`; allocates `O(K + n)`. Errors when `d != 1`, the dimensions of
/// network and data disagree, the data set is empty, or `knot_tol` is negative or not finite.
pub fn univariate_summary<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    knot_tol: f64,
) -> Result<UnivariateSummary, MeasureError> {
    let what = "univariate summary";
    if net.shape.d != 1 {
        return Err(MeasureError::NotUnivariate {
            what,
            d: net.shape.d,
        });
    }
    super::check_pair(net, data, what)?;
    let knot_tol = check_number("knot tolerance", knot_tol, true)?;
    let g = neuron_weights(net, data)?;
    let neurons = Neurons::of(net);
    let mut xs: Vec<f64> = data.x.iter().map(|x| x.to64()).collect();
    xs.sort_by(f64::total_cmp);
    let (data_min, data_max) = (xs[0], xs[xs.len() - 1]);
    let scale = xs.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let gap = knot_tol * if scale > 0.0 { scale } else { 1.0 };

    let neuron_knots: Vec<Option<f64>> = (0..neurons.k)
        .map(|k| (neurons.w[k] != 0.0).then(|| -neurons.b[k] / neurons.w[k]))
        .collect();
    let mut order: Vec<usize> = (0..neurons.k)
        .filter(|&k| neuron_knots[k].is_some())
        .collect();
    let pos = |k: usize| neuron_knots[k].unwrap_or(f64::NAN);
    order.sort_by(|&a, &b| pos(a).total_cmp(&pos(b)).then(a.cmp(&b)));

    let mut knots: Vec<Knot> = Vec::new();
    let mut last = f64::NEG_INFINITY;
    for &k in &order {
        let p = pos(k);
        let jump = neurons.v[k] * neurons.w[k].abs();
        match knots.last_mut() {
            Some(knot) if p - last <= gap => {
                knot.slope_change += jump;
                knot.total_abs += jump.abs();
                knot.weighted_change += jump * g[k];
                knot.neurons.push(k);
            }
            _ => knots.push(Knot {
                position: p,
                slope_change: jump,
                total_abs: jump.abs(),
                kink: false,
                inside: data_min < p && p < data_max,
                weighted_change: jump * g[k],
                distance_to_data: nearest_distance(&xs, p),
                neurons: vec![k],
            }),
        }
        last = p;
    }
    for knot in &mut knots {
        knot.weighted_change = knot.weighted_change.abs();
        knot.kink = knot.total_abs > 0.0 && knot.slope_change.abs() > 1e-12 * knot.total_abs;
    }
    let inside_kinks: Vec<&Knot> = knots.iter().filter(|k| k.kink && k.inside).collect();
    let knot_distances: Vec<f64> = inside_kinks.iter().map(|k| k.distance_to_data).collect();
    let pieces_inside = 1 + count_bends(&inside_kinks, PIECE_MERGE_TOL * (data_max - data_min));
    let dead = super::shattering::neuron_stats(net, data)?.dead;
    let firing_v: Vec<f64> = (0..neurons.k)
        .filter(|&k| !dead[k])
        .map(|k| neurons.v[k])
        .collect();
    let vmax = firing_v.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let small = firing_v
        .iter()
        .filter(|v| vmax == 0.0 || v.abs() < SMALL_V * vmax)
        .count();
    let amplitudes: Vec<f64> = (0..neurons.k)
        .map(|k| (neurons.v[k] * neurons.w[k]).abs())
        .collect();
    Ok(UnivariateSummary {
        data_min,
        data_max,
        pieces_inside,
        kinks_inside: inside_kinks.len(),
        weighted_tv: knots.iter().map(|k| k.weighted_change).sum(),
        tv_inside: inside_kinks.iter().map(|k| k.slope_change.abs()).sum(),
        median_knot_distance: median(&knot_distances),
        knot_distances,
        frac_small_output_weights: if firing_v.is_empty() {
            0.0
        } else {
            small as f64 / firing_v.len() as f64
        },
        output_participation: participation(&neurons.v),
        amplitude_participation: participation(&amplitudes),
        neuron_knots,
        knots,
    })
}

/// The number of visible bends among `kinks` (sorted by position): groups of kinks whose
/// consecutive gaps are at most `gap`, keeping the groups whose net slope change reaches
/// [`PIECE_SLOPE_TOL`] times the largest group's.
fn count_bends(kinks: &[&Knot], gap: f64) -> usize {
    let mut groups: Vec<f64> = Vec::new();
    let mut last = f64::NEG_INFINITY;
    for k in kinks {
        match groups.last_mut() {
            Some(change) if k.position - last <= gap => *change += k.slope_change,
            _ => groups.push(k.slope_change),
        }
        last = k.position;
    }
    let top = groups.iter().fold(0.0f64, |m, c| m.max(c.abs()));
    groups
        .iter()
        .filter(|c| top > 0.0 && c.abs() >= PIECE_SLOPE_TOL * top)
        .count()
}

/// `||a||_1^2 / (len ||a||_2^2)`, 0 for an empty or zero vector.
fn participation(a: &[f64]) -> f64 {
    let l1: f64 = a.iter().map(|x| x.abs()).sum();
    let l2: f64 = a.iter().map(|x| x * x).sum();
    if l2 > 0.0 {
        l1 * l1 / (a.len() as f64 * l2)
    } else {
        0.0
    }
}

/// Distance from `p` to the nearest element of the sorted, non-empty `xs`.
fn nearest_distance(xs: &[f64], p: f64) -> f64 {
    let i = xs.partition_point(|&x| x < p);
    let right = xs.get(i).map_or(f64::INFINITY, |x| x - p);
    let left = if i > 0 { p - xs[i - 1] } else { f64::INFINITY };
    left.min(right)
}

/// Relative margin of the interior: for inputs on `[lo, hi]`, the interior is
/// `[lo + INTERIOR_MARGIN (hi - lo) / 2, hi - INTERIOR_MARGIN (hi - lo) / 2]`, so on `[-1, 1]`
/// it is `[-0.9, 0.9]`. The 2024 paper's `n^(-4/5)` bound holds strictly inside the data
/// support, where its weight function `g` is bounded below; near the ends `g` vanishes and
/// stable networks may still fit the noise.
pub const INTERIOR_MARGIN: f64 = 0.1;

/// The interior `[a, b]` of the input interval `[lo, hi]` with relative margin `margin`:
/// `a = lo + margin (hi - lo) / 2`, `b = hi - margin (hi - lo) / 2` (see [`INTERIOR_MARGIN`]).
/// Errors when the bounds are not finite with `lo < hi`, or `margin` is not in `[0, 1)`.
pub fn interior_of(lo: f64, hi: f64, margin: f64) -> Result<(f64, f64), MeasureError> {
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(MeasureError::OutOfRange {
            what: "interval length hi - lo",
            value: hi - lo,
            expected: "finite bounds with lo < hi",
        });
    }
    if !(0.0..1.0).contains(&margin) {
        return Err(MeasureError::OutOfRange {
            what: "interior margin",
            value: margin,
            expected: "in [0, 1)",
        });
    }
    let half = 0.5 * (hi - lo) * margin;
    Ok((lo + half, hi - half))
}

/// The samples of a univariate `data` set whose input lies in the closed interval `[a, b]`, in
/// their original order: the test points over which the interior MSE is taken. `O(n)`;
/// allocates the copy. Errors when `d != 1` or `a > b` (or either is not finite).
pub fn points_within<F: Float>(
    data: &Dataset<F>,
    a: f64,
    b: f64,
) -> Result<Dataset<F>, MeasureError> {
    if data.d != 1 {
        return Err(MeasureError::NotUnivariate {
            what: "restriction to an interval",
            d: data.d,
        });
    }
    if !(a.is_finite() && b.is_finite() && a <= b) {
        return Err(MeasureError::OutOfRange {
            what: "interval length b - a",
            value: b - a,
            expected: "finite bounds with a <= b",
        });
    }
    let keep: Vec<usize> = (0..data.n)
        .filter(|&i| {
            let x = data.x[i].to64();
            a <= x && x <= b
        })
        .collect();
    Ok(Dataset {
        n: keep.len(),
        d: 1,
        x: keep.iter().map(|&i| data.x[i]).collect(),
        y: keep.iter().map(|&i| data.y[i]).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ball_data, random_net};
    use super::super::variation::{vg_reduced, DEFAULT_MERGE_TOL};
    use super::*;
    use crate::model::{Activation, Shape};

    #[test]
    fn hand_built_knots_and_pieces() {
        let x: Vec<f64> = (0..11).map(|i| i as f64 / 10.0).collect(); // 0, 0.1, ..., 1
        let data = Dataset::new(1, x, vec![0.0; 11]).unwrap();
        let shape = Shape {
            d: 1,
            width: 6,
            bias: true,
            activation: Activation::Relu,
        };
        // Knots: 0.25 (kink), 0.5 twice with opposite orientation and jumps 1*2 and -1*2
        // (cancel: no kink), 0.75 with v = 0 (no kink), 2.0 (outside), and w = 0.
        let w = [1.0, 2.0, -2.0, 1.0, 1.0, 0.0];
        let b = [-0.25, -1.0, 1.0, -0.75, -2.0, 0.3];
        let v = [1.0, 1.0, -1.0, 0.0, 5.0, 1.0];
        let net = Network::from_parts(shape, &w, &b, &v, 0.0).unwrap();
        let s = univariate_summary(&net, &data, DEFAULT_KNOT_TOL).unwrap();
        assert_eq!(
            s.neuron_knots,
            vec![
                Some(0.25),
                Some(0.5),
                Some(0.5),
                Some(0.75),
                Some(2.0),
                None
            ]
        );
        assert_eq!(s.knots.len(), 4);
        assert_eq!(s.knots[1].neurons, vec![1, 2]);
        assert_eq!(s.knots[1].slope_change, 0.0);
        assert!(!s.knots[1].kink && !s.knots[2].kink && s.knots[0].kink && s.knots[3].kink);
        assert!(!s.knots[3].inside);
        assert_eq!(s.pieces_inside, 2);
        assert_eq!(s.kinks_inside, 1);
        assert_eq!(s.tv_inside, 1.0);
        assert_eq!(s.knot_distances.len(), 1);
        assert!((s.knot_distances[0] - 0.05).abs() < 1e-15);
        assert_eq!(
            s.knots[3].weighted_change, 0.0,
            "g vanishes outside the data"
        );
        // Neuron 4 (knot 2.0, v = 5, the largest |v|) never fires on [0, 1]: it is left out, so
        // neuron 3's v = 0 is 1 of the 5 neurons that fire.
        assert!((s.frac_small_output_weights - 1.0 / 5.0).abs() < 1e-15);
        let reduced = vg_reduced(&net, &data, DEFAULT_MERGE_TOL).unwrap();
        assert!(
            s.weighted_tv < reduced,
            "opposite orientations cancel only in 1-D"
        );
        let bad = random_net(2, 3, 1, 1.0);
        assert!(matches!(
            univariate_summary(&bad, &ball_data(5, 2, 1), 1e-9),
            Err(MeasureError::NotUnivariate { d: 2, .. })
        ));
    }

    /// Kinks clustered at two training inputs, plus a corner of negligible slope change: three
    /// pieces one can see, though `f` has nine kinks inside the data.
    #[test]
    fn kinks_clustered_at_data_points_make_few_pieces() {
        let x: Vec<f64> = (0..11).map(|i| i as f64 / 10.0).collect(); // 0, 0.1, ..., 1
        let data = Dataset::new(1, x, vec![0.0; 11]).unwrap();
        // Knots at 0.3 + {-2, 0, 3}e-5 and 0.6 + {-1, 0, 1}e-5 (gaps below 1e-3 of the range),
        // one at 0.45 with slope change 1e-6 (below 1e-3 of the largest), and one at 0.8 of
        // slope change +1 next to one at 0.8 + 1e-5 of -1 (they cancel as a group).
        let knots = [
            0.3 - 2e-5,
            0.3,
            0.3 + 3e-5,
            0.6 - 1e-5,
            0.6,
            0.6 + 1e-5,
            0.45,
            0.8,
            0.8 + 1e-5,
        ];
        let v = [1.0, 0.5, 0.25, -1.0, -1.0, -0.5, 1e-6, 1.0, -1.0];
        let w = [1.0; 9];
        let b: Vec<f64> = knots.iter().map(|t| -t).collect();
        let shape = Shape {
            d: 1,
            width: 9,
            bias: true,
            activation: Activation::Relu,
        };
        let net = Network::from_parts(shape, &w, &b, &v, 0.0).unwrap();
        let s = univariate_summary(&net, &data, DEFAULT_KNOT_TOL).unwrap();
        assert_eq!(s.kinks_inside, 9, "every knot is a distinct kink");
        assert_eq!(s.pieces_inside, 3, "bends at 0.3 and 0.6 only");
    }

    /// With distinct knots, `integral |f''| g dx` equals the reduced `|f|_Vg`.
    #[test]
    fn weighted_tv_equals_reduced_norm() {
        for seed in 0..8u64 {
            let data = ball_data(60, 1, seed);
            let net = random_net(1, 25, seed + 50, 2.0);
            let s = univariate_summary(&net, &data, DEFAULT_KNOT_TOL).unwrap();
            let reduced = vg_reduced(&net, &data, DEFAULT_MERGE_TOL).unwrap();
            assert!(
                (s.weighted_tv - reduced).abs() <= 1e-12 * reduced.max(1e-12),
                "seed {seed}: integral {} vs reduced {reduced}",
                s.weighted_tv
            );
            assert!(s.pieces_inside >= 1 && s.pieces_inside <= 26, "seed {seed}");
            assert!(s.pieces_inside <= 1 + s.kinks_inside, "seed {seed}");
            let p = s.output_participation;
            assert!(
                (1.0 / 25.0..=1.0).contains(&p),
                "seed {seed}: participation {p}"
            );
        }
    }
    /// `f(x) = relu(x)` against the zero target on a fine midpoint grid of `[-1, 1]`: the MSE
    /// over `[-0.9, 0.9]` is `(1/1.8) integral_0^0.9 x^2 dx = 0.135` in closed form, the MSE over
    /// the whole interval `1/6`; the midpoint rule is exact to `O(h^2)`.
    #[test]
    fn interior_mse_of_a_ramp_matches_the_closed_form() {
        let m = 20_000;
        let x: Vec<f64> = (0..m)
            .map(|i| -1.0 + (i as f64 + 0.5) * 2.0 / m as f64)
            .collect();
        let data = Dataset::new(1, x, vec![0.0; m]).unwrap();
        let shape = Shape {
            d: 1,
            width: 1,
            bias: true,
            activation: Activation::Relu,
        };
        let net = Network::from_parts(shape, &[1.0], &[0.0], &[1.0], 0.0).unwrap();
        let (a, b) = interior_of(-1.0, 1.0, INTERIOR_MARGIN).unwrap();
        assert_eq!((a, b), (-0.9, 0.9));
        let inside = points_within(&data, a, b).unwrap();
        let mse = |d: &Dataset<f64>| {
            let mut ws = crate::grad::Workspace::new(shape, d.n);
            crate::grad::mean_squared_error(&net, d, &mut ws)
        };
        assert!(
            (mse(&inside) - 0.729 / 3.0 / 1.8).abs() < 1e-7,
            "{}",
            mse(&inside)
        );
        assert!((mse(&data) - 1.0 / 6.0).abs() < 1e-7, "{}", mse(&data));
        // 90% of the grid lies inside, give or take the two cells cut by the ends.
        assert!(
            (inside.n as f64 - 0.9 * m as f64).abs() <= 2.0,
            "{}",
            inside.n
        );
    }

    /// Against a brute-force loop: random inputs (seed 7), a random network, the restricted
    /// set holds exactly the points with `a <= x <= b`, in order, and its MSE is the mean of
    /// `(f(x) - y)^2` over them.
    #[test]
    fn restriction_keeps_exactly_the_points_inside() {
        let data = ball_data(500, 1, 7);
        let net = random_net(1, 20, 8, 1.0);
        let (a, b) = interior_of(-1.0, 1.0, 0.3).unwrap();
        assert!((a + 0.7).abs() < 1e-15 && (b - 0.7).abs() < 1e-15);
        let inside = points_within(&data, a, b).unwrap();
        let mut sum = 0.0;
        let mut count = 0;
        let mut kept = Vec::new();
        for i in 0..data.n {
            let x = data.x[i];
            if a <= x && x <= b {
                let r = net.predict(&[x]) - data.y[i];
                sum += r * r;
                count += 1;
                kept.push(x);
            }
        }
        assert_eq!(inside.x, kept, "seed 7");
        assert!(count > 0);
        let mut ws = crate::grad::Workspace::new(net.shape, inside.n);
        let mse = crate::grad::mean_squared_error(&net, &inside, &mut ws);
        assert!(
            (mse - sum / count as f64).abs() <= 1e-12 * (1.0 + mse),
            "seed 7"
        );
    }

    #[test]
    fn interior_arguments_are_checked() {
        assert!(interior_of(1.0, -1.0, 0.1).is_err());
        assert!(interior_of(-1.0, 1.0, 1.0).is_err());
        assert!(interior_of(-1.0, 1.0, f64::NAN).is_err());
        let data = ball_data(10, 2, 0);
        assert!(matches!(
            points_within(&data, -0.5, 0.5),
            Err(MeasureError::NotUnivariate { .. })
        ));
        let one = ball_data(10, 1, 0);
        assert!(points_within(&one, 0.5, -0.5).is_err());
        assert_eq!(points_within(&one, 5.0, 6.0).unwrap().n, 0);
    }
}
