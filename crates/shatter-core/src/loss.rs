//! Per-sample losses `l(f, y)` and their first two derivatives in `f` (SCIENCE.md section 2).
//! The training loss is `L = 1/n sum_i l(f(x_i), y_i)`; the gradient kernels need `l'` and the
//! Hessian-vector product needs `l''` as well.

use crate::float::Float;

/// The training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Loss {
    /// The papers' square loss `1/(2n) sum (f - y)^2` (`l = r^2 / 2`), the default.
    #[default]
    Square,
    /// PyTorch's `MSELoss`, `1/n sum (f - y)^2` (`l = r^2`): twice the curvature.
    Mse,
    /// Logistic loss `1/n sum log(1 + exp(-y f))`, labels `y` in `{-1, +1}`.
    Logistic,
}

impl Loss {
    /// The config spelling: `square`, `mse` or `logistic`.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Square => "square",
            Loss::Mse => "mse",
            Loss::Logistic => "logistic",
        }
    }

    /// `l(f, y)`, computed stably for the logistic loss.
    #[inline(always)]
    pub fn value<F: Float>(self, f: F, y: F) -> F {
        match self {
            Loss::Square => F::of(0.5) * (f - y) * (f - y),
            Loss::Mse => (f - y) * (f - y),
            Loss::Logistic => softplus(-(y * f)),
        }
    }

    /// `dl/df`.
    #[inline(always)]
    pub fn d1<F: Float>(self, f: F, y: F) -> F {
        match self {
            Loss::Square => f - y,
            Loss::Mse => F::of(2.0) * (f - y),
            Loss::Logistic => -y * sigmoid(-(y * f)),
        }
    }

    /// `d2l/df2`.
    #[inline(always)]
    pub fn d2<F: Float>(self, f: F, y: F) -> F {
        match self {
            Loss::Square => F::one(),
            Loss::Mse => F::of(2.0),
            Loss::Logistic => {
                let p = sigmoid(y * f);
                p * (F::one() - p)
            }
        }
    }

    /// Factor that turns this loss into the papers' `1/(2n)` square loss when both are square
    /// losses (`1` for `square`, `1/2` for `mse`); `None` for logistic. The flatness bound of
    /// SCIENCE.md section 4 is stated for the `1/(2n)` loss.
    pub fn to_half_square(self) -> Option<f64> {
        match self {
            Loss::Square => Some(1.0),
            Loss::Mse => Some(0.5),
            Loss::Logistic => None,
        }
    }
}

/// `log(1 + exp(t))` without overflow.
#[inline(always)]
fn softplus<F: Float>(t: F) -> F {
    if t > F::zero() {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

/// `1 / (1 + exp(-t))` without overflow.
#[inline(always)]
fn sigmoid<F: Float>(t: F) -> F {
    if t >= F::zero() {
        F::one() / (F::one() + (-t).exp())
    } else {
        let e = t.exp();
        e / (F::one() + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_central_differences() {
        for loss in [Loss::Square, Loss::Mse, Loss::Logistic] {
            for &(f, y) in &[(0.3, 1.0), (-2.0, -1.0), (5.0, -1.0), (-40.0, 1.0f64)] {
                let h = 1e-6;
                let d1 = (loss.value(f + h, y) - loss.value(f - h, y)) / (2.0 * h);
                let d2 = (loss.d1(f + h, y) - loss.d1(f - h, y)) / (2.0 * h);
                assert!(
                    (d1 - loss.d1(f, y)).abs() < 1e-7 * loss.d1(f, y).abs().max(1.0),
                    "{loss:?} f={f} y={y}"
                );
                assert!(
                    (d2 - loss.d2(f, y)).abs() < 1e-7 * loss.d2(f, y).abs().max(1.0),
                    "{loss:?} f={f} y={y}"
                );
            }
        }
        assert!(Loss::Logistic.value(-800.0f64, 1.0).is_finite());
    }
}
