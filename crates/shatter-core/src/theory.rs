//! Predictions of the theory (SCIENCE.md sections 4 and 6): the rate table (MSE or
//! generalisation gap `~ n^(-rate)`) as functions of the input dimension, and the population
//! weight function `g_P` of the unit ball with a helper to tabulate it. The numbers measured on
//! runs, and the fit of empirical rates, live in `measure`; printing the table is the CLI's job.

pub use crate::measure::weight::{ball_marginal_density, population_weight};
use crate::measure::MeasureError;

/// Upper bound on the MSE rate of stable minima for `x ~ Uniform(B^d_1)`: `1/(2d + 4)` (up to
/// logarithms; 2025 paper, Theorems 3.5 and 3.6). Meaningful for `d >= 1`.
pub fn stable_minima_upper(d: usize) -> f64 {
    1.0 / (2.0 * d as f64 + 4.0)
}

/// Minimax lower bound on the rate for the class of functions stable minima can represent:
/// `2/(d + 1)` for `d > 1`, and `1/2` for `d = 1` on the full interval (2025 paper, Theorem
/// 3.7). `d = 0` is treated as `d = 1`.
pub fn minimax_lower(d: usize) -> f64 {
    if d <= 1 {
        0.5
    } else {
        2.0 / (d as f64 + 1.0)
    }
}

/// Univariate rate strictly inside the data support: `4/5` (2024 paper).
pub fn univariate_interior() -> f64 {
    0.8
}

/// Best rate any kernel ridge regression reaches on the univariate BV2 class: `3/4` (2024
/// paper; the kernel methods' rate is `Omega(n^(-3/4))`).
pub fn kernel_best() -> f64 {
    0.75
}

/// Rate of the generalisation gap of weight decay (low-norm solutions), free of `d`: `1/4`
/// (Bach 2017; Parhi and Nowak 2023).
pub fn weight_decay_gap() -> f64 {
    0.25
}

/// One row of the rate table of SCIENCE.md section 6.
#[derive(Clone, Debug, PartialEq)]
pub struct RateRow {
    /// Short machine name (a CSV column or key): e.g. `stable_minima_upper`.
    pub key: &'static str,
    /// The setting in words.
    pub setting: &'static str,
    /// The rate: the quantity decays like `n^(-rate)`.
    pub rate: f64,
    /// The formula as a string, e.g. `1/(2d+4)`.
    pub formula: &'static str,
    /// Where it is proved.
    pub source: &'static str,
}

/// The rate table of SCIENCE.md section 6 evaluated at input dimension `d`. The minimax row
/// is the `d > 1` one or the `d = 1` one according to `d`; the univariate rows (`4/5`, `3/4`)
/// are listed for every `d` since they do not depend on it. Allocates six rows.
pub fn rate_table(d: usize) -> Vec<RateRow> {
    let minimax = if d <= 1 {
        RateRow {
            key: "minimax_lower",
            setting: "minimax lower bound for that class, d = 1, full interval",
            rate: minimax_lower(d),
            formula: "1/2",
            source: "Liang, Qiao, Wang, Parhi 2025, Thm 3.7",
        }
    } else {
        RateRow {
            key: "minimax_lower",
            setting: "minimax lower bound for that class, d > 1",
            rate: minimax_lower(d),
            formula: "2/(d+1)",
            source: "Liang, Qiao, Wang, Parhi 2025, Thm 3.7",
        }
    };
    vec![
        RateRow {
            key: "stable_minima_upper",
            setting: "stable minima, x ~ Uniform(B^d_1), upper bound (up to logs)",
            rate: stable_minima_upper(d),
            formula: "1/(2d+4)",
            source: "Liang, Qiao, Wang, Parhi 2025, Thm 3.5/3.6",
        },
        minimax,
        RateRow {
            key: "univariate_interior",
            setting: "univariate, strictly inside the data support",
            rate: univariate_interior(),
            formula: "4/5",
            source: "Qiao, Zhang, Singh, Soudry, Wang 2024",
        },
        RateRow {
            key: "kernel_best",
            setting: "any kernel ridge regression, univariate BV2 class (at best)",
            rate: kernel_best(),
            formula: "3/4",
            source: "Qiao, Zhang, Singh, Soudry, Wang 2024",
        },
        RateRow {
            key: "weight_decay_gap",
            setting: "weight decay, generalisation gap, free of d",
            rate: weight_decay_gap(),
            formula: "1/4",
            source: "Bach 2017; Parhi & Nowak 2023",
        },
    ]
}

/// `(t, g_P(t))` for `points` equally spaced `t` in `[t_min, t_max]` (both ends included; one
/// point gives `t_min`), for `x ~ Uniform(B^d_1)`. See [`population_weight`] for the
/// quadrature; about 400 `powf` per point. Errors for `d = 0`, `points = 0`, or a bound that is
/// not finite.
pub fn tabulate_population_weight(
    d: usize,
    t_min: f64,
    t_max: f64,
    points: usize,
) -> Result<Vec<(f64, f64)>, MeasureError> {
    if points == 0 {
        return Err(MeasureError::OutOfRange {
            what: "number of points",
            value: 0.0,
            expected: "at least 1",
        });
    }
    let step = if points > 1 {
        (t_max - t_min) / (points - 1) as f64
    } else {
        0.0
    };
    (0..points)
        .map(|i| {
            let t = if i + 1 == points && points > 1 {
                t_max
            } else {
                t_min + step * i as f64
            };
            population_weight(t, d).map(|g| (t, g))
        })
        .collect()
}

/// The constant `C_d` of the boundary behaviour `g_P(t) ~ C_d (1 - |t|)^(d+2)` as `|t| -> 1`
/// (SCIENCE.md section 4). With `h = 1 - |t|`, the far side has
/// `P ~ c_d 2^((d-1)/2) h^((d+1)/2) * 2/(d+1)`, `E[excess] ~ h * 2/(d+3)` and conditional mean
/// `-> 1` (so the square root tends to `sqrt(2)`), hence
/// `C_d = sqrt(2) (c_d 2^((d-1)/2) 2/(d+1))^2 * 2/(d+3)`. Errors for `d = 0`.
pub fn population_weight_boundary_constant(d: usize) -> Result<f64, MeasureError> {
    if d == 0 {
        return Err(MeasureError::OutOfRange {
            what: "input dimension d",
            value: 0.0,
            expected: "d >= 1",
        });
    }
    let c = crate::measure::weight::ball_marginal_constant(d);
    let df = d as f64;
    let p_coef = c * 2f64.powf(0.5 * (df - 1.0)) * 2.0 / (df + 1.0);
    let excess_coef = 2.0 / (df + 3.0);
    Ok(p_coef * p_coef * excess_coef * 2f64.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_table_values() {
        assert_eq!(stable_minima_upper(1), 1.0 / 6.0);
        assert_eq!(stable_minima_upper(5), 1.0 / 14.0);
        assert_eq!(minimax_lower(1), 0.5);
        assert_eq!(minimax_lower(3), 0.5);
        assert_eq!(minimax_lower(5), 1.0 / 3.0);
        let t = rate_table(5);
        assert_eq!(t.len(), 5);
        assert_eq!(t[0].rate, 1.0 / 14.0);
        assert_eq!(t[1].formula, "2/(d+1)");
        assert_eq!(rate_table(1)[1].formula, "1/2");
        assert!(t
            .iter()
            .all(|r| r.rate > 0.0 && r.rate < 1.0 && !r.source.is_empty()));
    }

    #[test]
    fn tabulation_covers_the_interval() {
        let tab = tabulate_population_weight(3, -1.0, 1.0, 21).unwrap();
        assert_eq!(tab.len(), 21);
        assert_eq!(tab[0], (-1.0, 0.0));
        assert_eq!(tab[20], (1.0, 0.0));
        assert!((tab[10].0).abs() < 1e-15 && tab[10].1 > 0.0);
        for i in 0..10 {
            assert!(
                (tab[i].1 - tab[20 - i].1).abs() < 1e-15,
                "g_P is even: t = {}",
                tab[i].0
            );
        }
        assert!(tabulate_population_weight(3, 0.0, 1.0, 0).is_err());
        assert!(tabulate_population_weight(0, 0.0, 1.0, 3).is_err());
    }

    /// `g_P(t) / (1 - t)^(d+2)` tends to the closed-form constant as `t -> 1`.
    #[test]
    fn boundary_constant_is_the_limit() {
        for d in 1..=6 {
            let c = population_weight_boundary_constant(d).unwrap();
            let t = 0.9999;
            let r = population_weight(t, d).unwrap() / (1.0 - t).powi(d as i32 + 2);
            assert!(
                (r / c - 1.0).abs() < 1e-3,
                "d = {d}: ratio {r} vs constant {c}"
            );
        }
    }
}
