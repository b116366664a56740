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
    /// The exact GELU `z Phi(z)` (PyTorch's default, with `erf`).
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
            Activation::Gelu => z * gelu_cdf(z),
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
            Activation::Gelu => gelu_cdf(z) + z * gelu_pdf(z),
        }
    }

    /// `s''(z)`: zero for ReLU (almost everywhere), `phi(z) (2 - z^2)` for GELU.
    #[inline(always)]
    pub fn curvature<F: Float>(self, z: F) -> F {
        match self {
            Activation::Relu => F::zero(),
            Activation::Gelu => gelu_pdf(z) * (F::of(2.0) - z * z),
        }
    }
}

#[inline(always)]
fn gelu_cdf<F: Float>(z: F) -> F {
    F::of(0.5) * (F::one() + (z * F::of(std::f64::consts::FRAC_1_SQRT_2)).erf())
}

#[inline(always)]
fn gelu_pdf<F: Float>(z: F) -> F {
    F::of(0.398_942_280_401_432_7) * (-F::of(0.5) * z * z).exp()
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
}
