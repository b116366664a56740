//! The `univariate-rate` experiment: Qiao, Zhang, Singh, Soudry, Wang 2024
//! (arXiv:2406.06838), the interior MSE rate `n^(-4/5)` of GD against kernel ridge regression.

use super::{About, Experiment, Scale};
use crate::figures::{fit_loglog, RatePlot, RateSeries};
use crate::reproduce::analysis::{is_krr, num, Analysis, Claim, Method, Row, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::{figure, ReportFigure};
use crate::reproduce::scale::toml_list;
use crate::reproduce::stats;
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::Path;

/// Test MSE inside [-0.9, 0.9] against n for a piecewise-linear target: GD at a fixed large eta against kernel ridge regression on the same data.
pub struct UnivariateRate;

const ABOUT: About = About {
    id: "univariate-rate",
    figure: "Qiao, Zhang, Singh, Soudry, Wang 2024 (arXiv:2406.06838), interior MSE rate",
    what: "Test MSE inside [-0.9, 0.9] against n (32 to 1024) for a piecewise-linear target with sigma = 0.5: GD at eta = 0.2 against kernel ridge regression (NTK, Laplace) on the same data.",
    reported: "Inside the data support the MSE of stable minima is O~(n^(-4/5)); no kernel ridge regression does better than n^(-3/4) on the class.",
};

impl Experiment for UnivariateRate {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        rate(runs)
    }
    fn figures(
        &self,
        _store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        draw_rate(done, dir)
    }
}

/// The fixed step size of `univariate-rate`: large (the MSE of `univariate` is smallest in
/// this range) and stable at every n of the sweep.
pub const RATE_LR: f64 = 0.2;

/// The sweep spec of `univariate-rate`: the piecewise-linear target (kinks at -1/2, 0, 1/2,
/// inside the interior), n over a decade or more, GD at `RATE_LR` against kernel ridge
/// regression (NTK and Laplace kernels) on the same data (same seeds).
fn spec(scale: Scale) -> String {
    let (ns, seeds, width, epochs): (&[usize], &[u64], usize, usize) = match scale {
        Scale::Quick => (&[32, 64, 128, 256, 512], &[0, 1, 2], 200, 5000),
        Scale::Paper => (
            &[32, 64, 128, 256, 512, 1024],
            &[0, 1, 2, 3, 4],
            1000,
            20000,
        ),
    };
    format!(
        r#"name = "univariate-rate-{scale}"
description = "Interior test MSE (on [-0.9, 0.9]) against n for the piecewise-linear target, sigma = 0.5: GD at eta = {RATE_LR} (K = {width}, {epochs} epochs) against kernel ridge regression (NTK, Laplace) on the same data."

[base]
d = 1
input = "interval"
target = "piecewise"
sigma = 0.5
clip = 50.0
n_test = 4000
lr = {RATE_LR}
width = {width}
epochs = {epochs}

[measure]
sharpness_every = 0
test_every = {epochs}
log_every = {log}

[grid]
{losses}n = [{ns}]
seed = [{seeds}]

[[zip]]
model = ["network", "krr", "krr"]
kernel = ["ntk", "ntk", "laplace"]
"#,
        ns = toml_list(ns),
        seeds = toml_list(seeds),
        log = epochs / 50,
        losses = scale.both_losses_grid_line(),
    )
}

/// The paper's upper bound: interior MSE `O~(n^(-4/5))`.
pub const GD_INTERIOR_RATE: f64 = 0.8;

/// The kernel lower bound: no kernel ridge regression beats `n^(-3/4)` on the class.
pub const KRR_RATE: f64 = 0.75;

/// Agreement with an upper bound `n^(-4/5)` up to logarithmic factors at these n: a factor
/// `log n` lowers the apparent slope by `1 / ln n`, about 0.2 at the sweep's geometric-mean
/// n (ln 180 = 5.2), so rates from 0.6 up agree.
pub const GD_RATE_SLACK: f64 = 0.2;

/// The arm of a run in `univariate-rate`: `GD` or `KRR <kernel>`.
fn rate_arm(r: &RunView) -> String {
    if is_krr(r) {
        format!("KRR {}", r.spec.kernel.as_deref().unwrap_or("ntk"))
    } else {
        "GD".into()
    }
}

/// A fitted rate of one arm: every run's `(n, metric)` on log-log axes.
#[derive(Clone, Debug, PartialEq)]
pub struct ArmRate {
    /// `GD` or `KRR <kernel>`.
    pub arm: String,
    /// Minus the least-squares slope of log metric against log n over every run.
    pub rate: f64,
    /// Its 95% t-interval (infinite with two points).
    pub ci: (f64, f64),
    /// Runs in the fit.
    pub points: usize,
    /// Distinct n.
    pub sizes: usize,
    /// Sample sizes, the median over seeds at each, and the quartiles (for the figure).
    pub ns: Vec<f64>,
    /// Medians over seeds.
    pub medians: Vec<f64>,
    /// Quartiles over seeds.
    pub spread: Vec<(f64, f64)>,
}

/// The rate of `metric` against n per arm, fitted by least squares on `(ln n, ln metric)` of
/// every run (seeds as separate points), so the t-interval of the slope carries the
/// seed-to-seed spread. Runs without a finite positive metric are left out; an arm with fewer
/// than two distinct n has no fit.
pub fn arm_rates(runs: &[RunView], metric: fn(&RunView) -> Option<f64>) -> Vec<ArmRate> {
    let mut arms: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.summary.status == "completed") {
        if let Some(m) = metric(r).filter(|m| m.is_finite() && *m > 0.0) {
            arms.entry(rate_arm(r))
                .or_default()
                .push((r.spec.n.unwrap_or(0) as f64, m));
        }
    }
    let mut out = Vec::new();
    for (arm, pts) in arms {
        let ns: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let vals: Vec<f64> = pts.iter().map(|p| p.1).collect();
        let Ok(fit) = fit_loglog(&ns, &vals) else {
            continue;
        };
        let mut by_n: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        for (n, m) in &pts {
            by_n.entry(*n as u64).or_default().push(*m);
        }
        out.push(ArmRate {
            arm,
            rate: -fit.slope,
            ci: stats::rate_interval(&fit),
            points: pts.len(),
            sizes: by_n.len(),
            ns: by_n.keys().map(|&n| n as f64).collect(),
            medians: by_n
                .values()
                .map(|v| stats::median(v).unwrap_or(f64::NAN))
                .collect(),
            spread: by_n
                .values()
                .map(|v| {
                    (
                        stats::quantile(v, 0.25).unwrap_or(f64::NAN),
                        stats::quantile(v, 0.75).unwrap_or(f64::NAN),
                    )
                })
                .collect(),
        });
    }
    out
}

fn interior(r: &RunView) -> Option<f64> {
    r.summary.interior_test_mse
}

fn whole(r: &RunView) -> Option<f64> {
    r.summary.test_mse
}

/// The comparison table of `univariate-rate`: the interior rate of GD against 4/5, of each
/// kernel against 3/4, GD against the best kernel, and the whole-interval rates as context.
fn rate(runs: &[RunView]) -> Analysis {
    let mut a = Analysis::default();
    // The report puts the loss convention in front of the setting when there are several.
    let setting = |arm: &str| arm.to_string();
    let fits = arm_rates(runs, interior);
    let describe = |f: &ArmRate| {
        format!(
            "{} [{}, {}] over {} runs at {} sizes",
            num(Some(f.rate)),
            num(Some(f.ci.0)),
            num(Some(f.ci.1)),
            f.points,
            f.sizes
        )
    };
    let gd = fits.iter().find(|f| f.arm == "GD");
    if let Some(g) = gd {
        a.rows.push(Row::claim(
            "rate of the interior test MSE ~ n^(-rate), GD at a fixed large eta",
            setting(&format!("GD eta = {RATE_LR}")),
            describe(g),
            "upper bound O~(n^(-4/5)) inside the support",
            &format!("rate at least 4/5 - {GD_RATE_SLACK} (a log n factor at these n)"),
            Claim::interval(
                g.rate,
                Some(g.ci),
                Method::SlopeT(g.sizes),
                Some(GD_INTERIOR_RATE),
                (GD_INTERIOR_RATE - GD_RATE_SLACK, f64::INFINITY),
            ),
        ));
    }
    let kernels: Vec<&ArmRate> = fits.iter().filter(|f| f.arm.starts_with("KRR")).collect();
    for k in &kernels {
        a.rows.push(Row::claim(
            "rate of the interior test MSE ~ n^(-rate), kernel ridge regression",
            setting(&k.arm),
            describe(k),
            "no kernel beats n^(-3/4) on the class",
            "rate at most 3/4 + 0.1 (the bound is for the worst target of the class)",
            Claim::interval(
                k.rate,
                Some(k.ci),
                Method::SlopeT(k.sizes),
                Some(KRR_RATE),
                (f64::NEG_INFINITY, KRR_RATE + 0.1),
            ),
        ));
    }
    if let (Some(g), Some(best)) = (gd, kernels.iter().max_by(|x, y| x.rate.total_cmp(&y.rate))) {
        let diff = stats::difference_interval(g.ci, best.ci);
        a.rows.push(Row::claim(
            "GD interior rate minus the best kernel's",
            setting(&format!("GD against {}", best.arm)),
            num(Some(g.rate - best.rate)),
            "GD (4/5) beats every kernel (3/4)",
            "difference above 0",
            Claim::interval(
                g.rate - best.rate,
                Some(diff),
                Method::NonOverlap,
                Some(GD_INTERIOR_RATE - KRR_RATE),
                (0.0, f64::INFINITY),
            ),
        ));
    }
    for f in arm_rates(runs, whole) {
        let mut row = Row::context(
            "rate of the test MSE on the whole interval (context: the bound is for the interior)",
            setting(&f.arm),
            describe(&f),
            "near the ends the weight g vanishes: no 4/5 there",
        );
        row.claim = Some(Claim::context(
            f.rate,
            Some(f.ci),
            Method::SlopeT(f.sizes),
            None,
        ));
        a.rows.push(row);
    }
    if let Some(g) = gd {
        a.words.push(format!(
            "Inside [-0.9, 0.9] the GD test MSE falls as n^(-{}) (95% interval [{}, {}]); {}.",
            num(Some(g.rate)),
            num(Some(g.ci.0)),
            num(Some(g.ci.1)),
            kernels
                .iter()
                .map(|k| format!("{} as n^(-{})", k.arm, num(Some(k.rate))))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    a
}

/// The figure of `univariate-rate`: interior test MSE against n for GD and the kernels, with
/// the 4/5 and 3/4 reference slopes.
fn draw_rate(done: &[RunView], dir: &Path) -> Result<Vec<ReportFigure>, ReproduceError> {
    let fits = arm_rates(done, interior);
    if fits.is_empty() {
        return Ok(Vec::new());
    }
    let series: Vec<RateSeries> = fits
        .iter()
        .enumerate()
        .map(|(i, f)| RateSeries {
            label: format!("{} interior", f.arm),
            ns: f.ns.clone(),
            values: f.medians.clone(),
            spread: Some(f.spread.clone()),
            theory_slope: Some(if f.arm == "GD" {
                -GD_INTERIOR_RATE
            } else {
                -KRR_RATE
            }),
            colour: i,
            arm: usize::from(f.arm != "GD"),
        })
        .collect();
    let plot = RatePlot {
        title: Some("Interior test MSE (x in [-0.9, 0.9]) against n".into()),
        y_label: Some("interior test MSE".into()),
        series,
        baselines: Vec::new(),
        baseline_label: String::new(),
    };
    let rates = fits
        .iter()
        .map(|f| {
            format!(
                "{} {} [{}, {}]",
                f.arm,
                num(Some(f.rate)),
                num(Some(f.ci.0)),
                num(Some(f.ci.1))
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    Ok(vec![figure(
        &plot,
        "interior rate",
        &dir.join("interior_rate"),
        format!(
            "Interior test MSE against n (log-log), medians over seeds with quartile bars and the least-squares line through the medians (legend); dotted: the paper's slopes, -4/5 for GD and -3/4 for the kernels. Rates fitted over every run with 95% t-intervals: {rates}."
        ),
    )?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::analysis::testing::run_view;
    use crate::run::Summary;
    use crate::spec::{RunSpec, MODEL_KRR};
    use crate::sweep::SweepSpec;

    /// Synthetic runs with a known slope: interior MSE = 2 n^(-0.8) (GD) and 3 n^(-0.6) (a
    /// kernel), times a seed-dependent factor that averages out; the fitted rates recover
    /// 0.8 and 0.6 inside their intervals and the verdicts follow.
    #[test]
    fn the_rate_estimator_recovers_a_known_slope() {
        let mut runs = Vec::new();
        for (i, n) in [32usize, 64, 128, 256, 512].iter().enumerate() {
            for seed in 0..3u64 {
                let wobble = [0.9, 1.0, 1.1][((seed as usize) + i) % 3];
                for (krr, c, rate) in [(false, 2.0, 0.8), (true, 3.0, 0.6)] {
                    let spec = RunSpec {
                        n: Some(*n),
                        seed: Some(seed),
                        lr: Some(RATE_LR),
                        model: krr.then(|| MODEL_KRR.to_string()),
                        kernel: krr.then(|| "laplace".to_string()),
                        ..RunSpec::default()
                    };
                    let m = c * (*n as f64).powf(-rate) * wobble;
                    runs.push(run_view(
                        spec,
                        Summary {
                            status: "completed".into(),
                            interior_test_mse: Some(m),
                            test_mse: Some(2.0 * m),
                            ..Summary::default()
                        },
                    ));
                }
            }
        }
        let fits = arm_rates(&runs, interior);
        assert_eq!(fits.len(), 2);
        let gd = fits.iter().find(|f| f.arm == "GD").unwrap();
        let krr = fits.iter().find(|f| f.arm == "KRR laplace").unwrap();
        for (f, want) in [(gd, 0.8), (krr, 0.6)] {
            assert!((f.rate - want).abs() < 0.03, "{}: {}", f.arm, f.rate);
            assert!(f.ci.0 < want && want < f.ci.1, "{}: {:?}", f.arm, f.ci);
            assert_eq!((f.points, f.sizes), (15, 5));
        }
        let a = rate(&runs);
        let verdict = |q: &str| {
            a.rows
                .iter()
                .find(|r| r.quantity.starts_with(q))
                .map(|r| r.verdict)
                .unwrap_or_else(|| panic!("no row {q}"))
        };
        use crate::reproduce::analysis::Verdict;
        assert_eq!(
            verdict("rate of the interior test MSE ~ n^(-rate), GD"),
            Verdict::Agrees
        );
        assert_eq!(
            verdict("rate of the interior test MSE ~ n^(-rate), kernel"),
            Verdict::Agrees
        );
        assert_eq!(verdict("GD interior rate minus"), Verdict::Agrees);
    }

    #[test]
    fn spec_parses_expands_and_uses_the_papers_sizes() {
        let points = |text: String| SweepSpec::from_toml(&text, "x").unwrap().points().unwrap();
        let quick = points(spec(Scale::Quick));
        assert_eq!(quick.len(), 5 * 3 * 3, "5 n x 3 seeds x (GD + 2 kernels)");
        let paper = points(spec(Scale::Paper));
        assert_eq!(paper.len(), 2 * 6 * 5 * 3);
        let ns: std::collections::BTreeSet<usize> =
            paper.iter().map(|p| p.config.data_n()).collect();
        assert_eq!(ns.first(), Some(&32));
        assert_eq!(ns.last(), Some(&1024), "a decade and more");
    }
}
