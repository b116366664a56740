//! The `univariate` experiment: Qiao, Zhang, Singh, Soudry, Wang 2024 (arXiv:2406.06838).

use super::{About, Experiment, Scale};
use crate::figures::{ComparisonRow, TrainingCurves, UnivariateFit};
use crate::io::ModelArrays;
use crate::reproduce::analysis::{
    lr, num, numbers, trend_row, verdict, Analysis, Claim, Method, Row, RunView, Verdict,
};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::{bars, figure, training_series, ReportFigure};
use crate::reproduce::models::{logit, univariate_model_and_problem};
use crate::reproduce::scale::toml_list;
use crate::store::Store;
use std::path::Path;

/// About 30 noisy points of sin(pi x) on [-1, 1] fitted by a univariate ReLU network, step sizes from well below 1/(n^2 sigma) up to 0.4.
pub struct Univariate;

const ABOUT: About = About {
    id: "univariate",
    figure: "Qiao, Zhang, Singh, Soudry, Wang 2024 (arXiv:2406.06838)",
    what: "About 30 noisy points of sin(pi x) on [-1, 1] fitted by a univariate ReLU network, step sizes from well below 1/(n^2 sigma) up to 0.4.",
    reported: "Larger eta: fewer linear pieces, knots away from data points, sparser output weights; sharpness tracks 2/eta; U-shaped test MSE against eta; interpolation only for eta ~ 1/(n^2 sigma).",
};

impl Experiment for Univariate {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        univariate(runs)
    }
    fn with_models(&self, store: &Store, runs: &[RunView], a: Analysis) -> Analysis {
        significant_knots(store, runs, a)
    }
    fn figures(
        &self,
        store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        draw_univariate(store, done, dir)
    }
}

/// A run interpolates when its mean squared training residual is below this fraction of the
/// noise variance `sigma^2`: it has fitted 99% of the label noise.
pub const INTERPOLATION_FRACTION: f64 = 0.01;

/// Step sizes of `univariate`: two below the interpolation threshold `1/(n^2 sigma)` of the
/// quick setting (n = 30, sigma = 0.3 gives 0.0037), then the 2024 paper's range 0.01 to 0.4,
/// and 0.8 to see the right arm of the U-shaped test MSE.
const UNIVARIATE_LRS: [f64; 9] = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8];

/// The sweep spec of `univariate` at `scale`.
fn spec(scale: Scale) -> String {
    // Each run gets the same time eta * epochs (capped below), so small steps are not simply
    // stopped early.
    let (width, budget, cap) = match scale {
        Scale::Quick => (100, 2000.0, 400_000),
        Scale::Paper => (1000, 10000.0, 2_000_000),
    };
    let epochs: Vec<usize> = UNIVARIATE_LRS
        .iter()
        .map(|lr| ((budget / lr) as usize).min(cap))
        .collect();
    let every =
        |parts: usize| -> Vec<usize> { epochs.iter().map(|e| (e / parts).max(1)).collect() };
    format!(
        r#"name = "univariate-{scale}"
description = "About 30 noisy points of sin(pi x) on [-1, 1]: pieces, knots, sharpness and test MSE against the step size (eta x epochs = {budget}, at most {cap} epochs)."

[base]
d = 1
n = 30
width = {width}
input = "interval"
target = "sine"
sigma = 0.3
clip = 50.0
n_test = 1000

[grid]
{losses}
[[zip]]
lr = [{lrs}]
epochs = [{epochs}]
sharpness_every = [{sharp}]
test_every = [{test}]
log_every = [{log}]
"#,
        lrs = toml_list(&UNIVARIATE_LRS),
        epochs = toml_list(&epochs),
        sharp = toml_list(&every(50)),
        test = toml_list(&every(50)),
        log = toml_list(&every(500)),
        losses = scale.both_losses_grid_line(),
    )
}

fn by_lr(runs: &[RunView]) -> Vec<&RunView> {
    let mut v: Vec<&RunView> = runs.iter().collect();
    v.sort_by(|a, b| lr(a).total_cmp(&lr(b)));
    v
}

/// Whether a univariate run interpolates: train MSE `<= INTERPOLATION_FRACTION * sigma^2`.
fn interpolates(r: &RunView) -> Option<bool> {
    let sigma = r.spec.sigma.unwrap_or(1.0);
    r.summary
        .train_mse
        .map(|m| m <= INTERPOLATION_FRACTION * sigma * sigma)
}

/// The 2024 paper's interpolation threshold `1 / (n^2 sigma)`.
pub(super) fn interpolation_threshold(r: &RunView) -> f64 {
    let n = r.spec.n.unwrap_or(1) as f64;
    1.0 / (n * n * r.spec.sigma.unwrap_or(1.0))
}

/// The comparison table of `univariate` (Qiao et al. 2024; SCIENCE.md section 7): per step
/// size the pieces, knots, sharpness and errors, then one row per claim.
fn univariate(runs: &[RunView]) -> Analysis {
    let mut a = Analysis::default();
    let v = by_lr(runs);
    if v.is_empty() {
        return a;
    }
    for r in &v {
        let s = &r.summary;
        let sigma = r.spec.sigma.unwrap_or(1.0);
        a.rows.push(Row {
            parts: numbers([
                ("pieces inside", s.pieces_inside.map(|p| p as f64)),
                ("sharpness", s.sharpness),
                ("2/eta", Some(s.two_over_eta)),
                ("test MSE", s.test_mse),
                (
                    "train MSE over sigma^2",
                    s.train_mse.map(|m| m / (sigma * sigma)),
                ),
            ]),
            quantity: "pieces inside / sharpness (2/eta) / test MSE / train MSE over sigma^2"
                .into(),
            setting: format!("eta = {}, {} epochs", lr(r), r.spec.epochs.unwrap_or(0)),
            measured: format!(
                "{} / {} ({}) / {} / {}",
                s.pieces_inside.map_or("-".into(), |p| p.to_string()),
                num(s.sharpness),
                num(Some(s.two_over_eta)),
                num(s.test_mse),
                num(s.train_mse.map(|m| m / (sigma * sigma)))
            ),
            paper: "fewer pieces and sharpness ~ 2/eta as eta grows".into(),
            verdict: Verdict::Context,
            criterion: String::new(),
            claim: None,
        });
    }
    let lrs: Vec<f64> = v.iter().map(|r| lr(r)).collect();
    let col = |f: &dyn Fn(&RunView) -> Option<f64>| -> Vec<f64> {
        v.iter().map(|r| f(r).unwrap_or(f64::NAN)).collect()
    };
    let pieces = col(&|r| r.summary.pieces_inside.map(|p| p as f64));
    a.rows.push(trend_row(
        "linear pieces inside the data range against eta",
        "eta",
        &lrs,
        &pieces,
        false,
        "fewer pieces for larger eta",
    ));
    // Sharpness tracks 2/eta: it stays below the threshold (stability) and follows it.
    let sharp = col(&|r| r.summary.sharpness);
    let edges = col(&|r| Some(r.summary.two_over_eta));
    let ratios: Vec<f64> = sharp.iter().zip(&edges).map(|(s, e)| s / e).collect();
    let worst = ratios
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(f64::NAN, f64::max);
    // Qiao et al. 2024: sharpness stays at or below 2/eta (15% slack for the oscillation)
    // and follows it as eta changes; two claims, the largest ratio and the correlation.
    a.rows.push(Row::claim(
        "largest sharpness / (2/eta) over the step sizes",
        "all eta",
        format!(
            "sharpness / (2/eta) from {} to {}",
            num(ratios
                .iter()
                .copied()
                .filter(|x| x.is_finite())
                .reduce(f64::min)),
            num(Some(worst))
        ),
        "at most 1: stable (edge of stability)",
        "every ratio <= 1.15",
        Claim::point(worst, Some(1.0), (0.0, 1.15)),
    ));
    a.rows.push(trend_row(
        "sharpness against 2/eta",
        "2/eta",
        &edges,
        &sharp,
        true,
        "tracks 2/eta (edge of stability)",
    ));
    // U shape of the test MSE: the minimum is interior.
    let mse = col(&|r| r.summary.test_mse);
    let best = mse
        .iter()
        .enumerate()
        .filter(|(_, m)| m.is_finite())
        .min_by(|x, y| x.1.total_cmp(y.1))
        .map(|(i, _)| i);
    if let Some(i) = best {
        let interior = i > 0 && i + 1 < mse.len();
        a.rows.push(Row {
            parts: Vec::new(),
            quantity: "test MSE against eta".into(),
            setting: "all eta".into(),
            measured: format!(
                "minimum {} at eta = {} (ends: {} at eta = {}, {} at eta = {})",
                num(Some(mse[i])),
                lrs[i],
                num(mse.first().copied()),
                lrs[0],
                num(mse.last().copied()),
                lrs[lrs.len() - 1]
            ),
            paper: "U-shaped: the best eta is interior".into(),
            verdict: verdict(interior),
            criterion:
                "minimum at neither end of the eta range; no interval: the point estimate decides"
                    .into(),
            claim: None,
        });
        // The best eta is one of the interior step sizes (none with fewer than three).
        if lrs.len() >= 3 {
            let claim = Claim::point(lrs[i], None, (lrs[1], lrs[lrs.len() - 2]));
            let last = a.rows.len() - 1;
            a.rows[last].verdict = claim.verdict();
            a.rows[last].claim = Some(claim);
        } else {
            let last = a.rows.len() - 1;
            a.rows[last].verdict = Verdict::Context;
            a.rows[last].criterion = "fewer than three step sizes: no interior".into();
        }
    }
    let distance = col(&|r| r.summary.median_knot_distance);
    a.rows.push(trend_row(
        "median distance from a knot to the nearest data point against eta",
        "eta",
        &lrs,
        &distance,
        true,
        "knots move away from data points as eta grows",
    ));
    let sparse = col(&|r| r.summary.frac_small_output_weights);
    a.rows.push(trend_row(
        "fraction of output weights below 1e-3 max |v| against eta",
        "eta",
        &lrs,
        &sparse,
        true,
        "sparser output weights as eta grows",
    ));
    // Interpolation only for small steps.
    let threshold = interpolation_threshold(v[0]);
    let largest = v
        .iter()
        .filter(|r| interpolates(r) == Some(true))
        .map(|r| lr(r))
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let far = 10.0 * threshold;
    a.rows.push(Row {
        parts: Vec::new(),
        quantity: format!(
            "largest eta that interpolates (train MSE <= {} sigma^2)",
            INTERPOLATION_FRACTION
        ),
        setting: format!(
            "n = {}, sigma = {}",
            v[0].spec.n.unwrap_or(0),
            v[0].spec.sigma.unwrap_or(0.0)
        ),
        measured: largest.map_or_else(
            || format!("none (smallest eta {})", lrs[0]),
            |x| format!("eta = {x}"),
        ),
        paper: format!("~ 1/(n^2 sigma) = {}", num(Some(threshold))),
        verdict: verdict(largest.is_none_or(|x| x <= far)),
        criterion: format!(
            "no run with eta > 10/(n^2 sigma) = {} interpolates (measured 0 when none does); {}",
            num(Some(far)),
            Method::Point.describe()
        ),
        // Qiao et al. 2024: only steps below ~1/(n^2 sigma) interpolate; a factor 10 slack.
        claim: Some(Claim::point(
            largest.unwrap_or(0.0),
            Some(threshold),
            (0.0, far),
        )),
    });
    a.words.push(format!(
        "Pieces inside the data go from {} at eta = {} to {} at eta = {}; the test MSE is smallest at eta = {}; {}.",
        num(pieces.first().copied()),
        lrs[0],
        num(pieces.last().copied()),
        lrs[lrs.len() - 1],
        best.map_or("-".to_string(), |i| lrs[i].to_string()),
        match largest {
            Some(x) => format!("the largest step that interpolates (train MSE <= {INTERPOLATION_FRACTION} sigma^2) is {x}, against 1/(n^2 sigma) = {}", num(Some(threshold))),
            None => format!("no step interpolates (train MSE <= {INTERPOLATION_FRACTION} sigma^2); 1/(n^2 sigma) = {}", num(Some(threshold))),
        }
    ));
    a
}

/// Knots strictly inside the data range of neurons whose amplitude `|v_k w_k|` exceeds
/// `SIGNIFICANT_AMPLITUDE` of the largest, merged when closer than `1e-3` of the range: the
/// bends one can see, unlike `pieces_inside`, which counts every kink however small.
fn count_significant_knots(model: &ModelArrays, lo: f64, hi: f64) -> usize {
    let amp: Vec<f64> = model
        .w
        .iter()
        .zip(&model.v)
        .map(|(w, v)| (w * v).abs())
        .collect();
    let top = amp.iter().copied().fold(0.0, f64::max);
    let mut knots: Vec<f64> = model
        .w
        .iter()
        .zip(&model.b)
        .zip(&amp)
        .filter(|((w, _), a)| **w != 0.0 && **a > SIGNIFICANT_AMPLITUDE * top)
        .map(|((w, b), _)| -b / w)
        .filter(|k| *k > lo && *k < hi)
        .collect();
    knots.sort_by(f64::total_cmp);
    let tol = 1e-3 * (hi - lo);
    let mut count = 0;
    let mut last = f64::NEG_INFINITY;
    for k in knots {
        if k - last > tol {
            count += 1;
        }
        last = k;
    }
    count
}

/// Neurons below this fraction of the largest amplitude are not counted as significant knots.
const SIGNIFICANT_AMPLITUDE: f64 = 0.01;

/// Adds the trend of the significant knots (read from the stored models) against eta.
fn significant_knots(store: &Store, runs: &[RunView], mut a: Analysis) -> Analysis {
    let v = by_lr(runs);
    let mut xs = Vec::new();
    let mut counts = Vec::new();
    let mut measured = Vec::new();
    for r in v.iter().filter(|r| r.summary.status == "completed") {
        let Some((model, problem)) = univariate_model_and_problem(store, r) else {
            continue;
        };
        let x = &problem.train.x;
        let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let c = count_significant_knots(&model, lo, hi);
        xs.push(lr(r));
        counts.push(c as f64);
        measured.push(format!("{c} at eta = {}", lr(r)));
    }
    if xs.len() >= 2 {
        let mut row = trend_row(
            "significant knots inside the data (amplitude > 1% of the largest) against eta",
            "eta",
            &xs,
            &counts,
            false,
            "fewer knots for larger eta",
        );
        row.measured = format!("{}; {}", row.measured, measured.join(", "));
        a.rows.push(row);
    }
    a
}

/// The data, the target and the learned function of one run, with its significant knots.
fn fit_figure(store: &Store, r: &RunView) -> Option<UnivariateFit> {
    let (model, problem) = univariate_model_and_problem(store, r)?;
    let xs = &problem.train.x;
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (a, b) = (lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo));
    let grid: Vec<f64> = (0..=800).map(|i| a + (b - a) * i as f64 / 800.0).collect();
    let amplitude: Vec<f64> = model
        .w
        .iter()
        .zip(&model.v)
        .map(|(w, v)| (w * v).abs())
        .collect();
    let top = amplitude.iter().copied().fold(0.0, f64::max);
    let knots = model
        .w
        .iter()
        .zip(&model.b)
        .zip(&amplitude)
        .filter(|((w, _), amp)| **w != 0.0 && **amp > SIGNIFICANT_AMPLITUDE * top)
        .map(|((w, b), _)| -b / w)
        .collect();
    Some(UnivariateFit {
        title: Some(format!(
            "eta = {}: {} pieces inside the data, test MSE {}",
            lr(r),
            r.summary
                .pieces_inside
                .map_or("-".into(), |p| p.to_string()),
            num(r.summary.test_mse)
        )),
        data: xs
            .iter()
            .copied()
            .zip(problem.train.y.iter().copied())
            .collect(),
        truth: Some(
            grid.iter()
                .map(|&x| (x, problem.target.eval(&[x])))
                .collect(),
        ),
        learned: grid.iter().map(|&x| (x, logit(&model, x))).collect(),
        knots,
    })
}

/// The figures of `univariate`: the fits at the smallest and largest eta, pieces, test MSE and
/// sharpness against eta, and training curves at three step sizes.
fn draw_univariate(
    store: &Store,
    done: &[RunView],
    dir: &Path,
) -> Result<Vec<ReportFigure>, ReproduceError> {
    let mut figs = Vec::new();
    let v = by_lr(done);
    let (Some(first), Some(last)) = (v.first(), v.last()) else {
        return Ok(figs);
    };
    for (r, stem) in [(first, "fit_smallest_eta"), (last, "fit_largest_eta")] {
        if let Some(fit) = fit_figure(store, r) {
            figs.push(figure(
                &fit,
                "univariate fit",
                &dir.join(stem),
                format!("The noisy data, sin(pi x), and the network learned with eta = {}; triangles mark the knots -b_k/w_k of neurons whose amplitude |v_k w_k| exceeds 1% of the largest.", lr(r)),
            )?);
        }
    }
    let label = |r: &RunView| format!("eta={}", lr(r));
    let panels = [
        (
            "pieces",
            "Linear pieces inside the data range against eta",
            "pieces",
            v.iter()
                .map(|r| ComparisonRow {
                    label: label(r),
                    measured: r.summary.pieces_inside.map_or(f64::NAN, |p| p as f64),
                    paper: None,
                })
                .collect::<Vec<_>>(),
            "Linear pieces of the learned function inside the data range, per step size (paper: fewer for larger eta).",
        ),
        (
            "test_mse_against_eta",
            "Test MSE against eta (against the noiseless target)",
            "test MSE",
            v.iter()
                .map(|r| ComparisonRow {
                    label: label(r),
                    measured: r.summary.test_mse.unwrap_or(f64::NAN),
                    paper: None,
                })
                .collect(),
            "Test MSE per step size (paper: U-shaped).",
        ),
        (
            "sharpness_against_eta",
            "Sharpness at the end beside 2/eta",
            "top Hessian eigenvalue",
            v.iter()
                .map(|r| ComparisonRow {
                    label: label(r),
                    measured: r.summary.sharpness.unwrap_or(f64::NAN),
                    paper: Some(r.summary.two_over_eta),
                })
                .collect(),
            "Final sharpness (measured bars) beside the stability threshold 2/eta (the paper's bars).",
        ),
    ];
    for (stem, title, y, rows, caption) in panels {
        if let Some(cmp) = bars(title, y, rows) {
            figs.push(figure(&cmp, title, &dir.join(stem), caption.into())?);
        }
    }
    // Training curves with sharpness at the smallest, a middle and the largest step.
    let picks = [0, v.len() / 2, v.len() - 1];
    let mut seen = Vec::new();
    for i in picks {
        if seen.contains(&i) {
            continue;
        }
        seen.push(i);
        let r = v[i];
        if let Some(series) = training_series(store, r, format!("eta={}", lr(r)))? {
            let curves = TrainingCurves {
                title: Some(format!(
                    "Training at eta = {}: loss, test MSE and sharpness against 2/eta",
                    lr(r)
                )),
                series: vec![series],
            };
            figs.push(figure(
                &curves,
                "training curves",
                &dir.join(format!("univariate_training_{i}")),
                format!(
                    "Train loss, test MSE and sharpness with its 2/eta = {} line at eta = {}.",
                    num(Some(r.summary.two_over_eta)),
                    lr(r)
                ),
            )?);
        }
    }
    Ok(figs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::analyse;
    use crate::reproduce::analysis::testing::completed;
    use crate::run::Summary;
    use crate::spec::RunSpec;

    /// Synthetic univariate runs that follow the 2024 paper: pieces fall and knots move away
    /// with eta, sharpness sits at 2/eta, the MSE is U-shaped, and only the smallest step
    /// (below 1/(n^2 sigma)) interpolates.
    #[test]
    fn univariate_claims_are_read_from_synthetic_runs() {
        let runs: Vec<RunView> = UNIVARIATE_LRS
            .iter()
            .enumerate()
            .map(|(i, &eta)| {
                completed(
                    RunSpec {
                        d: Some(1),
                        n: Some(30),
                        sigma: Some(0.3),
                        lr: Some(eta),
                        ..RunSpec::default()
                    },
                    Summary {
                        pieces_inside: Some(30 - 3 * i),
                        sharpness: Some(0.95 * 2.0 / eta),
                        two_over_eta: 2.0 / eta,
                        test_mse: Some(0.01 + (i as f64 - 4.0).powi(2) * 0.01),
                        train_mse: Some(if i == 0 { 1e-4 } else { 0.05 }),
                        median_knot_distance: Some(0.01 * (i + 1) as f64),
                        frac_small_output_weights: Some(0.1 * i as f64),
                        ..Summary::default()
                    },
                )
            })
            .collect();
        let a = analyse(&Univariate, &runs);
        let claims: Vec<&Row> = a
            .rows
            .iter()
            .filter(|r| r.verdict != Verdict::Context)
            .collect();
        // Seven claims: the sharpness check is two (largest ratio, correlation with 2/eta).
        assert_eq!(claims.len(), 7, "{:?}", a.rows);
        for r in &claims {
            assert_eq!(r.verdict, Verdict::Agrees, "{r:?}");
        }
        let interp = claims
            .iter()
            .find(|r| r.quantity.starts_with("largest eta"))
            .unwrap();
        assert_eq!(interp.measured, "eta = 0.002");
        // A run far above the threshold that interpolates contradicts the paper.
        let mut bad = runs.clone();
        bad[8].summary.train_mse = Some(1e-5);
        let a = univariate(&bad);
        let interp = a
            .rows
            .iter()
            .find(|r| r.quantity.starts_with("largest eta"))
            .unwrap();
        assert_eq!(interp.verdict, Verdict::Differs, "{interp:?}");
    }
}
