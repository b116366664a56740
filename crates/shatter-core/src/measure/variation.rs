//! The weighted variation norm `|f|_Vg` (parameter and reduced forms), the path norm, and the
//! right-hand side of the flatness bound `|f|_Vg <= lambda_max/2 - 1/2 + (R + 1) sqrt(2 L)`
//! (SCIENCE.md section 4, Theorem 3.2 of the 2025 paper). The weight function itself lives in
//! `weight`; the top Hessian eigenvalue and the loss come from the caller.

use super::weight::neuron_weights;
use super::{check_number, check_pair, MeasureError, Neurons};
use crate::data::Dataset;
use crate::float::Float;
use crate::model::Network;

/// Default tolerance for "the same `(u, t)`" in the reduced norm: `1e-9` (see
/// [`neuron_groups`]).
pub const DEFAULT_MERGE_TOL: f64 = 1e-9;

/// The numbers of the flatness check for one network on one data set.
#[derive(Clone, Debug, PartialEq)]
pub struct VariationSummary {
    /// `|f|_Vg` in parameter form: `sum_k |v_k| ||w_k|| g(u_k, t_k)`.
    pub vg_norm: f64,
    /// `|f|_Vg` in reduced form (neurons with the same `(u, t)` merged, tolerance
    /// [`DEFAULT_MERGE_TOL`]); never above `vg_norm`.
    pub vg_reduced: f64,
    /// Path norm `sum_k |v_k| ||w_k||` (the norm with `g = 1`).
    pub path_norm: f64,
    /// `R = max_i ||x_i||` of the data set.
    pub radius: f64,
    /// The top Hessian eigenvalue the bound was evaluated with.
    pub lambda_max: f64,
    /// The training loss (1/(2n) convention) the bound was evaluated with.
    pub loss: f64,
    /// Right-hand side of the flatness bound, [`flatness_bound`].
    pub vg_bound: f64,
    /// Whether `vg_norm <= vg_bound`, allowing a rounding slack of
    /// `1e-9 * max(1, |vg_bound|)`. Theorem 3.2 says this always holds where the loss is twice
    /// differentiable; `false` points at a bug in the gradient, Hessian, Lanczos or `g`.
    pub bound_holds: bool,
}

/// Path norm `sum_k |v_k| ||w_k||` (SCIENCE.md section 4 with `g = 1`). `O(K d)`, allocates an
/// `f64` copy of the weights.
pub fn path_norm<F: Float>(net: &Network<F>) -> f64 {
    let neurons = Neurons::of(net);
    (0..neurons.k)
        .map(|k| neurons.v[k].abs() * neurons.w_norm(k))
        .sum()
}

/// `|f|_Vg = sum_k |v_k| ||w_k|| g(u_k, t_k)`, the weighted variation norm in parameter form
/// (SCIENCE.md section 4). Neurons with `w_k = 0` contribute 0.
///
/// Cost and allocation of [`neuron_weights`] (`3 K n d` flops, parallel over neurons,
/// thread-count independent); the final sum runs over neurons in order.
pub fn vg_norm<F: Float>(net: &Network<F>, data: &Dataset<F>) -> Result<f64, MeasureError> {
    let g = neuron_weights(net, data)?;
    let neurons = Neurons::of(net);
    Ok((0..neurons.k)
        .map(|k| neurons.v[k].abs() * neurons.w_norm(k) * g[k])
        .sum())
}

/// Groups of neurons with the same hyperplane `(u, t)`, `u = w/||w||`, `t = -b/||w||`, up to
/// `tol`: neurons `a` and `b` match when `max_j |u_aj - u_bj| <= tol` and
/// `|t_a - t_b| <= tol * max(1, |t_a|, |t_b|)`. Neurons with `w = 0` are left out.
///
/// Greedy in order of increasing `t` (ties by index): each neuron joins the first earlier group
/// whose first member matches it, else starts a group. With `tol` well below the spacing of
/// distinct hyperplanes (the default 1e-9 is) this is the obvious partition. Groups are listed by
/// their first member's `t`, members in that order. `O(K log K + K G d)` where `G` is the number
/// of groups within `tol` in `t` (all of them for a no-bias network, where every `t = 0`).
pub fn neuron_groups<F: Float>(
    net: &Network<F>,
    tol: f64,
) -> Result<Vec<Vec<usize>>, MeasureError> {
    let tol = check_number("merge tolerance", tol, true)?;
    let neurons = Neurons::of(net);
    let d = neurons.d;
    let mut alive = Vec::new();
    let mut u = vec![0.0; neurons.k * d];
    let mut t = vec![0.0; neurons.k];
    for k in 0..neurons.k {
        let norm = neurons.w_norm(k);
        if norm > 0.0 {
            for j in 0..d {
                u[k * d + j] = neurons.w(k)[j] / norm;
            }
            t[k] = -neurons.b[k] / norm;
            alive.push(k);
        }
    }
    alive.sort_by(|&a, &b| t[a].total_cmp(&t[b]).then(a.cmp(&b)));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &k in &alive {
        let mut found = None;
        for (gi, group) in groups.iter().enumerate().rev() {
            let r = group[0];
            // Representatives are sorted by t; once one is too far below, all earlier ones are.
            if t[k] - t[r] > tol * 1f64.max(t[k].abs()).max(t[r].abs()) {
                break;
            }
            let same_u = (0..d).all(|j| (u[k * d + j] - u[r * d + j]).abs() <= tol);
            if same_u {
                found = Some(gi);
            }
        }
        match found {
            Some(gi) => groups[gi].push(k),
            None => groups.push(vec![k]),
        }
    }
    Ok(groups)
}

/// `|f|_Vg` in reduced form: neurons with the same `(u, t)` (up to `tol`, see
/// [`neuron_groups`]) are merged first, so a group contributes
/// `|sum_{k in group} v_k ||w_k|| g_k|` (with equal `g_k` inside a group this is
/// `|sum v_k ||w_k||| g`). By the triangle inequality it is never above [`vg_norm`].
///
/// Cost of [`neuron_weights`] plus [`neuron_groups`].
pub fn vg_reduced<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    tol: f64,
) -> Result<f64, MeasureError> {
    let g = neuron_weights(net, data)?;
    let groups = neuron_groups(net, tol)?;
    let neurons = Neurons::of(net);
    Ok(groups
        .iter()
        .map(|group| {
            group
                .iter()
                .map(|&k| neurons.v[k] * neurons.w_norm(k) * g[k])
                .sum::<f64>()
                .abs()
        })
        .sum())
}

/// Whether `|f|_Vg <= bound` holds given that `lambda_max` is known only to within the certified
/// error `lambda_error` (Lanczos' Ritz residual bound): `lambda_max` enters the bound halved, so
/// the bound may be `lambda_error / 2` higher than computed; `1e-9` relative covers rounding.
/// The one place shatter decides whether the bound holds.
pub fn bound_holds_certified(vg_norm: f64, bound: f64, lambda_error: f64) -> bool {
    vg_norm <= bound + 0.5 * lambda_error.abs() + 1e-9 * bound.abs().max(1.0)
}

/// Right-hand side of the flatness bound (SCIENCE.md section 4):
/// `lambda_max / 2 - 1/2 + (R + 1) sqrt(2 L)`, with `L` the training loss in the 1/(2n)
/// convention and `lambda_max` the top eigenvalue of that loss's Hessian. Errors when an
/// argument is not finite or `L` or `R` is negative.
pub fn flatness_bound(lambda_max: f64, loss: f64, radius: f64) -> Result<f64, MeasureError> {
    let lambda_max = check_number("lambda_max", lambda_max, false)?;
    let loss = check_number("loss", loss, true)?;
    let radius = check_number("radius R", radius, true)?;
    Ok(0.5 * lambda_max - 0.5 + (radius + 1.0) * (2.0 * loss).sqrt())
}

/// All the numbers of the flatness check: both forms of `|f|_Vg`, the path norm, and the bound
/// for the given top Hessian eigenvalue and loss (both of the 1/(2n) loss), with
/// `R = data.radius()`.
///
/// Cost of [`vg_reduced`] (the weights are computed once); allocates `O(K d)`.
pub fn variation_summary<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    lambda_max: f64,
    loss: f64,
) -> Result<VariationSummary, MeasureError> {
    check_pair(net, data, "weighted variation norm")?;
    let radius = data.radius();
    let vg_bound = flatness_bound(lambda_max, loss, radius)?;
    let g = neuron_weights(net, data)?;
    let groups = neuron_groups(net, DEFAULT_MERGE_TOL)?;
    let neurons = Neurons::of(net);
    let amplitude: Vec<f64> = (0..neurons.k)
        .map(|k| neurons.v[k] * neurons.w_norm(k))
        .collect();
    let vg_norm = (0..neurons.k).map(|k| amplitude[k].abs() * g[k]).sum();
    let vg_reduced = groups
        .iter()
        .map(|group| {
            group
                .iter()
                .map(|&k| amplitude[k] * g[k])
                .sum::<f64>()
                .abs()
        })
        .sum();
    let path_norm = amplitude.iter().map(|a| a.abs()).sum();
    let bound_holds = vg_norm <= vg_bound + 1e-9 * vg_bound.abs().max(1.0);
    Ok(VariationSummary {
        vg_norm,
        vg_reduced,
        path_norm,
        radius,
        lambda_max,
        loss,
        vg_bound,
        bound_holds,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ball_data, random_net};
    use super::*;
    use crate::model::{Activation, Shape};
    use ndarray::{Array0, Array1, Array2};
    use proptest::prelude::*;

    const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");

    /// A trained network from a reference file, with the numbers the tests compare against.
    struct Reference {
        data: Dataset<f64>,
        net: Network<f64>,
        lambda_max: f64,
        loss: f64,
        npz: ndarray_npy::NpzReader<std::fs::File>,
    }

    fn scalar(npz: &mut ndarray_npy::NpzReader<std::fs::File>, name: &str) -> f64 {
        let a: Array0<f64> = npz.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        a.into_scalar()
    }

    /// Loads `file` from the shared reference folder; `sharpness` names the top Hessian
    /// eigenvalue (`None`: the last of `hessian_eigs`). Fails loudly when the file is missing.
    fn load(file: &str, d: usize, width: usize, sharpness: Option<&str>) -> Reference {
        let path = format!("{REFERENCE}{file}");
        let f = std::fs::File::open(&path).unwrap_or_else(|e| {
            panic!("reference file {path} is missing ({e}); it ships in crates/shatter-core/tests/data")
        });
        let mut npz = ndarray_npy::NpzReader::new(f).expect("reference file is a zip archive");
        let mut arr1 = |name: &str| -> Vec<f64> {
            let a: Array1<f64> = npz.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            a.to_vec()
        };
        let (y, b, v) = (arr1("y"), arr1("b"), arr1("v"));
        let mut arr2 = |name: &str| -> Vec<f64> {
            let a: Array2<f64> = npz.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            a.iter().copied().collect()
        };
        let (x, w) = (arr2("X"), arr2("W"));
        let lambda_max = match sharpness {
            Some(name) => scalar(&mut npz, name),
            None => {
                let eigs: Array1<f64> = npz
                    .by_name("hessian_eigs")
                    .unwrap_or_else(|e| panic!("hessian_eigs: {e}"));
                *eigs.iter().last().expect("hessian_eigs is not empty")
            }
        };
        let beta = scalar(&mut npz, "beta");
        let loss = scalar(&mut npz, "final_loss");
        let shape = Shape {
            d,
            width,
            bias: true,
            activation: Activation::Relu,
        };
        Reference {
            data: Dataset::new(d, x, y).expect("X has d columns"),
            net: Network::from_parts(shape, &w, &b, &v, beta).expect("W is K x d"),
            lambda_max,
            loss,
            npz,
        }
    }

    #[test]
    fn reference_vg_norm_and_bound_match_small_f64() {
        let mut s = load("small_f64.npz", 3, 16, None);
        let (want_norm, want_bound) = (
            scalar(&mut s.npz, "vg_norm"),
            scalar(&mut s.npz, "vg_bound"),
        );
        let sum = variation_summary(&s.net, &s.data, s.lambda_max, s.loss).unwrap();
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
        assert!(
            rel(sum.vg_norm, want_norm) < 1e-9,
            "vg_norm {} vs {want_norm}",
            sum.vg_norm
        );
        assert!(
            rel(sum.vg_bound, want_bound) < 1e-12,
            "bound {} vs {want_bound}",
            sum.vg_bound
        );
        assert!(
            sum.bound_holds,
            "the flatness bound holds at the reference network: {sum:?}"
        );
        assert!(sum.vg_reduced <= sum.vg_norm, "{sum:?}");
        assert_eq!(vg_norm(&s.net, &s.data).unwrap(), sum.vg_norm);
        let in_f32 = vg_norm(&s.net.cast::<f32>(), &s.data.cast::<f32>()).unwrap();
        assert!(
            rel(in_f32, want_norm) < 1e-5,
            "f32 inputs: {in_f32} vs {want_norm}"
        );
    }

    /// At the paper's shattering shape (d = 10, n = 512, K = 2048, eta = 0.9 after 500 steps)
    /// the flatness bound holds with the reference sharpness, and most of the output sits in
    /// neurons firing on few points.
    #[test]
    fn flatness_bound_holds_at_shattering_reference() {
        let s = load("shattering_f64.npz", 10, 2048, Some("final_sharpness"));
        let sum = variation_summary(&s.net, &s.data, s.lambda_max, s.loss).unwrap();
        assert!(sum.bound_holds, "shattering_f64.npz: {sum:?}");
        assert!(
            sum.vg_norm > 0.0 && sum.vg_norm < sum.path_norm,
            "shattering_f64.npz: {sum:?}"
        );
        let stats = super::super::neuron_stats(&s.net, &s.data).unwrap();
        let shat = super::super::shattering_summary(&stats);
        assert_eq!(shat.width, 2048);
        assert!(
            (0.0..=1.0).contains(&shat.frac_neurons_rate_le_10pct),
            "{shat:?}"
        );
    }

    #[test]
    fn duplicated_neurons_merge_in_reduced_form() {
        // Two copies of one neuron with opposite v: parameter form counts both, reduced none.
        let data = ball_data(50, 2, 11);
        let shape = Shape {
            d: 2,
            width: 3,
            bias: true,
            activation: Activation::Relu,
        };
        let w = [0.6, 0.8, 1.2, 1.6, -1.0, 0.0];
        let net = Network::from_parts(shape, &w, &[0.1, 0.2, 0.3], &[1.0, -0.5, 0.7], 0.0).unwrap();
        let groups = neuron_groups(&net, DEFAULT_MERGE_TOL).unwrap();
        assert_eq!(
            groups,
            vec![vec![2], vec![0, 1]],
            "groups in order of t: -0.3, then -0.1"
        );
        let g = neuron_weights(&net, &data).unwrap();
        let full = vg_norm(&net, &data).unwrap();
        let reduced = vg_reduced(&net, &data, DEFAULT_MERGE_TOL).unwrap();
        // 1 * 1 * g + 0.5 * 2 * g cancel exactly; neuron 2 remains.
        assert!(
            (reduced - 0.7 * g[2]).abs() < 1e-15,
            "seed 11: reduced {reduced}"
        );
        assert!(
            (full - (2.0 * g[0] + 0.7 * g[2])).abs() < 1e-14,
            "seed 11: full {full}"
        );
        assert!(
            (path_norm(&net) - 2.7).abs() < 1e-15,
            "path norm {}",
            path_norm(&net)
        );
    }

    #[test]
    fn bad_arguments_are_errors() {
        let data = ball_data(10, 2, 3);
        let net = random_net(3, 4, 3, 1.0);
        assert!(matches!(
            vg_norm(&net, &data),
            Err(MeasureError::DimensionMismatch { .. })
        ));
        assert!(flatness_bound(f64::NAN, 0.1, 1.0).is_err());
        assert!(flatness_bound(1.0, -0.1, 1.0).is_err());
        assert!(neuron_groups(&net, -1.0).is_err());
        let empty = Dataset::<f64>::new(3, vec![], vec![]).unwrap();
        assert!(matches!(
            vg_norm(&net, &empty),
            Err(MeasureError::EmptyData { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, rng_seed: proptest::test_runner::RngSeed::Fixed(13), ..ProptestConfig::default() })]

        /// Reduced <= parameter form; rescaling `(w, b, v) -> (c w, c b, v / c)` and permuting
        /// neurons change neither norm nor the path norm.
        #[test]
        fn norms_invariant_and_ordered(
            seed in 0u64..1000, c in 0.01f64..100.0, d in 1usize..5, shift in 1usize..9
        ) {
            let k = 9;
            let data = ball_data(40, d, seed);
            let net = random_net(d, k, seed + 7, 1.0);
            let full = vg_norm(&net, &data).unwrap();
            let reduced = vg_reduced(&net, &data, DEFAULT_MERGE_TOL).unwrap();
            let path = path_norm(&net);
            prop_assert!(reduced <= full * (1.0 + 1e-12), "seed {}: reduced {} > {}", seed, reduced, full);
            let (mut w, mut b, mut v) = (net.w_matrix(), net.b().to_vec(), net.v().to_vec());
            for kk in 0..k {
                let ck = c.powf((kk as f64 - 4.0) / 4.0);
                for j in 0..d { w[kk * d + j] *= ck; }
                b[kk] *= ck;
                v[kk] /= ck;
            }
            let perm: Vec<usize> = (0..k).map(|i| (i * 2 + shift) % k).collect();
            let wp: Vec<f64> = perm.iter().flat_map(|&p| w[p * d..(p + 1) * d].to_vec()).collect();
            let bp: Vec<f64> = perm.iter().map(|&p| b[p]).collect();
            let vp: Vec<f64> = perm.iter().map(|&p| v[p]).collect();
            let net2 = Network::from_parts(net.shape, &wp, &bp, &vp, net.beta()).unwrap();
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-12);
            prop_assert!(close(vg_norm(&net2, &data).unwrap(), full), "seed {}, c {}", seed, c);
            prop_assert!(close(vg_reduced(&net2, &data, DEFAULT_MERGE_TOL).unwrap(), reduced), "seed {}, c {}", seed, c);
            prop_assert!(close(path_norm(&net2), path), "seed {}, c {}", seed, c);
        }
    }
}
