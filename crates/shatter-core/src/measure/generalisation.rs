//! Generalisation measures for the square loss (SCIENCE.md sections 6 and 7): the gap between
//! an estimate of the population risk and the training error, and the empirical rate (minus
//! the slope of `log MSE` against `log n`) that is compared with the theory's table in
//! `theory`. Test sets and their MSE come from the caller.

use super::{check_number, MeasureError};

/// Train and test errors of one run and the generalisation gap derived from them.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneralisationGap {
    /// Training MSE `1/n sum_i (f(x_i) - y_i)^2` (twice the 1/(2n) loss).
    pub train_mse: f64,
    /// Test MSE against noiseless labels, `mean (f(x) - f*(x))^2` over the test set.
    pub test_mse: f64,
    /// Label noise variance `sigma^2`.
    pub noise_var: f64,
    /// Estimated population risk `E (f(X) - Y)^2 = test_mse + sigma^2`.
    pub population_risk: f64,
    /// `population_risk - train_mse`: positive when the network fits the training noise.
    pub gap: f64,
}

/// Training MSE from the loss in the 1/(2n) convention: `2 L`. (With PyTorch's 1/n
/// convention the loss already is the MSE.)
pub fn mse_from_half_loss(loss: f64) -> f64 {
    2.0 * loss
}

/// The generalisation gap for the square loss with label noise independent of `x` of variance
/// `noise_var`, when the test labels are noiseless (as the engine's test sets are): the test
/// MSE estimates `E (f - f*)^2`, so the population risk is `test_mse + sigma^2`, and the gap is
/// that minus `train_mse`. Errors when an argument is negative or not finite.
pub fn generalisation_gap(
    train_mse: f64,
    test_mse: f64,
    noise_var: f64,
) -> Result<GeneralisationGap, MeasureError> {
    let train_mse = check_number("train MSE", train_mse, true)?;
    let test_mse = check_number("test MSE", test_mse, true)?;
    let noise_var = check_number("noise variance", noise_var, true)?;
    let population_risk = test_mse + noise_var;
    Ok(GeneralisationGap {
        train_mse,
        test_mse,
        noise_var,
        population_risk,
        gap: population_risk - train_mse,
    })
}

/// Least-squares fit of `log value = intercept - rate * log n`.
#[derive(Clone, Debug, PartialEq)]
pub struct RateFit {
    /// The empirical rate: minus the slope of `log value` against `log n`.
    pub rate: f64,
    /// Intercept of the fit (natural logarithms).
    pub intercept: f64,
    /// Coefficient of determination `R^2` of the fit in log-log space (1 when every point lies
    /// on the line, including when all values are equal).
    pub r_squared: f64,
    /// Number of points fitted.
    pub points: usize,
}

/// Fits `value ~ C n^(-rate)` by least squares on `(log n, log value)` (SCIENCE.md section 6:
/// "empirical slopes of log MSE against log n are compared with these").
///
/// `O(points)`, allocates the logarithms. Errors when the lengths differ, there are fewer than
/// two distinct `n`, or some `n` or value is not finite and positive.
pub fn loglog_rate(ns: &[f64], values: &[f64]) -> Result<RateFit, MeasureError> {
    if ns.len() != values.len() {
        return Err(MeasureError::LengthMismatch {
            what: "sample sizes and values",
            left: ns.len(),
            right: values.len(),
        });
    }
    let positive = |what: &'static str, x: f64| {
        if x.is_finite() && x > 0.0 {
            Ok(x.ln())
        } else {
            Err(MeasureError::OutOfRange {
                what,
                value: x,
                expected: "a finite number > 0",
            })
        }
    };
    let lx = ns
        .iter()
        .map(|&n| positive("sample size n", n))
        .collect::<Result<Vec<_>, _>>()?;
    let ly = values
        .iter()
        .map(|&v| positive("value", v))
        .collect::<Result<Vec<_>, _>>()?;
    let m = lx.len() as f64;
    let (mx, my) = (
        lx.iter().sum::<f64>() / m.max(1.0),
        ly.iter().sum::<f64>() / m.max(1.0),
    );
    let sxx: f64 = lx.iter().map(|x| (x - mx) * (x - mx)).sum();
    if lx.len() < 2 || sxx <= 0.0 {
        return Err(MeasureError::OutOfRange {
            what: "number of points",
            value: lx.len() as f64,
            expected: "at least 2, with at least 2 distinct sample sizes",
        });
    }
    let sxy: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let syy: f64 = ly.iter().map(|y| (y - my) * (y - my)).sum();
    let slope = sxy / sxx;
    let r_squared = if syy > 0.0 {
        sxy * sxy / (sxx * syy)
    } else {
        1.0
    };
    Ok(RateFit {
        rate: -slope,
        intercept: my - slope * mx,
        r_squared,
        points: lx.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_adds_noise_to_test_mse() {
        let g = generalisation_gap(mse_from_half_loss(0.25), 0.3, 1.0).unwrap();
        assert_eq!(g.train_mse, 0.5);
        assert_eq!(g.population_risk, 1.3);
        assert!((g.gap - 0.8).abs() < 1e-15);
        assert!(generalisation_gap(-1.0, 0.3, 1.0).is_err());
        assert!(generalisation_gap(0.1, f64::INFINITY, 1.0).is_err());
    }

    #[test]
    fn rate_fit_recovers_a_power_law() {
        let ns = [32.0, 64.0, 128.0, 256.0, 512.0];
        let vals: Vec<f64> = ns.iter().map(|n: &f64| 3.0 * n.powf(-0.8)).collect();
        let fit = loglog_rate(&ns, &vals).unwrap();
        assert!((fit.rate - 0.8).abs() < 1e-12, "{fit:?}");
        assert!((fit.intercept - 3f64.ln()).abs() < 1e-12, "{fit:?}");
        assert!((fit.r_squared - 1.0).abs() < 1e-12, "{fit:?}");
        assert!(
            loglog_rate(&[10.0, 10.0], &[1.0, 2.0]).is_err(),
            "one distinct n"
        );
        assert!(
            loglog_rate(&[10.0], &[1.0, 2.0]).is_err(),
            "length mismatch"
        );
        assert!(
            loglog_rate(&[10.0, 20.0], &[1.0, 0.0]).is_err(),
            "zero value"
        );
    }
}
