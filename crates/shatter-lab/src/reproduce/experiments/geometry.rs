//! The `geometry` experiment: Liang, Cloninger, Parhi, Wang 2025 (arXiv:2510.18120).

use super::{About, Experiment, Scale};
use crate::reproduce::analysis::{
    fit_geometry_rates, num, rate_context, Analysis, Claim, Method, RateFit, Row, RunView, Verdict,
};
use crate::reproduce::stats;
use std::collections::BTreeMap;

/// Test MSE against n for inputs on a union of m-dimensional subspaces of R^D (m = 1, 2; D = 5, 10), beside full-dimensional ball and radial-Beta inputs in R^10.
pub struct Geometry;

const ABOUT: About = About {
    id: "geometry",
    figure: "Liang, Cloninger, Parhi, Wang 2025 (arXiv:2510.18120)",
    what: "Test MSE against n for inputs on a union of m-dimensional subspaces of R^D (m = 1, 2; D = 5, 10), beside full-dimensional ball and radial-Beta inputs in R^10.",
    reported: "Rates of stable minima follow the intrinsic dimension m, not the ambient D.",
};

impl Experiment for Geometry {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        geometry(runs)
    }
}

/// The sweep spec of `geometry` at `scale`.
fn spec(scale: Scale) -> String {
    let (epochs, width_per_n, ns, seeds) = match scale {
        Scale::Quick => (1500, 2, "[32, 64, 128, 256]", "[0, 1]"),
        Scale::Paper => (20000, 4, "[32, 64, 128, 256, 512]", "[0, 1, 2, 3, 4]"),
    };
    format!(
        r#"name = "geometry-{scale}"
description = "Test MSE against n for inputs on a union of 3 m-dimensional subspaces of R^D (m = 1, 2; D = 5, 10) beside full-dimensional ball and radial-Beta inputs in R^10 (GD, eta = 0.2)."

[base]
epochs = {epochs}
width_per_n = {width_per_n}
lr = 0.2
weight_decay = 0.0
sigma = 0.5
clip = 50.0
target = "linear"
n_test = 1000
{loss}
[measure]
sharpness_every = 0
test_every = 0
log_every = 100

[grid]
n = {ns}
seed = {seeds}

[[zip]]
input = ["subspaces(3, 1)", "subspaces(3, 1)", "subspaces(3, 2)", "subspaces(3, 2)", "ball", "radial-beta(2, 2)"]
d = [5, 10, 5, 10, 10, 10]
"#,
        loss = scale.papers_loss_base_line()
    )
}

/// The intrinsic dimension of an input spelling: `m` for `subspaces(COUNT, m)`, `None` for
/// full-dimensional inputs.
fn intrinsic_dim(input: &str) -> Option<usize> {
    let inner = input.strip_prefix("subspaces(")?.strip_suffix(')')?;
    inner.split(',').nth(1)?.trim().parse().ok()
}

/// Rates for the same intrinsic dimension at two ambient dimensions count as close within
/// this absolute difference (or their 95% intervals, when wider).
const CLOSE_RATES: f64 = 0.15;

/// The comparison table of `geometry` (Liang, Cloninger, Parhi, Wang 2025): rates follow the
/// intrinsic dimension `m` of a union of subspaces, not the ambient `D`.
fn geometry(runs: &[RunView]) -> Analysis {
    let mut a = Analysis {
        rates: fit_geometry_rates(runs),
        ..Analysis::default()
    };
    for f in &a.rates {
        let m = intrinsic_dim(&f.arm);
        let theory = shatter_core::theory::stable_minima_upper(m.unwrap_or(f.d));
        a.rows.push(Row {
            parts: Vec::new(),
            quantity: "rate of test MSE ~ n^(-rate)".into(),
            setting: format!(
                "{}, D = {}{}",
                f.arm,
                f.d,
                m.map_or(String::new(), |m| format!(" (m = {m})"))
            ),
            measured: format!("{} ± {}", num(Some(f.rate)), num(Some(f.ci95))),
            paper: format!(
                "stable-minima rate of dimension {}: {}",
                m.unwrap_or(f.d),
                num(Some(theory))
            ),
            verdict: Verdict::Context,
            criterion: String::new(),
            claim: Some(rate_context(f, Some(theory))),
        });
    }
    let full = a
        .rates
        .iter()
        .filter(|f| f.arm == "ball")
        .max_by_key(|f| f.d)
        .cloned();
    let mut by_m: BTreeMap<usize, Vec<&RateFit>> = BTreeMap::new();
    for f in &a.rates {
        if let Some(m) = intrinsic_dim(&f.arm) {
            by_m.entry(m).or_default().push(f);
        }
    }
    for (m, fits) in &by_m {
        let lo = fits.iter().min_by_key(|f| f.d);
        let hi = fits.iter().max_by_key(|f| f.d);
        let (Some(lo), Some(hi)) = (lo, hi) else {
            continue;
        };
        if lo.d == hi.d {
            continue;
        }
        let gap = (lo.rate - hi.rate).abs();
        // The difference of the two rates with the interval of a difference of independent
        // estimates (half-widths added in quadrature); close when it lies inside
        // [-CLOSE_RATES, CLOSE_RATES].
        let diff = lo.rate - hi.rate;
        let half = (lo.ci95.powi(2) + hi.ci95.powi(2)).sqrt();
        let close = Claim::interval(
            diff,
            Some((diff - half, diff + half)),
            Method::SlopeT(lo.ns.len().min(hi.ns.len())),
            Some(0.0),
            (-CLOSE_RATES, CLOSE_RATES),
        );
        a.rows.push(Row {
            parts: Vec::new(),
            quantity: format!("same intrinsic m = {m} at two ambient D"),
            setting: format!("D = {} against D = {}", lo.d, hi.d),
            measured: format!(
                "{} against {} (difference {})",
                num(Some(lo.rate)),
                num(Some(hi.rate)),
                num(Some(gap))
            ),
            paper: "rates follow m, not D".into(),
            verdict: close.verdict(),
            criterion: format!(
                "difference within ±{CLOSE_RATES}; 95% interval of the difference from the two slope t-intervals"
            ),
            claim: Some(close),
        });
        if let Some(full) = &full {
            let faster = Claim::interval(
                hi.rate - full.rate,
                Some(stats::difference_interval(
                    (hi.rate - hi.ci95, hi.rate + hi.ci95),
                    (full.rate - full.ci95, full.rate + full.ci95),
                )),
                Method::NonOverlap,
                None,
                (0.0, f64::INFINITY),
            );
            a.rows.push(Row {
                parts: Vec::new(),
                quantity: format!("m = {m} subspaces against full-dimensional inputs"),
                setting: format!("D = {} subspaces against ball in R^{}", hi.d, full.d),
                measured: format!("{} against {}", num(Some(hi.rate)), num(Some(full.rate))),
                paper: "low intrinsic dimension gives a faster rate".into(),
                verdict: faster.verdict(),
                criterion: format!(
                    "subspace rate above the full-dimensional one; {}",
                    faster.method.describe()
                ),
                claim: Some(faster),
            });
        }
        a.words.push(format!(
            "Inputs on {}-dimensional subspaces give rates {} (D = {}) and {} (D = {}){}.",
            m,
            num(Some(lo.rate)),
            lo.d,
            num(Some(hi.rate)),
            hi.d,
            full.as_ref().map_or(String::new(), |f| format!(
                "; full-dimensional ball inputs in R^{} give {}",
                f.d,
                num(Some(f.rate))
            ))
        ));
    }
    if let Some(rb) = a.rates.iter().find(|f| f.arm.starts_with("radial-beta")) {
        a.words.push(format!(
            "Radial-Beta inputs in R^{} (mass away from the boundary) give rate {}.",
            rb.d,
            num(Some(rb.rate))
        ));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::analyse;
    use crate::reproduce::analysis::testing::completed;
    use crate::run::Summary;
    use crate::spec::RunSpec;

    /// Power laws with the rate of the intrinsic dimension (1/m) for subspaces and 1/D for the
    /// ball; seeds 0 and 1 differ by 1% so the medians are the mean of the two.
    #[test]
    fn geometry_rates_follow_the_intrinsic_dimension() {
        let mut runs = Vec::new();
        for (input, d, rate) in [
            ("subspaces(3, 1)", 5, 1.0),
            ("subspaces(3, 1)", 10, 0.95),
            ("subspaces(3, 2)", 5, 0.5),
            ("subspaces(3, 2)", 10, 0.55),
            ("ball", 10, 0.1),
        ] {
            for n in [32usize, 64, 128, 256] {
                for seed in 0..2u64 {
                    runs.push(completed(
                        RunSpec {
                            d: Some(d),
                            n: Some(n),
                            input: Some(input.into()),
                            seed: Some(seed),
                            ..RunSpec::default()
                        },
                        Summary {
                            test_mse: Some((1.0 + 0.01 * seed as f64) * (n as f64).powf(-rate)),
                            ..Summary::default()
                        },
                    ));
                }
            }
        }
        let a = analyse(&Geometry, &runs);
        assert_eq!(a.rates.len(), 5, "{:?}", a.rates);
        let sub = a
            .rates
            .iter()
            .find(|f| f.arm == "subspaces(3, 1)" && f.d == 10)
            .unwrap();
        assert!((sub.rate - 0.95).abs() < 1e-6, "{sub:?}");
        let claims: Vec<&Row> = a
            .rows
            .iter()
            .filter(|r| r.verdict != Verdict::Context)
            .collect();
        assert_eq!(
            claims.len(),
            4,
            "two m, each: D-invariance and beats the ball"
        );
        assert!(
            claims.iter().all(|r| r.verdict == Verdict::Agrees),
            "{claims:?}"
        );
        assert_eq!(intrinsic_dim("subspaces(3, 2)"), Some(2));
        assert_eq!(intrinsic_dim("ball"), None);
    }
}
