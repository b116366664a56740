//! The two-layer network `f(x) = sum_k v_k s(w_k . x + b_k) + beta` of SCIENCE.md section 2, its
//! parameter layout and its PyTorch-default initialisation. Evaluation over a data set lives in
//! `grad` (fused with the loss); this file offers only a slow per-sample `predict` for checks.

use crate::float::Float;
use crate::rng::{stream, Stream};
use rand::Rng;

/// The hidden activation `s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    /// `max(z, 0)`, the default. Its second derivative is zero almost everywhere.
    #[default]
    Relu,
    /// The exact GELU `z Phi(z)` (PyTorch's default, with `erf`, not the tanh approximation).
    Gelu,
}

impl Activation {
    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Gelu => "gelu",
        }
    }

    /// `s(z)`.
    #[inline(always)]
    pub fn value<F: Float>(self, z: F) -> F {
        match self {
            Activation::Relu => z.max(F::zero()),
            Activation::Gelu => gelu(z).0,
        }
    }

    /// `s'(z)`; for ReLU the derivative at 0 is taken as 0, as PyTorch does.
    #[inline(always)]
    pub fn slope<F: Float>(self, z: F) -> F {
        match self {
            Activation::Relu => {
                if z > F::zero() {
                    F::one()
                } else {
                    F::zero()
                }
            }
            Activation::Gelu => gelu(z).1,
        }
    }

    /// `s''(z)`: zero for ReLU (almost everywhere), `phi(z) (2 - z^2)` for GELU.
    #[inline(always)]
    pub fn curvature<F: Float>(self, z: F) -> F {
        match self {
            Activation::Relu => F::zero(),
            Activation::Gelu => gelu(z).2,
        }
    }

    /// `(s(z), s'(z), s''(z))`, the same values as the three methods, for the cost of one: GELU
    /// evaluates `Phi(z)` and `phi(z)` once. Unused parts cost nothing once inlined.
    #[inline(always)]
    pub fn derivatives<F: Float>(self, z: F) -> (F, F, F) {
        match self {
            Activation::Relu => (self.value(z), self.slope(z), F::zero()),
            Activation::Gelu => gelu(z),
        }
    }
}

/// GELU `z Phi(z)` and its derivatives `Phi(z) + z phi(z)` and `phi(z) (2 - z^2)` (SCIENCE.md
/// section 2), from one [`Float::normal_cdf_pdf`].
///
/// Where `z` multiplies `phi(z)`, or `Phi(z)` for `z < 0`, it is clamped to `[-64, 64]`: both
/// factors are exactly 0 there in either precision, so finite inputs give the same bits as
/// without, and `+-inf` give the limits (`s = 0, inf`, `s' = 0, 1`, `s'' = 0`) instead of
/// `inf * 0`. The comparisons let NaN through.
#[inline(always)]
fn gelu<F: Float>(z: F) -> (F, F, F) {
    let (cdf, pdf) = z.normal_cdf_pdf();
    let (lo, hi) = (F::of(-64.0), F::of(64.0));
    let above = if z < lo { lo } else { z };
    let within = if above > hi { hi } else { above };
    (
        above * cdf,
        cdf + within * pdf,
        pdf * (F::of(2.0) - within * within),
    )
}

/// Shape and options of a network; the parameter vector's layout follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Input dimension `d`.
    pub d: usize,
    /// Width `K` (number of hidden neurons).
    pub width: usize,
    /// Whether the hidden biases `b_k` are trained; without, they stay 0.
    pub bias: bool,
    /// The hidden activation.
    pub activation: Activation,
}

impl Shape {
    /// Length of the flat parameter vector: `K d + K + K + 1` (the `b` block is present,
    /// and held at zero, when `bias` is off, so that every shape has the same layout).
    pub fn len(&self) -> usize {
        self.width * self.d + 2 * self.width + 1
    }

    /// Never true: a network has at least the output bias.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Number of trainable parameters: `len()` less the `K` biases when they are off.
    pub fn trainable(&self) -> usize {
        if self.bias {
            self.len()
        } else {
            self.len() - self.width
        }
    }

    /// Offset of the `b` block in the flat vector.
    pub fn b_offset(&self) -> usize {
        self.width * self.d
    }

    /// Offset of the `v` block in the flat vector.
    pub fn v_offset(&self) -> usize {
        self.width * self.d + self.width
    }

    /// Offset of `beta` in the flat vector.
    pub fn beta_offset(&self) -> usize {
        self.width * self.d + 2 * self.width
    }

    /// Zeroes the `b` block of a flat vector when biases are off (a projection onto the
    /// trainable subspace; the identity otherwise).
    pub fn project<T: Copy + Default>(&self, flat: &mut [T]) {
        if !self.bias {
            for x in &mut flat[self.b_offset()..self.v_offset()] {
                *x = T::default();
            }
        }
    }
}

/// A two-layer network with its parameters in one flat vector.
///
/// Layout: `[Wt (d x K, row j holds w_{k,j} for all k), b (K), v (K), beta]`. The input weights
/// are stored transposed so the kernels vectorise over neurons; [`Network::w_matrix`] gives the
/// usual `K x d` matrix (the one saved in `model.npz`).
#[derive(Clone, Debug, PartialEq)]
pub struct Network<F> {
    /// Shape and options.
    pub shape: Shape,
    /// The flat parameter vector, laid out as described above.
    pub params: Vec<F>,
}

impl<F: Float> Network<F> {
    /// A network of the given shape with every parameter zero.
    pub fn zeros(shape: Shape) -> Self {
        Network {
            shape,
            params: vec![F::zero(); shape.len()],
        }
    }

    /// PyTorch-default (`nn.Linear`) initialisation times `scale`:
    /// `w_k, b_k ~ U(-1/sqrt(d), 1/sqrt(d))`, `v_k, beta ~ U(-1/sqrt(K), 1/sqrt(K))`.
    /// Draws `W` row by row (`K x d`, as PyTorch stores it), then `b`, `v`, `beta`, from the
    /// `Init` stream of `seed`; `b` is drawn and then zeroed when biases are off, so turning them
    /// off changes no other weight.
    pub fn init(shape: Shape, seed: u64, scale: f64) -> Self {
        let mut rng = stream(seed, Stream::Init);
        let mut net = Self::zeros(shape);
        let (d, k) = (shape.d, shape.width);
        let a1 = 1.0 / (d as f64).sqrt();
        let a2 = 1.0 / (k as f64).sqrt();
        for n in 0..k {
            for j in 0..d {
                net.params[j * k + n] = F::of(scale * rng.random_range(-a1..a1));
            }
        }
        for n in 0..k {
            net.params[shape.b_offset() + n] = F::of(scale * rng.random_range(-a1..a1));
        }
        for n in 0..k {
            net.params[shape.v_offset() + n] = F::of(scale * rng.random_range(-a2..a2));
        }
        net.params[shape.beta_offset()] = F::of(scale * rng.random_range(-a2..a2));
        shape.project(&mut net.params);
        net
    }

    /// Builds a network from the four arrays of `model.npz`: `w` is `K x d` row-major.
    /// Returns `None` when the lengths do not fit `shape`. Biases are zeroed when `shape.bias`
    /// is off.
    pub fn from_parts(shape: Shape, w: &[F], b: &[F], v: &[F], beta: F) -> Option<Self> {
        let (d, k) = (shape.d, shape.width);
        if w.len() != k * d || b.len() != k || v.len() != k {
            return None;
        }
        let mut net = Self::zeros(shape);
        for n in 0..k {
            for j in 0..d {
                net.params[j * k + n] = w[n * d + j];
            }
        }
        net.params[shape.b_offset()..shape.v_offset()].copy_from_slice(b);
        net.params[shape.v_offset()..shape.beta_offset()].copy_from_slice(v);
        net.params[shape.beta_offset()] = beta;
        shape.project(&mut net.params);
        Some(net)
    }

    /// The transposed input weights `Wt` (`d x K`).
    pub fn wt(&self) -> &[F] {
        &self.params[..self.shape.b_offset()]
    }

    /// The hidden biases `b` (`K`).
    pub fn b(&self) -> &[F] {
        &self.params[self.shape.b_offset()..self.shape.v_offset()]
    }

    /// The output weights `v` (`K`).
    pub fn v(&self) -> &[F] {
        &self.params[self.shape.v_offset()..self.shape.beta_offset()]
    }

    /// The output bias `beta`.
    pub fn beta(&self) -> F {
        self.params[self.shape.beta_offset()]
    }

    /// `w_{k,j}`.
    #[inline]
    pub fn weight(&self, k: usize, j: usize) -> F {
        self.params[j * self.shape.width + k]
    }

    /// The input weight vector `w_k` of neuron `k` (allocates `d` values).
    pub fn w_row(&self, k: usize) -> Vec<F> {
        (0..self.shape.d).map(|j| self.weight(k, j)).collect()
    }

    /// The input weights as the usual `K x d` row-major matrix (allocates).
    pub fn w_matrix(&self) -> Vec<F> {
        let (d, k) = (self.shape.d, self.shape.width);
        let mut w = vec![F::zero(); k * d];
        for n in 0..k {
            for j in 0..d {
                w[n * d + j] = self.weight(n, j);
            }
        }
        w
    }

    /// Converts every parameter to another precision.
    pub fn cast<G: Float>(&self) -> Network<G> {
        Network {
            shape: self.shape,
            params: self.params.iter().map(|&p| G::of(p.to64())).collect(),
        }
    }

    /// `f(x)` for one input, in `f64`, neuron by neuron: slow and obvious, for checks and tools.
    pub fn predict(&self, x: &[F]) -> f64 {
        let s = self.shape;
        let mut f = self.beta().to64();
        for k in 0..s.width {
            let mut z = self.b()[k].to64();
            for (j, xj) in x.iter().enumerate() {
                z += self.weight(k, j).to64() * xj.to64();
            }
            f += self.v()[k].to64() * s.activation.value(z);
        }
        f
    }

    /// Whether every parameter is finite.
    pub fn is_finite(&self) -> bool {
        self.params.iter().all(|p| p.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_parts_round_trips_w_matrix() {
        let shape = Shape {
            d: 3,
            width: 4,
            bias: true,
            activation: Activation::Relu,
        };
        let net = Network::<f64>::init(shape, 5, 1.0);
        let back =
            Network::from_parts(shape, &net.w_matrix(), net.b(), net.v(), net.beta()).unwrap();
        assert_eq!(net, back, "seed 5");
    }

    #[test]
    fn init_respects_pytorch_bounds_and_bias_switch() {
        let shape = Shape {
            d: 4,
            width: 64,
            bias: false,
            activation: Activation::Relu,
        };
        let net = Network::<f64>::init(shape, 9, 1.0);
        assert!(
            net.wt().iter().all(|w| w.abs() <= 0.5),
            "seed 9: |w| <= 1/sqrt(4)"
        );
        assert!(
            net.v().iter().all(|v| v.abs() <= 0.125),
            "seed 9: |v| <= 1/sqrt(64)"
        );
        assert!(net.b().iter().all(|&b| b == 0.0), "seed 9: biases off");
        let with_bias = Network::<f64>::init(
            Shape {
                bias: true,
                ..shape
            },
            9,
            1.0,
        );
        assert_eq!(
            with_bias.wt(),
            net.wt(),
            "turning biases off changes no other weight"
        );
        assert_eq!(with_bias.v(), net.v());
    }

    #[test]
    fn gelu_derivatives_match_differences() {
        for &z in &[-3.0, -0.7, 0.0, 0.4, 2.5f64] {
            let h = 1e-6;
            let a = Activation::Gelu;
            let ds = (a.value(z + h) - a.value(z - h)) / (2.0 * h);
            let dds = (a.slope(z + h) - a.slope(z - h)) / (2.0 * h);
            assert!((ds - a.slope(z)).abs() < 1e-8, "z = {z}");
            assert!((dds - a.curvature(z)).abs() < 1e-8, "z = {z}");
        }
    }

    #[test]
    fn gelu_f32_matches_f64_libm_on_a_dense_grid() {
        use crate::float::tests::{excess, grid, reference};
        let a = Activation::Gelu;
        for z in grid().into_iter().filter(|z| z.abs() <= 20.0) {
            let zd = z as f64;
            let (cdf, pdf) = reference(zd);
            let (s0, s1, s2) = a.derivatives(z);
            assert_eq!(
                (s0, s1, s2),
                (a.value(z), a.slope(z), a.curvature(z)),
                "z = {z}"
            );
            // Tolerances relative to the size of the terms, so that near the zeros of s' (at
            // -0.75) and s'' (at +-sqrt 2) they are absolute; the subnormal parts are scaled by
            // what multiplies them. Measured worst: 2.7, 2.2 and 1.9 epsilons.
            let want = [zd * cdf, cdf + zd * pdf, pdf * (2.0 - zd * zd)];
            let scale = [
                (zd * cdf).abs(),
                cdf + (zd * pdf).abs(),
                pdf * (2.0 + zd * zd),
            ];
            let gain = [
                2.0 + 2.0 * zd.abs(),
                2.0 + 2.0 * zd.abs(),
                2.0 * (2.0 + zd * zd),
            ];
            for (i, got) in [s0, s1, s2].into_iter().enumerate() {
                let e = excess(got, want[i], scale[i], 3.0, gain[i]);
                assert!(
                    e <= 1.0,
                    "z = {z}: s^({i}) = {got}, f64 {}: {e} tolerances",
                    want[i]
                );
                // The task's bound: 1e-6 relative, or 1e-7 absolute near zero.
                let err = (got as f64 - want[i]).abs();
                assert!(err <= (1e-6 * want[i].abs()).max(1e-7), "z = {z}: s^({i})");
            }
        }
    }

    #[test]
    fn gelu_f32_limits_and_nan() {
        let a = Activation::Gelu;
        assert_eq!(a.derivatives(f32::INFINITY), (f32::INFINITY, 1.0, 0.0));
        assert_eq!(a.derivatives(f32::NEG_INFINITY), (0.0, 0.0, 0.0));
        assert_eq!(a.derivatives(f64::INFINITY), (f64::INFINITY, 1.0, 0.0));
        assert_eq!(a.derivatives(f64::NEG_INFINITY), (0.0, 0.0, 0.0));
        assert_eq!(a.derivatives(1e30f32), (1e30, 1.0, 0.0));
        let (s0, s1, s2) = a.derivatives(f32::NAN);
        assert!(s0.is_nan() && s1.is_nan() && s2.is_nan());
        assert_eq!(a.derivatives(0.0f32), (0.0, 0.5, 0.797_884_6));
    }

    #[test]
    fn gelu_f32_slope_and_curvature_are_derivatives() {
        // Five-point central differences of the f32 functions, evaluated in f64: truncation
        // h^4 |f^(5)| / 30 (below 1e-6 at h = 1/32) plus rounding 1.5 * 3 eps * max|f| / h.
        // Measured worst: 2.0e-6 (1 + |z|) and 3.3e-6, against tolerances of about 2e-5.
        let a = Activation::Gelu;
        let h = 1.0 / 32.0f32;
        let diff = |f: &dyn Fn(f32) -> f32, z: f32| {
            let at = |k: f32| f(z + k * h) as f64;
            (8.0 * (at(1.0) - at(-1.0)) - (at(2.0) - at(-2.0))) / (12.0 * h as f64)
        };
        for k in -8 * 64..=8 * 64 {
            let z = k as f32 / 64.0 + 1.0 / 128.0;
            let rounding = 4.5 * f32::EPSILON as f64 / h as f64;
            let slope_err = (diff(&|z| a.value(z), z) - a.slope(z) as f64).abs();
            let tol = 1e-6 + rounding * (z.abs() as f64 + 2.0 * h as f64);
            assert!(
                slope_err <= tol,
                "z = {z}: s' off by {slope_err}, tolerance {tol}"
            );
            let curvature_err = (diff(&|z| a.slope(z), z) - a.curvature(z) as f64).abs();
            let tol = 1e-6 + rounding * 1.2;
            assert!(
                curvature_err <= tol,
                "z = {z}: s'' off by {curvature_err}, tolerance {tol}"
            );
        }
    }
}
