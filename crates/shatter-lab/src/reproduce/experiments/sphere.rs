//! The `sphere` experiment: inputs on the unit sphere, where the weighted variation norm gives
//! no control, against inputs in the ball (Liang, Qiao, Wang, Parhi 2025, arXiv:2506.20779: the
//! weight function vanishes at the boundary of the support; on the sphere all of the support is
//! boundary).
//!
//! Two measurements. The trained networks' test MSE against `n` per input distribution (GD at
//! a large step, the `cod` setting at d = 3). And, from the data alone, what a flat network needs
//! to interpolate the label noise: every sphere point is isolated by its radial cap, and the
//! network of isolating atoms that adds the noise `y_i - f*(x_i)` at every isolated point has
//! weighted variation norm `sqrt(2) sum |noise_i| / n^2 ~ sqrt(2) E|noise| / n`
//! (`shatter_core::measure::support`): it goes to 0 with `n`, so the flatness bound
//! `|f|_Vg <= lambda_max/2 - 1/2 + (R + 1) sqrt(2 L)` allows interpolating all the noise at any
//! sharpness above `1 + 2 |f|_Vg`. In the ball only the points their radial cap isolates can be
//! fitted that way, a fraction that falls with `n`.

use super::{About, Experiment, Scale};
use crate::figures::{fit_loglog, style as fmt, RatePlot, RateSeries};
use crate::reproduce::analysis::{
    fit_geometry_rates, input_of, loss_of, rate_context, Analysis, Claim, Method, Row, RunView,
};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::{figure, ReportFigure};
use crate::reproduce::models::problem_of;
use crate::reproduce::stats;
use crate::store::Store;
use shatter_core::measure::isolation;
use shatter_core::theory::stable_minima_upper;
use std::collections::BTreeMap;
use std::path::Path;

/// The input dimension of the experiment.
const D: usize = 3;

/// The rate at which the noise-fitting cost falls on the sphere: `sum |noise_i| / n^2` is `n`
/// times a mean of `|noise|` over `n^2`, so `n^(-1)` up to the mean's fluctuation.
const SPHERE_COST_RATE: f64 = 1.0;

/// The rate of the noise-fitting cost counts as the theory's within this distance of 1 (the
/// mean of `|noise|` over `n <= 512` points still moves by a few percent between sample sizes).
const COST_RATE_TOLERANCE: f64 = 0.1;

/// Inputs uniform on the sphere against inputs uniform in the ball.
pub struct Sphere;

const ABOUT: About = About {
    id: "sphere",
    figure: "Liang, Qiao, Wang, Parhi 2025 (arXiv:2506.20779), the role of the data's geometry",
    what: "Test MSE against n for inputs uniform on the sphere S^2 against inputs uniform in the ball B^3 (GD, eta = 0.2, K = 2n or 4n), and the weighted-variation cost of interpolating the label noise with caps that isolate single training points.",
    reported: "The weight function vanishes at the boundary of the support; on the sphere every point is on the boundary, so flatness gives no control: fitting the noise at a point costs sqrt(2)/n^2 per unit residual, and the ball's stable-minima rate 1/(2d+4) has no analogue.",
};

impl Experiment for Sphere {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        claims(runs)
    }
    fn figures(
        &self,
        _store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        let costs = noise_costs(done);
        let mut series = Vec::new();
        for (i, ((loss, input), by_n)) in costs.iter().enumerate() {
            let ns: Vec<f64> = by_n.keys().map(|&n| n as f64).collect();
            series.push(RateSeries {
                label: format!("{input} ({})", fmt::loss_label(loss)),
                ns,
                values: by_n.values().map(|c| median(&c.cost)).collect(),
                spread: Some(by_n.values().map(|c| min_max(&c.cost)).collect()),
                theory_slope: (input == "sphere").then_some(-SPHERE_COST_RATE),
                colour: i,
                arm: usize::from(input != "sphere"),
            });
        }
        if series.is_empty() {
            return Ok(Vec::new());
        }
        let plot = RatePlot {
            title: Some("Weighted-variation cost of interpolating the label noise".into()),
            y_label: Some("|f|_Vg of the isolating atoms".into()),
            series,
            ..RatePlot::default()
        };
        Ok(vec![figure(
            &plot,
            "noise-fitting cost",
            &dir.join("noise_cost"),
            "The weighted variation norm of the network of isolating caps that adds the label noise at every training point its radial cap isolates, against n (median over seeds, bars: range); the dotted line is the sphere's 1/n. On the sphere every point is isolated; in the ball the isolated fraction falls with n, so its cost covers fewer points.".into(),
        )?])
    }
}

fn spec(scale: Scale) -> String {
    let (epochs, width_per_n, ns, seeds) = match scale {
        Scale::Quick => (1500, 2, "[32, 64, 128, 256]", "[0, 1]"),
        Scale::Paper => (20000, 4, "[32, 64, 128, 256, 512]", "[0, 1, 2, 3, 4]"),
    };
    format!(
        r#"name = "sphere-{scale}"
description = "Test MSE against n for inputs on the sphere S^2 against the ball B^3 (GD, eta = 0.2, sigma = 1, linear target)."

[base]
d = {D}
epochs = {epochs}
width_per_n = {width_per_n}
lr = 0.2
weight_decay = 0.0
sigma = 1.0
clip = 50.0
target = "linear"
n_test = 1000
{loss}
[measure]
sharpness_every = 0
test_every = 0
log_every = 100

[grid]
input = ["ball", "sphere"]
n = {ns}
seed = {seeds}
"#,
        loss = scale.papers_loss_base_line()
    )
}

/// The isolation numbers of the runs at one `n`, one entry per seed.
#[derive(Default)]
struct Costs {
    isolated: Vec<f64>,
    cost: Vec<f64>,
}

/// Per (loss, input) and `n`: the isolated fraction and the noise-fitting cost of each run's
/// training set (regenerated from its settings).
fn noise_costs(runs: &[RunView]) -> BTreeMap<(String, String), BTreeMap<usize, Costs>> {
    let mut out: BTreeMap<(String, String), BTreeMap<usize, Costs>> = BTreeMap::new();
    for r in runs {
        let Some(problem) = problem_of(r) else {
            continue;
        };
        let train = &problem.train;
        let Ok(iso) = isolation(train) else {
            continue;
        };
        let noise: Vec<f64> = (0..train.n)
            .map(|i| train.y[i] - problem.target.eval(train.row(i)))
            .collect();
        let Ok(cost) = iso.fitting_cost(&noise) else {
            continue;
        };
        let entry = out
            .entry((loss_of(r), input_of(r)))
            .or_default()
            .entry(train.n)
            .or_default();
        entry.isolated.push(iso.isolated_fraction());
        entry.cost.push(cost);
    }
    out
}

fn median(v: &[f64]) -> f64 {
    stats::median(v).unwrap_or(f64::NAN)
}

fn min_max(v: &[f64]) -> (f64, f64) {
    fmt::min_max(v.iter().copied()).unwrap_or((f64::NAN, f64::NAN))
}

fn claims(runs: &[RunView]) -> Analysis {
    let mut a = Analysis {
        rates: fit_geometry_rates(runs),
        ..Analysis::default()
    };
    for f in &a.rates {
        let ball = f.arm == "ball";
        let theory = ball.then(|| stable_minima_upper(f.d));
        let paper = match theory {
            Some(rate) => format!("stable-minima rate 1/(2d+4) = {}", fmt::format_sig(rate, 3)),
            None => "no rate: flatness does not control fits on the sphere".into(),
        };
        let mut row = Row::context(
            "rate of test MSE ~ n^(-rate)",
            format!("{}, d = {}", f.arm, f.d),
            format!(
                "{} ± {}",
                fmt::format_sig(f.rate, 3),
                fmt::format_sig(f.ci95, 3)
            ),
            paper,
        );
        row.claim = Some(rate_context(f, theory));
        a.rows.push(row);
    }
    let ball = a.rates.iter().find(|f| f.arm == "ball").cloned();
    let sphere = a.rates.iter().find(|f| f.arm == "sphere").cloned();
    if let (Some(ball), Some(sphere)) = (ball, sphere) {
        let diff = ball.rate - sphere.rate;
        let claim = Claim::interval(
            diff,
            Some(stats::difference_interval(
                (ball.rate - ball.ci95, ball.rate + ball.ci95),
                (sphere.rate - sphere.ci95, sphere.rate + sphere.ci95),
            )),
            Method::NonOverlap,
            None,
            (0.0, f64::INFINITY),
        )
        .with_loss(&ball.loss);
        a.rows.push(Row::claim(
            "ball rate minus sphere rate",
            format!("d = {}", ball.d),
            format!(
                "{} against {} (difference {})",
                fmt::format_sig(ball.rate, 3),
                fmt::format_sig(sphere.rate, 3),
                fmt::format_sig(diff, 3)
            ),
            "the ball generalises faster: flatness controls fits inside the ball, not on the sphere",
            "difference above 0",
            claim,
        ));
        a.words.push(format!(
            "Test MSE falls as n^(-{}) in the ball and n^(-{}) on the sphere (d = {}).",
            fmt::format_sig(ball.rate, 3),
            fmt::format_sig(sphere.rate, 3),
            ball.d
        ));
    }
    for ((loss, input), by_n) in noise_costs(runs) {
        let fractions: Vec<f64> = by_n.values().flat_map(|c| c.isolated.clone()).collect();
        let smallest = fractions.iter().copied().fold(f64::INFINITY, f64::min);
        let per_n: Vec<String> = by_n
            .iter()
            .map(|(n, c)| format!("{} at n = {n}", fmt::format_sig(median(&c.isolated), 3)))
            .collect();
        if input == "sphere" {
            a.rows.push(Row::claim(
                "fraction of training points isolated by their radial cap",
                format!("{input}, every n and seed"),
                format!(
                    "smallest {}; {}",
                    fmt::format_sig(smallest, 3),
                    per_n.join(", ")
                ),
                "all: every point of the sphere is on the boundary",
                "the smallest fraction over the runs is 1",
                Claim::point(smallest, Some(1.0), (1.0, 1.0)).with_loss(&loss),
            ));
        } else {
            a.rows.push(
                Row::context(
                    "fraction of training points isolated by their radial cap",
                    input.clone(),
                    per_n.join(", "),
                    "only points near the boundary; fewer as n grows",
                )
                .with_numbers(by_n.iter().map(|(n, c)| {
                    (
                        format!(
                            "fraction of training points isolated by their radial cap, n = {n}"
                        ),
                        Some(median(&c.isolated)),
                    )
                })),
            );
        }
        let ns: Vec<f64> = by_n.keys().map(|&n| n as f64).collect();
        let costs: Vec<f64> = by_n.values().map(|c| median(&c.cost)).collect();
        let costs_text: Vec<String> = by_n
            .iter()
            .map(|(n, c)| format!("{} at n = {n}", fmt::format_sig(median(&c.cost), 3)))
            .collect();
        match (input.as_str(), fit_loglog(&ns, &costs)) {
            ("sphere", Ok(fit)) => {
                let ci = stats::rate_interval(&fit);
                let claim = Claim::interval(
                    -fit.slope,
                    Some(ci),
                    Method::SlopeT(fit.points),
                    Some(SPHERE_COST_RATE),
                    (
                        SPHERE_COST_RATE - COST_RATE_TOLERANCE,
                        SPHERE_COST_RATE + COST_RATE_TOLERANCE,
                    ),
                )
                .with_loss(&loss);
                a.rows.push(Row::claim(
                    "rate of the noise-fitting cost |f|_Vg ~ n^(-rate)",
                    input.clone(),
                    format!(
                        "{}; {}",
                        fmt::format_sig(-fit.slope, 3),
                        costs_text.join(", ")
                    ),
                    "1: sqrt(2) sum |noise| / n^2",
                    &format!("rate within ±{COST_RATE_TOLERANCE} of 1"),
                    claim,
                ));
                if let (Some(&n), Some(&c)) = (ns.last(), costs.last()) {
                    a.words.push(format!(
                        "On the sphere a network that interpolates all the label noise with isolating caps has |f|_Vg = {} at n = {n}: the flatness bound allows it at any sharpness above {} (interpolation makes the loss term 0).",
                        fmt::format_sig(c, 3),
                        fmt::format_sig(1.0 + 2.0 * c, 4)
                    ));
                }
            }
            _ => a.rows.push(
                Row::context(
                    "noise-fitting cost |f|_Vg of the isolating atoms",
                    input.clone(),
                    costs_text.join(", "),
                    "covers the isolated points only",
                )
                .with_numbers(by_n.iter().map(|(n, c)| {
                    (
                        format!("noise-fitting cost |f|_Vg of the isolating atoms, n = {n}"),
                        Some(median(&c.cost)),
                    )
                })),
            ),
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Summary;
    use crate::spec::RunSpec;

    fn view(input: &str, d: usize, n: usize, seed: u64, mse: f64) -> RunView {
        let spec = RunSpec {
            d: Some(d),
            n: Some(n),
            input: Some(input.into()),
            seed: Some(seed),
            ..RunSpec::default()
        }
        .resolved();
        RunView {
            run_id: spec.run_id(),
            spec,
            summary: Summary {
                test_mse: Some(mse),
                status: "completed".into(),
                ..Summary::default()
            },
        }
    }

    #[test]
    fn the_sphere_claims_follow_from_the_data_and_the_rates() {
        let mut runs = Vec::new();
        for input in ["ball", "sphere"] {
            for n in [32usize, 64, 128] {
                for seed in [0u64, 1] {
                    // Ball MSE falls as n^(-0.5), sphere MSE stays flat.
                    let mse = if input == "ball" {
                        (n as f64).powf(-0.5) * (1.0 + 0.01 * seed as f64)
                    } else {
                        0.9 + 0.01 * seed as f64
                    };
                    runs.push(view(input, D, n, seed, mse));
                }
            }
        }
        let a = claims(&runs);
        let find = |q: &str, setting: &str| {
            a.rows
                .iter()
                .find(|r| r.quantity.starts_with(q) && r.setting.starts_with(setting))
                .unwrap_or_else(|| panic!("no row {q}: {:?}", a.rows))
        };
        assert_eq!(
            find("ball rate minus sphere rate", "").verdict.word(),
            "agrees"
        );
        let iso = find("fraction of training points isolated", "sphere");
        assert_eq!(iso.verdict.word(), "agrees", "{iso:?}");
        // In the ball fewer points are isolated as n grows: a context row.
        let ball = find("fraction of training points isolated", "ball");
        assert_eq!(ball.verdict.word(), "", "{ball:?}");
        let rate = find("rate of test MSE", "ball").claim.as_ref().unwrap();
        assert!(
            (rate.estimate - 0.5).abs() < 0.01 && rate.agree.is_none(),
            "{rate:?}"
        );
        let cost = find("rate of the noise-fitting cost", "sphere");
        let c = cost.claim.as_ref().unwrap();
        assert!(
            (c.estimate - 1.0).abs() < 0.2,
            "the cost falls as 1/n: {c:?}"
        );
    }
}
