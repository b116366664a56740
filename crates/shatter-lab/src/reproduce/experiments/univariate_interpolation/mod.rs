//! The `univariate-interpolation` experiment: Qiao, Zhang, Singh, Soudry, Wang 2024
//! (arXiv:2406.06838), interpolation against width and step size, and the sharpness of the
//! interpolating networks. Its figures are in `figures.rs`.

mod figures;

use super::univariate::{interpolation_threshold, INTERPOLATION_FRACTION};
use super::{About, Experiment, Scale};
use crate::reproduce::analysis::{
    is_krr, lr, num, trend_claim, Analysis, Claim, Method, Row, RunView,
};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::ReportFigure;
use crate::reproduce::scale::toml_list;
use crate::reproduce::stats;
use crate::store::Store;
use figures::draw_interpolation;
use std::collections::BTreeMap;
use std::path::Path;

/// n = 30 noisy points of sin(pi x) fitted with K = 100 to 1000 neurons, eta from below 1/(n^2 sigma) to 0.4: who fits the noise, at what test error and what sharpness.
pub struct UnivariateInterpolation;

const ABOUT: About = About {
    id: "univariate-interpolation",
    figure: "Qiao, Zhang, Singh, Soudry, Wang 2024 (arXiv:2406.06838), interpolation and sharpness",
    what: "n = 30 noisy points of sin(pi x) fitted with K = 100 to 1000 neurons, eta from below 1/(n^2 sigma) to 0.4: which (eta, K) fit the noise, their test MSE against the runs that do not, and the sharpness of the interpolants against 2/eta.",
    reported: "Stable minima cannot interpolate noisy labels: interpolation only for eta ~ 1/(n^2 sigma); interpolating solutions are sharp (sharpness far above 2/eta of large steps) and generalise worse.",
};

impl Experiment for UnivariateInterpolation {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        interpolation(runs)
    }
    fn figures(
        &self,
        _store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        draw_interpolation(done, dir)
    }
}

/// A run fits the label noise ("interpolates", to this tolerance) when its mean squared
/// training residual is at most `FIT_TOLERANCE` times the empirical noise variance of its
/// training set, `1/n sum_i (y_i - f*(x_i))^2` (the training MSE of the true function): it has
/// fitted at least three quarters of the noise, where a fit that leaves the noise alone keeps
/// a training MSE near that variance. The empirical variance, not `sigma^2`: with n = 30 it
/// ranges from 0.74 to 0.98 `sigma^2` over seeds 0 to 2. Exact interpolation (train MSE 0) is
/// out of reach of gradient descent in any affordable number of epochs at the paper's n = 30
/// (the training loss settles at a fifth or more of the noise); the strict count at
/// `STRICT_TOLERANCE` is reported beside it.
pub const FIT_TOLERANCE: f64 = 0.25;

/// The strict reading of interpolation: train MSE at most 1% of the noise variance (the
/// tolerance of the `univariate` experiment, `univariate::INTERPOLATION_FRACTION`).
pub const STRICT_TOLERANCE: f64 = INTERPOLATION_FRACTION;

/// Whether a run with training MSE `train_mse` on labels with empirical noise variance
/// `noise_var` fits the noise to `tolerance` (`train_mse <= tolerance * noise_var`); `None`
/// when either is missing or not finite, or `noise_var` is not positive (no noise to fit).
pub fn fits_noise(train_mse: Option<f64>, noise_var: Option<f64>, tolerance: f64) -> Option<bool> {
    let m = train_mse.filter(|m| m.is_finite())?;
    let v = noise_var.filter(|v| v.is_finite() && *v > 0.0)?;
    Some(m <= tolerance * v)
}

/// The empirical noise variance `1/n sum_i (y_i - f*(x_i))^2` of a generated regression run's
/// training set, regenerated from its settings (`O(n)`; `None` for data files, labels without
/// a target, or settings that no longer check).
pub fn empirical_noise(spec: &crate::spec::RunSpec) -> Option<f64> {
    let config = spec.check(None).ok()?;
    let crate::spec::DataSource::Generated(data) = &config.data else {
        return None;
    };
    let problem = shatter_core::data::generate(data, config.seed).ok()?;
    let t = &problem.train;
    (t.n > 0).then(|| {
        (0..t.n)
            .map(|i| (t.y[i] - problem.target.eval(t.row(i))).powi(2))
            .sum::<f64>()
            / t.n as f64
    })
}

/// Step sizes of `univariate-interpolation` at `scale`: from below the threshold
/// `1/(n^2 sigma) = 0.0037` (n = 30, sigma = 0.3) to the paper's largest, 0.4.
fn interpolation_lrs(scale: Scale) -> &'static [f64] {
    match scale {
        Scale::Quick => &[0.003, 0.01, 0.05, 0.2],
        Scale::Paper => &[0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4],
    }
}

/// The sweep spec of `univariate-interpolation`: n = 30 noisy points of sin(pi x), every run
/// the same time eta x epochs (capped), sharpness and test error measured at the end.
fn spec(scale: Scale) -> String {
    let (widths, seeds, budget, cap): (&[usize], &[u64], f64, usize) = match scale {
        Scale::Quick => (&[50, 100], &[0, 1], 1500.0, 500_000),
        Scale::Paper => (&[100, 300, 1000], &[0, 1, 2], 4000.0, 3_000_000),
    };
    let lrs = interpolation_lrs(scale);
    let epochs: Vec<usize> = lrs
        .iter()
        .map(|lr| ((budget / lr).round() as usize).min(cap))
        .collect();
    let logs: Vec<usize> = epochs.iter().map(|e| (e / 100).max(1)).collect();
    format!(
        r#"name = "univariate-interpolation-{scale}"
description = "n = 30 noisy points of sin(pi x) on [-1, 1], K in {{{widths}}}: which step sizes fit the noise (train MSE <= {FIT_TOLERANCE} x noise variance), the test MSE of those that do and do not, and the sharpness of the interpolants against 2/eta (eta x epochs = {budget}, at most {cap} epochs)."

[base]
d = 1
n = 30
input = "interval"
target = "sine"
sigma = 0.3
clip = 50.0
n_test = 2000

[grid]
{losses}width = [{widths}]
seed = [{seeds}]

[[zip]]
lr = [{lrs}]
epochs = [{epochs}]
sharpness_every = [{epochs}]
test_every = [{epochs}]
log_every = [{logs}]
"#,
        widths = toml_list(widths),
        seeds = toml_list(seeds),
        lrs = toml_list(lrs),
        epochs = toml_list(&epochs),
        logs = toml_list(&logs),
        losses = scale.both_losses_grid_line(),
    )
}

fn width(r: &RunView) -> usize {
    r.spec.width.unwrap_or(0)
}

fn sigma(r: &RunView) -> f64 {
    r.spec.sigma.unwrap_or(1.0)
}

/// The runs of an analysis with their empirical noise variances, computed once.
struct Noise(BTreeMap<String, Option<f64>>);

impl Noise {
    fn of(runs: &[&RunView]) -> Noise {
        Noise(
            runs.iter()
                .map(|r| (r.run_id.clone(), empirical_noise(&r.spec)))
                .collect(),
        )
    }
    fn var(&self, r: &RunView) -> Option<f64> {
        self.0.get(&r.run_id).copied().flatten()
    }
    fn fits(&self, r: &RunView, tolerance: f64) -> Option<bool> {
        fits_noise(r.summary.train_mse, self.var(r), tolerance)
    }
    /// Training MSE over the empirical noise variance.
    fn residual(&self, r: &RunView) -> Option<f64> {
        Some(r.summary.train_mse? / self.var(r).filter(|v| *v > 0.0)?)
    }
}

/// A claim on a proportion `successes / trials` with its Wilson score 95% interval.
fn proportion_claim(successes: usize, trials: usize, agree: (f64, f64)) -> Claim {
    let estimate = if trials > 0 {
        successes as f64 / trials as f64
    } else {
        f64::NAN
    };
    Claim::interval(
        estimate,
        stats::wilson_interval(successes, trials),
        Method::Wilson(trials),
        None,
        agree,
    )
}

/// The comparison table of `univariate-interpolation`: per (K, eta) the fraction of seeds that
/// fit the noise and the median test MSE and sharpness, then the claims.
fn interpolation(runs: &[RunView]) -> Analysis {
    let mut a = Analysis::default();
    let v: Vec<&RunView> = runs
        .iter()
        .filter(|r| !is_krr(r) && r.summary.status == "completed")
        .collect();
    let Some(first) = v.first() else {
        return a;
    };
    let noise = Noise::of(&v);
    let fits = |r: &RunView, t: f64| noise.fits(r, t);
    let thr = interpolation_threshold(first);
    let (n, sig) = (first.spec.n.unwrap_or(0), sigma(first));
    let mut cells: BTreeMap<(usize, u64), Vec<&RunView>> = BTreeMap::new();
    for r in &v {
        cells
            .entry((width(r), lr(r).to_bits()))
            .or_default()
            .push(r);
    }
    for ((k, bits), rs) in &cells {
        let fitted = rs
            .iter()
            .filter(|r| fits(r, FIT_TOLERANCE) == Some(true))
            .count();
        let med = |f: &dyn Fn(&RunView) -> Option<f64>| {
            stats::median(
                &rs.iter()
                    .map(|r| f(r).unwrap_or(f64::NAN))
                    .collect::<Vec<_>>(),
            )
        };
        a.rows.push(Row::context(
            "seeds fitting the noise / median train MSE over the noise variance / test MSE / sharpness (2/eta)",
            format!("K = {k}, eta = {}", f64::from_bits(*bits)),
            format!(
                "{fitted} of {} / {} / {} / {} ({})",
                rs.len(),
                num(med(&|r| noise.residual(r))),
                num(med(&|r| r.summary.test_mse)),
                num(med(&|r| r.summary.sharpness)),
                num(Some(2.0 / f64::from_bits(*bits)))
            ),
            "small steps fit the noise, large ones do not",
        )
        .with_numbers([
            ("seeds fitting the noise", Some(fitted as f64)),
            ("seeds", Some(rs.len() as f64)),
            (
                "median train MSE over the noise variance",
                med(&|r| noise.residual(r)),
            ),
            ("median test MSE", med(&|r| r.summary.test_mse)),
            ("median sharpness", med(&|r| r.summary.sharpness)),
            ("2/eta", Some(2.0 / f64::from_bits(*bits))),
        ]));
    }
    // The smallest and the largest steps, pooled over widths and seeds.
    let smallest = v.iter().map(|r| lr(r)).fold(f64::INFINITY, f64::min);
    let at_smallest: Vec<&&RunView> = v.iter().filter(|r| lr(r) == smallest).collect();
    let fit_small = at_smallest
        .iter()
        .filter(|r| fits(r, FIT_TOLERANCE) == Some(true))
        .count();
    a.rows.push(Row::claim(
        format!("fraction of runs fitting the noise (train MSE <= {FIT_TOLERANCE} x noise variance) at the smallest eta"),
        format!("eta = {smallest}, every K and seed"),
        format!("{fit_small} of {}", at_smallest.len()),
        format!("interpolation for eta ~ 1/(n^2 sigma) = {}", num(Some(thr))),
        "at least half of the runs",
        proportion_claim(fit_small, at_smallest.len(), (0.5, 1.0)),
    ));
    let far = 10.0 * thr;
    let large: Vec<&&RunView> = v.iter().filter(|r| lr(r) >= far).collect();
    let fit_large = large
        .iter()
        .filter(|r| fits(r, FIT_TOLERANCE) == Some(true))
        .count();
    a.rows.push(Row::claim(
        format!("fraction of runs fitting the noise (train MSE <= {FIT_TOLERANCE} x noise variance) at eta >= 10/(n^2 sigma)"),
        format!("eta >= {}, every K and seed", num(Some(far))),
        format!("{fit_large} of {}", large.len()),
        "stable minima cannot interpolate noisy labels",
        "at most 10% of the runs",
        proportion_claim(fit_large, large.len(), (0.0, 0.1)),
    ));
    let strict = v
        .iter()
        .filter(|r| fits(r, STRICT_TOLERANCE) == Some(true))
        .count();
    let best_fit = v
        .iter()
        .filter_map(|r| noise.residual(r))
        .filter(|x| x.is_finite())
        .fold(f64::INFINITY, f64::min);
    a.rows.push(Row::context(
        format!("runs interpolating strictly (train MSE <= {STRICT_TOLERANCE} x noise variance) / smallest train MSE over the noise variance"),
        "every run",
        format!("{strict} of {} / {}", v.len(), num(Some(best_fit))),
        "exact interpolation for eta ~ 1/(n^2 sigma)",
    )
    .with_numbers([
        ("runs interpolating strictly", Some(strict as f64)),
        ("runs", Some(v.len() as f64)),
        (
            "smallest train MSE over the noise variance",
            Some(best_fit).filter(|x| x.is_finite()),
        ),
    ]));
    // The share of the noise left in the residuals rises with eta, over every run.
    let xs: Vec<f64> = v.iter().map(|r| lr(r)).collect();
    let left: Vec<f64> = v
        .iter()
        .map(|r| noise.residual(r).unwrap_or(f64::NAN))
        .collect();
    let trend = trend_claim(&xs, &left, true);
    a.rows.push(Row::claim(
        "train MSE over the empirical noise variance against eta, every K and seed",
        "all eta",
        format!(
            "Spearman rank correlation with eta: {}",
            num(Some(trend.estimate))
        ),
        "larger steps fit less of the noise",
        "correlation >= 0.5",
        trend,
    ));
    // Largest fitting step per (K, seed), against the threshold.
    let mut groups: BTreeMap<(usize, u64), Vec<&RunView>> = BTreeMap::new();
    for r in &v {
        groups
            .entry((width(r), r.spec.seed.unwrap_or(0)))
            .or_default()
            .push(r);
    }
    let ratios: Vec<f64> = groups
        .values()
        .filter_map(|rs| {
            rs.iter()
                .filter(|r| fits(r, FIT_TOLERANCE) == Some(true))
                .map(|r| lr(r))
                .reduce(f64::max)
        })
        .map(|x| x / thr)
        .collect();
    a.rows.push(Row::claim(
        "largest eta fitting the noise over 1/(n^2 sigma), per K and seed",
        format!(
            "n = {n}, sigma = {sig}, {} of {} (K, seed) fit at some eta",
            ratios.len(),
            groups.len()
        ),
        format!("median {}", num(stats::median(&ratios))),
        format!("~ 1 (1/(n^2 sigma) = {})", num(Some(thr))),
        "within a factor 10 of the threshold",
        Claim::over_seeds(&ratios, Some(1.0), (0.1, 10.0)),
    ));
    // Tempered overfitting: fitting the noise costs test error, but the error stays finite.
    let mut costs = Vec::new();
    let mut tempered = Vec::new();
    for rs in groups.values() {
        let best = rs
            .iter()
            .filter_map(|r| r.summary.test_mse)
            .filter(|m| m.is_finite())
            .fold(f64::INFINITY, f64::min);
        let interp: Vec<f64> = rs
            .iter()
            .filter(|r| fits(r, FIT_TOLERANCE) == Some(true))
            .filter_map(|r| r.summary.test_mse)
            .collect();
        if let (Some(m), true) = (stats::median(&interp), best.is_finite() && best > 0.0) {
            costs.push(m / best);
            tempered.push(m / (sig * sig));
        }
    }
    a.rows.push(Row::claim(
        "test MSE of the runs fitting the noise over the best test MSE over eta, per K and seed",
        format!("{} (K, seed) with a fitting run", costs.len()),
        format!("median {}", num(stats::median(&costs))),
        "interpolation overfits: worse than the best stable step",
        "ratio above 1",
        Claim::over_seeds(&costs, None, (1.0, f64::INFINITY)),
    ));
    a.rows.push(
        Row::context(
            "test MSE of the runs fitting the noise over sigma^2 (tempered: finite, not near 0)",
            format!("{} (K, seed)", tempered.len()),
            format!("median {}", num(stats::median(&tempered))),
            "tempered overfitting in one dimension",
        )
        .with_numbers([(
            "median test MSE of the runs fitting the noise over sigma^2",
            stats::median(&tempered),
        )]),
    );
    // Sharp interpolants: their sharpness against 2/eta of the large steps.
    let large_steps: Vec<f64> = {
        let mut l: Vec<f64> = large.iter().map(|r| lr(r)).collect();
        l.sort_by(f64::total_cmp);
        l.dedup();
        l
    };
    if let Some(&smallest_large) = large_steps.first() {
        let edge = 2.0 / smallest_large;
        let sharp: Vec<f64> = groups
            .values()
            .filter_map(|rs| {
                rs.iter()
                    .filter(|r| fits(r, FIT_TOLERANCE) == Some(true))
                    .filter_map(|r| r.summary.sharpness)
                    .reduce(f64::min)
            })
            .map(|s| s / edge)
            .collect();
        a.rows.push(Row::claim(
            "smallest sharpness of the runs fitting the noise over 2/eta of the smallest large step, per K and seed",
            format!("2/eta = {} (eta = {smallest_large})", num(Some(edge))),
            format!("median {}", num(stats::median(&sharp))),
            "interpolating minima are too sharp for large steps",
            "ratio above 1: no large step can stay there",
            Claim::over_seeds(&sharp, None, (1.0, f64::INFINITY)),
        ));
    }
    let own: Vec<f64> = v
        .iter()
        .filter(|r| fits(r, FIT_TOLERANCE) == Some(true))
        .filter_map(|r| r.summary.sharpness.map(|s| s * lr(r) / 2.0))
        .collect();
    a.rows.push(Row::claim(
        "sharpness over 2/eta of the runs fitting the noise, at their own eta",
        format!("{} runs", own.len()),
        format!("median {}", num(stats::median(&own))),
        "reached by GD, so stable at their own step",
        "at most 1.15 (the oscillation at the edge)",
        Claim::over_seeds(&own, Some(1.0), (0.0, 1.15)),
    ));
    let edge_ratio: Vec<f64> = large
        .iter()
        .filter(|r| fits(r, FIT_TOLERANCE) == Some(false))
        .filter_map(|r| r.summary.sharpness.map(|s| s * lr(r) / 2.0))
        .collect();
    a.rows.push(Row::claim(
        "sharpness over 2/eta of the large-step runs that do not fit the noise",
        format!("eta >= {}, {} runs", num(Some(far)), edge_ratio.len()),
        format!("median {}", num(stats::median(&edge_ratio))),
        "at the edge of stability: sharpness ~ 2/eta",
        "between 0.5 and 1.15",
        Claim::over_seeds(&edge_ratio, Some(1.0), (0.5, 1.15)),
    ));
    a.words.push(format!(
        "A run fits the noise when its training MSE is at most {FIT_TOLERANCE} times the empirical noise variance of its labels ({} of {} runs); {strict} reach the strict {STRICT_TOLERANCE} (the smallest training MSE is {} of the noise variance). At the smallest eta = {smallest}, {fit_small} of {} runs fit the noise; at eta >= 10/(n^2 sigma) = {}, {fit_large} of {}.",
        v.iter().filter(|r| fits(r, FIT_TOLERANCE) == Some(true)).count(),
        v.len(),
        num(Some(best_fit)),
        at_smallest.len(),
        num(Some(far)),
        large.len(),
    ));
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::analysis::testing::run_view;
    use crate::run::Summary;
    use crate::spec::RunSpec;
    use crate::sweep::SweepSpec;

    #[test]
    fn the_interpolation_criterion_on_constructed_cases() {
        // Noise variance 0.09: the tolerance 0.25 x 0.09 = 0.0225.
        let v = Some(0.09);
        assert_eq!(fits_noise(Some(0.0), v, FIT_TOLERANCE), Some(true));
        assert_eq!(fits_noise(Some(0.0225), v, FIT_TOLERANCE), Some(true));
        assert_eq!(fits_noise(Some(0.0226), v, FIT_TOLERANCE), Some(false));
        assert_eq!(fits_noise(Some(0.09), v, FIT_TOLERANCE), Some(false));
        assert_eq!(fits_noise(Some(0.0009), v, STRICT_TOLERANCE), Some(true));
        assert_eq!(fits_noise(Some(0.001), v, STRICT_TOLERANCE), Some(false));
        assert_eq!(fits_noise(None, v, FIT_TOLERANCE), None);
        assert_eq!(fits_noise(Some(f64::NAN), v, FIT_TOLERANCE), None);
        assert_eq!(
            fits_noise(Some(0.0), Some(0.0), FIT_TOLERANCE),
            None,
            "no noise to fit"
        );
        assert_eq!(fits_noise(Some(0.0), None, FIT_TOLERANCE), None);
    }

    /// The empirical noise variance from the regenerated training set, against the training
    /// MSE of the true function computed by hand from the same data (seed 4), and `sigma = 0`
    /// gives exactly 0.
    #[test]
    fn empirical_noise_is_the_training_mse_of_the_target() {
        let spec = |sigma: f64| RunSpec {
            d: Some(1),
            n: Some(30),
            sigma: Some(sigma),
            target: Some("sine".into()),
            input: Some("interval".into()),
            seed: Some(4),
            ..RunSpec::default()
        };
        let noisy = empirical_noise(&spec(0.3)).unwrap();
        let config = spec(0.3).resolved().check(None).unwrap();
        let crate::spec::DataSource::Generated(data) = &config.data else {
            panic!("generated")
        };
        let p = shatter_core::data::generate(data, 4).unwrap();
        let by_hand = p
            .train
            .x
            .iter()
            .zip(&p.train.y)
            .map(|(x, y)| (y - (std::f64::consts::PI * x).sin()).powi(2))
            .sum::<f64>()
            / 30.0;
        assert!(
            (noisy - by_hand).abs() < 1e-15,
            "{noisy} against {by_hand} (seed 4)"
        );
        assert!(noisy > 0.02 && noisy < 0.2, "{noisy}: about sigma^2 = 0.09");
        assert_eq!(empirical_noise(&spec(0.0).resolved()), Some(0.0));
    }

    /// Constructed interpolation runs: two widths, two seeds; the small steps fit the noise
    /// at sharpness 100 (2/eta = 1000), the large ones sit at 2/eta with train MSE sigma^2.
    #[test]
    fn interpolation_claims_from_constructed_runs() {
        let mut runs = Vec::new();
        for k in [100usize, 300] {
            for seed in 0..2u64 {
                for &eta in &[0.002, 0.05, 0.2, 0.4] {
                    let small = eta < 0.01;
                    let spec = RunSpec {
                        d: Some(1),
                        n: Some(30),
                        sigma: Some(0.3),
                        target: Some("sine".into()),
                        input: Some("interval".into()),
                        width: Some(k),
                        seed: Some(seed),
                        lr: Some(eta),
                        ..RunSpec::default()
                    };
                    runs.push(run_view(
                        spec,
                        Summary {
                            status: "completed".into(),
                            // Empirical noise variances of seeds 0 and 1: 0.067, 0.072.
                            train_mse: Some(if small { 0.01 } else { 0.06 + 0.05 * eta }),
                            test_mse: Some(if small { 0.04 } else { 0.01 }),
                            sharpness: Some(if small { 100.0 } else { 1.9 / eta }),
                            two_over_eta: 2.0 / eta,
                            ..Summary::default()
                        },
                    ));
                }
            }
        }
        let a = interpolation(&runs);
        let row = |q: &str| {
            a.rows
                .iter()
                .find(|r| r.quantity.starts_with(q))
                .unwrap_or_else(|| panic!("no row {q}"))
        };
        use crate::reproduce::analysis::Verdict;
        let small = row("fraction of runs fitting the noise (train MSE <= 0.25 x noise variance) at the smallest");
        assert_eq!(small.measured, "4 of 4");
        // 4 of 4: the Wilson interval [0.51, 1] lies inside [0.5, 1].
        assert_eq!(small.verdict, Verdict::Agrees);
        let large = row(
            "fraction of runs fitting the noise (train MSE <= 0.25 x noise variance) at eta >=",
        );
        assert_eq!(large.measured, "0 of 12");
        // 0 of 12 leaves the upper Wilson bound at 0.24: not yet below 10%.
        assert_eq!(large.verdict, Verdict::Inconclusive);
        // 0.002 / (1/(900 * 0.3)) = 0.54: within a factor 10.
        let c = row("largest eta fitting").claim.as_ref().unwrap();
        assert!((c.estimate - 0.54).abs() < 1e-9, "{}", c.estimate);
        assert_eq!(
            row("test MSE of the runs fitting the noise over the best").verdict,
            Verdict::Agrees
        );
        // Sharpness 100 against 2/0.05 = 40: ratio 2.5.
        let s = row("smallest sharpness").claim.as_ref().unwrap();
        assert!((s.estimate - 2.5).abs() < 1e-9, "{}", s.estimate);
        assert_eq!(row("smallest sharpness").verdict, Verdict::Agrees);
        assert_eq!(
            row("sharpness over 2/eta of the runs fitting").verdict,
            Verdict::Agrees
        );
        assert_eq!(
            row("sharpness over 2/eta of the large-step").verdict,
            Verdict::Agrees
        );
        // 16 runs, residual 0.01 / ~0.07 at the small step, rising from 0.0625 / ~0.07 above.
        assert_eq!(
            row("train MSE over the empirical noise").verdict,
            Verdict::Agrees
        );
    }

    #[test]
    fn spec_parses_expands_and_uses_the_papers_sizes() {
        let points = |text: String| SweepSpec::from_toml(&text, "x").unwrap().points().unwrap();
        let quick = points(spec(Scale::Quick));
        assert_eq!(quick.len(), 2 * 2 * 4, "2 widths x 2 seeds x 4 steps");
        assert!(quick.iter().all(|p| p.config.train.epochs <= 500_000));
        let paper = points(spec(Scale::Paper));
        assert_eq!(
            paper.len(),
            2 * 3 * 3 * 9,
            "2 losses x 3 widths x 3 seeds x 9 steps"
        );
        let widths: std::collections::BTreeSet<usize> =
            paper.iter().map(|p| p.config.shape.width).collect();
        assert_eq!(widths.into_iter().collect::<Vec<_>>(), vec![100, 300, 1000]);
        assert!(paper.iter().all(|p| p.config.data_n() == 30));
        assert!(paper.iter().all(
            |p| p.config.train.lr * p.config.train.epochs as f64 >= 3999.0
                || p.config.train.epochs == 3_000_000
        ));
    }
}
