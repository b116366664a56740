//! The weight function `g` of SCIENCE.md section 4: its empirical version over the training
//! inputs (for one direction and offset, and for every neuron of a network at once) and its
//! population version `g_P` for inputs uniform in the unit ball, by one-dimensional quadrature.
//! The norms built from `g` live in `variation`.
//!
//! For a unit direction `u`, an offset `t` and `X` uniform over the training inputs,
//!
//! ```text
//! g~(u, t) = P(X.u > t)^2 * E[X.u - t | X.u > t] * sqrt(1 + ||E[X | X.u > t]||^2)
//! g(u, t)  = min( g~(u, t), g~(-u, -t) )            (0 when a side is empty)
//! ```
//!
//! The inequalities are strict: `g~(-u, -t)` concerns the points with `X.u < t`, and points
//! exactly on the hyperplane `X.u = t` belong to neither side.

use super::{check_pair, inputs64, MeasureError, Neurons};
use crate::data::Dataset;
use crate::float::Float;
use crate::model::Network;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Running sums over one open half-space: how many points, the sum of their distances to the
/// hyperplane, the sum of the points.
struct Side<'a> {
    count: usize,
    excess: f64,
    sum_x: &'a mut [f64],
}

impl Side<'_> {
    /// `g~` from the sums, for `n` points in all: `P^2 * E[excess] * sqrt(1 + ||E[x]||^2)`,
    /// written as `(count/n)^2 * (excess/count) * sqrt(1 + ||sum_x/count||^2)`.
    fn tilde(&self, n: usize) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let c = self.count as f64;
        let p = c / n as f64;
        let mean_sq: f64 = self.sum_x.iter().map(|s| (s / c) * (s / c)).sum();
        p * p * (self.excess / c) * (1.0 + mean_sq).sqrt()
    }
}

/// `g~(u, t)` over the training inputs, the obvious way: projections `p_i = u . x_i`, the points
/// with `p_i > t`, their mean excess `p_i - t` and mean input.
///
/// `u` should be a unit vector (it is used as given). `O(n d)`, allocates `d` values.
/// Returns 0 when no point lies strictly beyond the hyperplane; errors when `u.len() != d`, the
/// data set is empty, or `t` is not finite.
pub fn weight_one_side<F: Float>(
    data: &Dataset<F>,
    u: &[f64],
    t: f64,
) -> Result<f64, MeasureError> {
    check_direction(data, u, t)?;
    let mut sum_x = vec![0.0; data.d];
    let mut side = Side {
        count: 0,
        excess: 0.0,
        sum_x: &mut sum_x,
    };
    for i in 0..data.n {
        let row = data.row(i);
        let p: f64 = row.iter().zip(u).map(|(x, u)| x.to64() * u).sum();
        if p > t {
            side.count += 1;
            side.excess += p - t;
            for (s, x) in side.sum_x.iter_mut().zip(row) {
                *s += x.to64();
            }
        }
    }
    Ok(side.tilde(data.n))
}

/// `g(u, t) = min(g~(u, t), g~(-u, -t))` over the training inputs (SCIENCE.md section 4), the
/// slow obvious way (two calls of [`weight_one_side`]).
///
/// `O(n d)`, allocates `2 d` values. Errors as [`weight_one_side`].
pub fn weight<F: Float>(data: &Dataset<F>, u: &[f64], t: f64) -> Result<f64, MeasureError> {
    let plus = weight_one_side(data, u, t)?;
    let minus_u: Vec<f64> = u.iter().map(|x| -x).collect();
    let minus = weight_one_side(data, &minus_u, -t)?;
    Ok(plus.min(minus))
}

fn check_direction<F: Float>(data: &Dataset<F>, u: &[f64], t: f64) -> Result<(), MeasureError> {
    if u.len() != data.d {
        return Err(MeasureError::DimensionMismatch {
            network: u.len(),
            data: data.d,
        });
    }
    if data.n == 0 {
        return Err(MeasureError::EmptyData {
            what: "weight function g",
        });
    }
    super::check_number("offset t", t, false)?;
    Ok(())
}

/// `g(u_k, t_k)` for every neuron `k` of `net`, with `u_k = w_k / ||w_k||` and
/// `t_k = -b_k / ||w_k||` (SCIENCE.md section 4).
///
/// One pass over the data per neuron: `z_ik = w_k . x_i + b_k` decides the side (`z > 0`: the
/// half-space `X.u > t`; `z < 0`: `X.u < t`; `z = 0`: neither), and the excess `X.u - t` is
/// `|z_ik| / ||w_k||`, so `u` and `t` are never formed. A neuron with `w_k = 0` is a constant
/// function, has no hyperplane, and gets `g = 0` (it contributes nothing to any norm).
///
/// Cost `3 K n d` flops, parallel over neurons with rayon; each neuron is summed by one thread
/// in sample order, so the result is identical for any thread count. Allocates the `K` results,
/// an `f64` copy of the inputs, and `2 d` scratch values per rayon job. Computed in `f64`.
pub fn neuron_weights<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
) -> Result<Vec<f64>, MeasureError> {
    check_pair(net, data, "weight function g")?;
    let neurons = Neurons::of(net);
    let x = inputs64(data);
    let (n, d) = (data.n, data.d);
    Ok((0..neurons.k)
        .into_par_iter()
        .map_init(
            || vec![0.0; 2 * d],
            |scratch, k| {
                let w = neurons.w(k);
                let norm = neurons.w_norm(k);
                if norm == 0.0 {
                    return 0.0;
                }
                let bk = neurons.b[k];
                scratch.fill(0.0);
                let (sx_pos, sx_neg) = scratch.split_at_mut(d);
                let mut pos = Side {
                    count: 0,
                    excess: 0.0,
                    sum_x: sx_pos,
                };
                let mut neg = Side {
                    count: 0,
                    excess: 0.0,
                    sum_x: sx_neg,
                };
                for row in x.chunks_exact(d) {
                    let z = bk + row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>();
                    let side = if z > 0.0 {
                        &mut pos
                    } else if z < 0.0 {
                        &mut neg
                    } else {
                        continue;
                    };
                    side.count += 1;
                    side.excess += z.abs();
                    for (s, a) in side.sum_x.iter_mut().zip(row) {
                        *s += a;
                    }
                }
                pos.excess /= norm;
                neg.excess /= norm;
                pos.tilde(n).min(neg.tilde(n))
            },
        )
        .collect())
}

/// Slow, obvious versions of the fast functions above, kept for tests.
pub mod reference {
    use super::*;

    /// [`neuron_weights`](super::neuron_weights) neuron by neuron: forms `u_k` and `t_k` and
    /// calls [`weight`](super::weight). `O(K n d)`, single-threaded.
    pub fn neuron_weights<F: Float>(
        net: &Network<F>,
        data: &Dataset<F>,
    ) -> Result<Vec<f64>, MeasureError> {
        check_pair(net, data, "weight function g")?;
        let neurons = Neurons::of(net);
        let mut out = Vec::with_capacity(neurons.k);
        for k in 0..neurons.k {
            let norm = neurons.w_norm(k);
            if norm == 0.0 {
                out.push(0.0);
                continue;
            }
            let u: Vec<f64> = neurons.w(k).iter().map(|w| w / norm).collect();
            let t = -neurons.b[k] / norm;
            out.push(weight(data, &u, t)?);
        }
        Ok(out)
    }
}

/// Normalising constant `c_d` of the marginal density `c_d (1 - s^2)^((d-1)/2)` of `X.u` for
/// `X` uniform in the unit ball of `R^d`: `Gamma(d/2 + 1) / (sqrt(pi) Gamma((d+1)/2))`.
pub fn ball_marginal_constant(d: usize) -> f64 {
    let d = d as f64;
    (libm::lgamma(0.5 * d + 1.0) - libm::lgamma(0.5 * (d + 1.0))).exp()
        / std::f64::consts::PI.sqrt()
}

/// The density `c_d (1 - s^2)^((d-1)/2)` of `X.u` at `s` (0 outside `[-1, 1]`) for `X` uniform
/// in the unit ball of `R^d`, `d >= 1`.
pub fn ball_marginal_density(s: f64, d: usize) -> f64 {
    if !(-1.0..=1.0).contains(&s) {
        return 0.0;
    }
    ball_marginal_constant(d) * (1.0 - s * s).powf(0.5 * (d as f64 - 1.0))
}

/// Gauss-Legendre rule on `[0, 1]` used by [`population_weight`]: `PANELS` equal panels of
/// `NODES` points each.
const PANELS: usize = 8;
const NODES: usize = 24;

/// The composite Gauss-Legendre rule on `[0, 1]` of [`population_weight`] (8 panels of 24
/// nodes): `(node, weight)` pairs, computed once. Shared with `construction`.
pub(crate) fn quadrature_rule() -> &'static [(f64, f64)] {
    rule()
}

/// Nodes and weights of the composite rule on `[0, 1]`, computed once.
fn rule() -> &'static [(f64, f64)] {
    static RULE: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    RULE.get_or_init(|| {
        let base = gauss_legendre(NODES);
        let h = 1.0 / PANELS as f64;
        let mut out = Vec::with_capacity(PANELS * NODES);
        for p in 0..PANELS {
            let a = p as f64 * h;
            for &(x, w) in &base {
                out.push((a + 0.5 * h * (x + 1.0), 0.5 * h * w));
            }
        }
        out
    })
}

/// Gauss-Legendre nodes and weights on `[-1, 1]` by Newton's method on `P_m`.
fn gauss_legendre(m: usize) -> Vec<(f64, f64)> {
    let mut out = vec![(0.0, 0.0); m];
    let mf = m as f64;
    for i in 0..m.div_ceil(2) {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (mf + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p1, mut p2) = (1.0, 0.0);
            for j in 1..=m {
                let p3 = p2;
                p2 = p1;
                p1 = ((2.0 * j as f64 - 1.0) * x * p2 - (j as f64 - 1.0) * p3) / j as f64;
            }
            dp = mf * (x * p1 - p2) / (x * x - 1.0);
            let dx = p1 / dp;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        let w = 2.0 / ((1.0 - x * x) * dp * dp);
        out[i] = (-x, w);
        out[m - 1 - i] = (x, w);
    }
    out
}

/// Moments of the marginal of `X.u` beyond `a`, for `a in [0, 1)`: `(A, B, M)` with
/// `A = P(s > a)`, `B = E[(s - a)_+]`, `M = E[s 1(s > a)]`.
///
/// `A` and `B` by quadrature after `s = 1 - (1 - a) y^2`, which turns the integrands into
/// `y^d` times functions analytic on `[0, 1]` (the endpoint `s = 1` has a fractional power for
/// even `d`); `B` is integrated directly, never as `M - a A`, so no digits cancel near `a = 1`.
/// `M = c_d (1 - a^2)^((d+1)/2) / (d + 1)` in closed form.
fn ball_tail_moments(a: f64, d: usize) -> (f64, f64, f64) {
    let c = ball_marginal_constant(d);
    let df = d as f64;
    let e = 0.5 * (df - 1.0);
    let h = 1.0 - a;
    let (mut ia, mut ib) = (0.0, 0.0);
    for &(y, w) in rule() {
        let y2 = y * y;
        let common = 2.0 * y.powi(d as i32) * (2.0 - h * y2).powf(e) * w;
        ia += common;
        ib += common * (1.0 - y2);
    }
    let big_a = c * h.powf(0.5 * (df + 1.0)) * ia;
    let big_b = c * h.powf(0.5 * (df + 3.0)) * ib;
    let big_m = c * (1.0 - a * a).powf(0.5 * (df + 1.0)) / (df + 1.0);
    (big_a, big_b, big_m)
}

/// Population weight `g_P(t)` for `X` uniform in the unit ball of `R^d` (SCIENCE.md section 4):
/// `g` with the empirical distribution replaced by the ball's. Depends on `|t|` only (and not on
/// `u`); 0 for `|t| >= 1`.
///
/// With `a = |t|`, `A = P(X.u > a)`, `B = E[(X.u - a)_+]`, `M = E[X.u 1(X.u > a)]` (and by
/// symmetry the conditional mean `E[X | X.u > a]` is `(M / A) u`), the far side gives
/// `g~ = A^2 (B / A) sqrt(1 + (M / A)^2) = B sqrt(A^2 + M^2)`; the near side the same with
/// `1 - A`, `M + a (1 - A)`, `M`; `g_P` is the smaller. Near the boundary
/// `g_P(t) ~ C_d (1 - |t|)^(d+2)`.
///
/// Quadrature: 8 panels of 24-point Gauss-Legendre on a smooth substitute integrand; it agrees
/// with a 2-million-interval Simpson rule to 1e-12 relative for `d` from 10 to 500 and matches
/// the closed forms for `d = 1, 3` to 1e-12 up to `|t| = 0.9999`.
/// About 400 `powf`; allocates nothing after the first call. Errors for `d = 0` or a `t` that
/// is not finite.
pub fn population_weight(t: f64, d: usize) -> Result<f64, MeasureError> {
    if d == 0 {
        return Err(MeasureError::OutOfRange {
            what: "input dimension d",
            value: 0.0,
            expected: "d >= 1",
        });
    }
    let a = super::check_number("offset t", t, false)?.abs();
    if a >= 1.0 {
        return Ok(0.0);
    }
    let (pa, ba, ma) = ball_tail_moments(a, d);
    let far = ba * (pa * pa + ma * ma).sqrt();
    let pn = 1.0 - pa;
    let bn = ma + a * pn;
    let near = bn * (pn * pn + ma * ma).sqrt();
    Ok(far.min(near))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ball_data, random_net};
    use super::*;
    use crate::model::{Activation, Shape};
    use proptest::prelude::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(1e-300)
    }

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        let s: f64 = rule().iter().map(|(y, w)| w * y.powi(40)).sum();
        assert!(rel(s, 1.0 / 41.0) < 1e-14, "int y^40 = {s}");
        let s: f64 = rule().iter().map(|(_, w)| w).sum();
        assert!(rel(s, 1.0) < 1e-14, "sum of weights = {s}");
    }

    #[test]
    fn ball_marginal_constant_normalises() {
        for d in 1..=12 {
            // Density integrates to 1: check with the same substitution as the tail moments.
            let (a, _, _) = ball_tail_moments(0.0, d);
            assert!(rel(2.0 * a, 1.0) < 1e-13, "d = {d}: P(s > 0) = {a}");
        }
        assert!(rel(ball_marginal_constant(1), 0.5) < 1e-15);
        assert!(rel(ball_marginal_constant(3), 0.75) < 1e-15);
        assert!(rel(ball_marginal_constant(2), 2.0 / std::f64::consts::PI) < 1e-15);
    }

    /// Closed forms for `d = 1` (density 1/2) and `d = 3` (density `3/4 (1 - s^2)`).
    #[test]
    fn population_weight_matches_closed_forms() {
        for &a in &[0.0f64, 0.1, 0.37, 0.5, 0.8, 0.99, 0.9999] {
            // d = 1: A = (1-a)/2, B = (1-a)^2/4, M = (1-a^2)/4.
            let (pa, ba, ma) = (
                (1.0 - a) / 2.0,
                (1.0 - a).powi(2) / 4.0,
                (1.0 - a * a) / 4.0,
            );
            let far = ba * (pa * pa + ma * ma).sqrt();
            let (pn, bn) = (1.0 - pa, ma + a * (1.0 - pa));
            let want = far.min(bn * (pn * pn + ma * ma).sqrt());
            let got = population_weight(a, 1).unwrap();
            assert!(rel(got, want) < 1e-12, "d = 1, t = {a}: {got} vs {want}");
            assert_eq!(population_weight(-a, 1).unwrap(), got, "g_P is even in t");
            // d = 3, factored so that nothing cancels near a = 1 (h = 1 - a):
            // A = h^2 (2 + a) / 4, M = 3/16 (1 - a^2)^2, B = h^3 (4 - h) / 16.
            let h = 1.0 - a;
            let pa = h * h * (2.0 + a) / 4.0;
            let ma = 3.0 / 16.0 * (1.0 - a * a).powi(2);
            let ba = h.powi(3) * (4.0 - h) / 16.0;
            let far = ba * (pa * pa + ma * ma).sqrt();
            let (pn, bn) = (1.0 - pa, ma + a * (1.0 - pa));
            let want = far.min(bn * (pn * pn + ma * ma).sqrt());
            let got = population_weight(a, 3).unwrap();
            assert!(rel(got, want) < 1e-12, "d = 3, t = {a}: {got} vs {want}");
        }
        assert_eq!(population_weight(1.0, 4).unwrap(), 0.0);
        assert_eq!(population_weight(-3.0, 4).unwrap(), 0.0);
        assert!(population_weight(0.2, 0).is_err());
        assert!(population_weight(f64::NAN, 2).is_err());
    }

    /// The far side is the smaller one, and `g_P` decreases in `|t|`.
    #[test]
    fn population_weight_decreases_in_offset() {
        for d in 1..=8 {
            let mut last = f64::INFINITY;
            for i in 0..=100 {
                let t = i as f64 / 100.0;
                let g = population_weight(t, d).unwrap();
                assert!(g <= last + 1e-15, "d = {d}, t = {t}: {g} > {last}");
                last = g;
            }
        }
    }

    /// Near the boundary `g_P(t) ~ C (1 - |t|)^(d+2)` (SCIENCE.md section 4).
    #[test]
    fn population_weight_boundary_exponent_is_d_plus_two() {
        for d in 1..=6 {
            let ratio = |t: f64| population_weight(t, d).unwrap() / (1.0 - t).powi(d as i32 + 2);
            let (r1, r2, r3) = (ratio(0.99), ratio(0.995), ratio(0.999));
            assert!(r1 > 0.0 && r3 > 0.0, "d = {d}: ratios {r1}, {r3}");
            // The corrections are O(d (1 - t)): at most a few per cent at t = 0.99.
            assert!(
                rel(r1, r3) < 0.05,
                "d = {d}: ratio at 0.99 {r1} vs 0.999 {r3}"
            );
            assert!(
                rel(r2, r3) < 0.025,
                "d = {d}: ratio at 0.995 {r2} vs 0.999 {r3}"
            );
        }
    }

    /// Empirical `g` on `n = 20000` uniform-ball points approaches `g_P`.
    ///
    /// Tolerance from the sampling error: up to the slowly varying square root, the far side's
    /// `g~` is the product of two sample means, `P^ = mean 1(s > t)` and
    /// `B^ = mean (s - t)_+`, so its relative standard deviation is at most
    /// `sd(1(s>t))/(sqrt(n) P) + sd((s-t)_+)/(sqrt(n) B)` (the two are positively correlated);
    /// both are estimated from the sample and we allow four of them plus 1% of `g_P` for the
    /// square-root factor and the `min` over the two sides.
    #[test]
    fn empirical_weight_approaches_population() {
        let n = 20_000;
        for (d, seed) in [(2usize, 101u64), (3, 102), (5, 103)] {
            let data = ball_data(n, d, seed);
            let mut u = vec![0.0; d];
            u[0] = 0.6;
            u[d - 1] += 0.8;
            let norm = u.iter().map(|a| a * a).sum::<f64>().sqrt();
            u.iter_mut().for_each(|a| *a /= norm);
            for &t in &[0.0, 0.25, -0.4, 0.5] {
                let got = weight(&data, &u, t).unwrap();
                let want = population_weight(t, d).unwrap();
                let a = t.abs();
                let s: Vec<f64> = (0..n)
                    .map(|i| data.row(i).iter().zip(&u).map(|(x, u)| x * u).sum::<f64>())
                    .map(|p| if t >= 0.0 { p } else { -p })
                    .collect();
                let ind: Vec<f64> = s.iter().map(|&p| if p > a { 1.0 } else { 0.0 }).collect();
                let exc: Vec<f64> = s.iter().map(|&p| (p - a).max(0.0)).collect();
                let rel_sd = |v: &[f64]| {
                    let m = v.iter().sum::<f64>() / n as f64;
                    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
                    var.sqrt() / (m * (n as f64).sqrt())
                };
                let tol = 4.0 * (rel_sd(&ind) + rel_sd(&exc)) + 0.01;
                assert!(
                    rel(got, want) < tol,
                    "seed {seed}, d = {d}, t = {t}: empirical {got} vs population {want}, tol {tol}"
                );
            }
        }
    }

    #[test]
    fn fast_weights_match_reference() {
        for (d, k, n, seed) in [
            (1, 9, 17, 1u64),
            (2, 20, 50, 2),
            (3, 33, 64, 3),
            (10, 40, 128, 4),
        ] {
            let data = ball_data(n, d, seed);
            let net = random_net(d, k, seed + 100, 1.0);
            let fast = neuron_weights(&net, &data).unwrap();
            let slow = reference::neuron_weights(&net, &data).unwrap();
            for (j, (a, b)) in fast.iter().zip(&slow).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1e-12),
                    "seed {seed}, d = {d}, neuron {j}: fast {a} vs slow {b}"
                );
            }
            assert!(
                fast.iter().any(|&g| g > 0.0),
                "seed {seed}: some neuron splits the data"
            );
        }
    }

    /// Points on the hyperplane belong to neither side; `w = 0` gives 0.
    #[test]
    fn ties_and_zero_weights() {
        // x in {-1, 0, 1, 2, 3}; neuron relu(x - 1): z = 0 at x = 1.
        let data = Dataset::new(1, vec![-1.0, 0.0, 1.0, 2.0, 3.0], vec![0.0; 5]).unwrap();
        let shape = Shape {
            d: 1,
            width: 2,
            bias: true,
            activation: Activation::Relu,
        };
        let net = Network::from_parts(shape, &[1.0, 0.0], &[-1.0, 5.0], &[1.0, 1.0], 0.0).unwrap();
        let g = neuron_weights(&net, &data).unwrap();
        // Far side {2, 3}: P = 2/5, excess mean 1.5, mean x 2.5.
        let plus = 0.16 * 1.5 * (1.0 + 6.25f64).sqrt();
        // Near side {-1, 0}: P = 2/5, excess mean 1.5, mean x -0.5.
        let minus = 0.16 * 1.5 * (1.0 + 0.25f64).sqrt();
        assert!(
            rel(g[0], plus.min(minus)) < 1e-15,
            "{} vs {}",
            g[0],
            plus.min(minus)
        );
        assert_eq!(g[1], 0.0, "w = 0 gives g = 0");
        assert_eq!(
            weight(&data, &[1.0], 1.0).unwrap(),
            g[0],
            "reference agrees on ties"
        );
        assert_eq!(weight(&data, &[1.0], 3.0).unwrap(), 0.0, "empty far side");
        assert_eq!(weight(&data, &[1.0], -7.0).unwrap(), 0.0, "empty near side");
        assert!(
            weight(&data, &[1.0, 0.0], 0.0).is_err(),
            "wrong direction length"
        );
    }

    /// The tail moments agree with a fine Simpson rule in the original variable for large odd
    /// `d` (where the density is a polynomial, so Simpson's own error is negligible).
    #[test]
    fn tail_moments_match_simpson_for_large_d() {
        for d in [5usize, 51, 201] {
            for a in [0.0f64, 0.3] {
                let (pa, ba, ma) = ball_tail_moments(a, d);
                let m = 100_000;
                let hh = (1.0 - a) / m as f64;
                let c = ball_marginal_constant(d);
                let (mut sa, mut sb, mut sm) = (0.0, 0.0, 0.0);
                for i in 0..=m {
                    let s = a + hh * i as f64;
                    let wgt = if i == 0 || i == m {
                        1.0
                    } else if i % 2 == 1 {
                        4.0
                    } else {
                        2.0
                    };
                    let p = c * (1.0 - s * s).powi((d as i32 - 1) / 2);
                    sa += wgt * p;
                    sb += wgt * p * (s - a);
                    sm += wgt * p * s;
                }
                let f = hh / 3.0;
                let (sa, sb, sm) = (sa * f, sb * f, sm * f);
                assert!(rel(pa, sa) < 1e-10, "d = {d}, a = {a}: A {pa} vs {sa}");
                assert!(rel(ba, sb) < 1e-10, "d = {d}, a = {a}: B {ba} vs {sb}");
                assert!(rel(ma, sm) < 1e-10, "d = {d}, a = {a}: M {ma} vs {sm}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..ProptestConfig::default() })]

        /// Rescaling `(w, b, v) -> (c w, c b, v / c)` and permuting neurons leave `g` unchanged.
        #[test]
        fn weights_invariant_under_rescaling_and_permutation(
            seed in 0u64..1000, c in 0.01f64..100.0, d in 1usize..5, shift in 1usize..7
        ) {
            let data = ball_data(30, d, seed);
            let net = random_net(d, 7, seed + 1, 1.0);
            let g = neuron_weights(&net, &data).unwrap();
            let (w, b, v) = (net.w_matrix(), net.b().to_vec(), net.v().to_vec());
            let k = 7;
            let mut w2 = w.clone();
            let mut b2 = b.clone();
            let mut v2 = v.clone();
            for j in 0..d { w2[3 * d + j] *= c; }
            b2[3] *= c;
            v2[3] /= c;
            // Permute by a rotation.
            let perm: Vec<usize> = (0..k).map(|i| (i + shift) % k).collect();
            let wp: Vec<f64> = perm.iter().flat_map(|&p| w2[p * d..(p + 1) * d].to_vec()).collect();
            let bp: Vec<f64> = perm.iter().map(|&p| b2[p]).collect();
            let vp: Vec<f64> = perm.iter().map(|&p| v2[p]).collect();
            let net2 = Network::from_parts(net.shape, &wp, &bp, &vp, net.beta()).unwrap();
            let g2 = neuron_weights(&net2, &data).unwrap();
            for (i, &p) in perm.iter().enumerate() {
                prop_assert!((g2[i] - g[p]).abs() <= 1e-12 * g[p].abs().max(1e-12),
                    "seed {}, c {}: neuron {}: {} vs {}", seed, c, p, g2[i], g[p]);
            }
        }
    }
}
