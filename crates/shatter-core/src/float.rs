//! The floating-point types the engine runs in: `f32` (the default) and `f64` (on request).
//! Everything numeric is generic over [`Float`]; accumulations that decide results across
//! threads (reductions over chunks, Lanczos) are done in a fixed order, whatever the type.

use std::fmt::{Debug, Display};

/// A floating-point scalar the kernels are generic over (`f32` or `f64`).
pub trait Float:
    num_traits::Float
    + num_traits::FromPrimitive
    + num_traits::ToPrimitive
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + std::iter::Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
{
    /// The name used in configs and files: `"f32"` or `"f64"`.
    const NAME: &'static str;

    /// Converts from `f64`, rounding to nearest.
    fn of(x: f64) -> Self;

    /// Converts to `f64` exactly.
    fn to64(self) -> f64;

    /// The standard normal distribution function and density, `(Phi(z), phi(z))`, used by GELU
    /// (SCIENCE.md section 2).
    ///
    /// `f64` uses libm (`erf`, `exp`), the reference. `f32` uses [`normal_cdf_pdf_f32`]: plain
    /// arithmetic that vectorises inside the kernels, within a few ulp of the `f64` values.
    fn normal_cdf_pdf(self) -> (Self, Self);
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn normal_cdf_pdf(self) -> (Self, Self) {
        normal_cdf_pdf_f32(self)
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn normal_cdf_pdf(self) -> (Self, Self) {
        let cdf = 0.5 * (1.0 + libm::erf(self * std::f64::consts::FRAC_1_SQRT_2));
        let pdf = 0.398_942_280_401_432_7 * (-0.5 * self * self).exp();
        (cdf, pdf)
    }
}

/// `(Phi(z), phi(z))` in single precision, branch-free and without calls, so that the GELU
/// kernels vectorise; about 40 flops and one division.
///
/// Accuracy (tested against `f64` libm on a dense grid): a few ulp relative wherever the result
/// is a normal `f32`, `Phi` included deep in the lower tail, where `1 + erf` would cancel. NaN
/// gives NaN; `Phi(-inf) = 0`, `Phi(inf) = 1`, `phi(+-inf) = 0`.
///
/// The density is `exp(-z^2 / 2) / sqrt(2 pi)` with `z^2 = h + l` split exactly by a fused
/// multiply-add, `exp` reduced to `2^k exp(r)`, `|r| <= ln 2 / 2` (Cody-Waite), `exp(r)` a
/// degree-6 polynomial and `2^k` built from its exponent bits in two factors, so that results
/// down to the subnormals are rounded once. The distribution function comes from Mills' ratio
/// `M(a) = (1 - Phi(a)) / phi(a)`: `1 - Phi(|z|) = phi(z) M(|z|)`, with
/// `(a + 3) M(a)` a degree-9 polynomial in `q = (a - 3) / (a + 3)`, so one division serves both.
/// The coefficients are relative minimax fits (Lawson iterations on 3000 Chebyshev nodes; Mills'
/// ratio on `a` in `[0, 15]`, exp on `[-0.347, 0.347]`, against 40-digit mpmath), rounded to
/// `f32` one at a time, refitting the rest: relative error 2.7e-8 and 4.9e-9 before evaluation.
#[inline(always)]
pub fn normal_cdf_pdf_f32(z: f32) -> (f32, f32) {
    // exp(r) ~ 1 + r + r^2 (c2 + c3 r + ... + c6 r^4).
    const EXP: [f32; 5] = [
        f32::from_bits(0x3eff_ffff), // 0x1.fffffep-2
        f32::from_bits(0x3e2a_aa48), // 0x1.555490p-3
        f32::from_bits(0x3d2a_ab42), // 0x1.555684p-5
        f32::from_bits(0x3c09_1d2b), // 0x1.123a56p-7
        f32::from_bits(0x3ab5_ec66), // 0x1.6bd8ccp-10
    ];
    // (a + 3) M(a) ~ sum_j MILLS[j] q^j.
    const MILLS: [f32; 10] = [
        1.827_541_8,
        -1.276_706_2,
        0.576_568_37,
        -0.118_461_33,
        -0.026_221_67,
        0.017_400_198,
        0.002_539_107_3,
        -0.002_391_131_8,
        -0.000_501_222_1,
        0.000_142_582_84,
    ];
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer.
    const LN2_HI: f32 = 355.0 / 512.0; // Few bits, so that k * LN2_HI is exact.
    const LN2_LO: f32 = -2.121_944_4e-4; // ln 2 - LN2_HI.
    const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
    // Beyond |z| = 16 the density is 0 and Phi is 0 or 1 in f32; the clamp keeps z * z finite.
    // Comparisons rather than `max`/`min`, so that NaN passes through.
    let z = if z < -16.0 { -16.0 } else { z };
    let z = if z > 16.0 { 16.0 } else { z };

    // Density: exp(x - l / 2) / sqrt(2 pi) with x = -h / 2 exact and x = k ln 2 + r.
    let h = z * z;
    let l = z.mul_add(z, -h);
    let x = -0.5 * h;
    let t = x.mul_add(std::f32::consts::LOG2_E, MAGIC);
    let kf = t - MAGIC;
    let k = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = kf.mul_add(-LN2_HI, x);
    let r = kf.mul_add(-LN2_LO, r);
    let r = l.mul_add(-0.5, r);
    let mut u = EXP[4];
    for &c in EXP[..4].iter().rev() {
        u = u.mul_add(r, c);
    }
    let p = 1.0 + u.mul_add(r * r, r);
    // 2^k with k in [-185, 0] as 2^k1 2^(k - k1), both normal; only the last product may round
    // to a subnormal.
    let k1 = k.max(-120);
    let pow2 = |e: i32| f32::from_bits((e.wrapping_add(127) as u32) << 23);
    let pdf = p * FRAC_1_SQRT_2PI * pow2(k1) * pow2(k.wrapping_sub(k1));

    // Distribution function through Mills' ratio of a = |z|.
    let a = z.abs();
    let inv = 1.0 / (a + 3.0);
    let q = (a - 3.0) * inv;
    let mut g = MILLS[9];
    for &c in MILLS[..9].iter().rev() {
        g = g.mul_add(q, c);
    }
    let tail = pdf * (g * inv);
    let cdf = if z > 0.0 { 1.0 - tail } else { tail };
    (cdf, pdf)
}

/// Which [`Float`] a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// Single precision, the default: twice the SIMD width of `f64`.
    #[default]
    F32,
    /// Double precision, for checks against reference values.
    F64,
}

impl Precision {
    /// The config spelling: `"f32"` or `"f64"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `(Phi(z), phi(z))` from f64 libm, `Phi` with `erfc`, so that the lower tail does not
    /// cancel as `1 + erf` does.
    pub(crate) fn reference(z: f64) -> (f64, f64) {
        let cdf = 0.5 * libm::erfc(-z * std::f64::consts::FRAC_1_SQRT_2);
        (cdf, 0.398_942_280_401_432_7 * (-0.5 * z * z).exp())
    }

    /// Every multiple of 2^-13 in [-20, 20] (0, +-9 and +-20 included), then inputs in the
    /// subnormal range and near it.
    pub(crate) fn grid() -> Vec<f32> {
        let mut zs: Vec<f32> = (-20 * 8192..=20 * 8192)
            .map(|k| k as f32 / 8192.0)
            .collect();
        for z in [
            f32::from_bits(1),
            1e-40,
            f32::MIN_POSITIVE,
            1e-30,
            1e-10,
            14.0,
            14.5,
            15.99,
            16.0,
            16.01,
            1e4,
            f32::MAX,
        ] {
            zs.extend([z, -z]);
        }
        zs.push(-0.0);
        zs
    }

    /// `|got - want|` over its tolerance: `ulps` f32 epsilons of `scale` (the size of the terms
    /// that make up the result), plus a subnormal ulp amplified by `gain`, for results that lie
    /// in or come from the subnormal range.
    pub(crate) fn excess(got: f32, want: f64, scale: f64, ulps: f64, gain: f64) -> f64 {
        let tol = ulps * f32::EPSILON as f64 * scale + gain * f32::from_bits(1) as f64;
        (got as f64 - want).abs() / tol
    }

    #[test]
    fn normal_cdf_pdf_f32_matches_f64_libm_on_a_dense_grid() {
        for z in grid() {
            let (cdf, pdf) = normal_cdf_pdf_f32(z);
            let (want_cdf, want_pdf) = reference(z as f64);
            // Measured worst: 2.6 and 1.4 epsilons (3.1e-7 and 1.6e-7 relative).
            let e = excess(cdf, want_cdf, want_cdf, 3.0, 2.0);
            assert!(e <= 1.0, "Phi({z}) = {cdf}, f64 {want_cdf}: {e} tolerances");
            let e = excess(pdf, want_pdf, want_pdf, 2.0, 2.0);
            assert!(e <= 1.0, "phi({z}) = {pdf}, f64 {want_pdf}: {e} tolerances");
        }
    }

    #[test]
    fn normal_cdf_pdf_f32_special_values() {
        let (cdf, pdf) = normal_cdf_pdf_f32(f32::NAN);
        assert!(cdf.is_nan() && pdf.is_nan(), "NaN gives ({cdf}, {pdf})");
        assert_eq!(normal_cdf_pdf_f32(f32::INFINITY), (1.0, 0.0));
        assert_eq!(normal_cdf_pdf_f32(f32::NEG_INFINITY), (0.0, 0.0));
        assert_eq!(normal_cdf_pdf_f32(20.0), (1.0, 0.0));
        assert_eq!(normal_cdf_pdf_f32(-20.0), (0.0, 0.0));
        for z in [
            0.0,
            -0.0,
            f32::from_bits(1),
            -f32::from_bits(1),
            1e-40,
            -1e-40,
        ] {
            let (cdf, pdf) = normal_cdf_pdf_f32(z);
            assert!((cdf - 0.5).abs() <= f32::EPSILON, "Phi({z}) = {cdf}");
            assert!(
                (pdf - 0.398_942_3).abs() <= f32::EPSILON * 0.4,
                "phi({z}) = {pdf}"
            );
        }
    }

    #[test]
    fn normal_cdf_pdf_f64_is_libm() {
        for z in [-9.0, -1.5, 0.0, 0.3, 4.0f64] {
            let (cdf, pdf) = z.normal_cdf_pdf();
            assert_eq!(
                cdf,
                0.5 * (1.0 + libm::erf(z * std::f64::consts::FRAC_1_SQRT_2)),
                "{z}"
            );
            assert_eq!(pdf, reference(z).1, "{z}");
        }
    }
}
