//! The building blocks every experiment's analysis shares (SCIENCE.md sections 6 and 7): the
//! view of a run, comparison rows with their claims and verdicts, fitted rates, the trivial
//! predictors' baselines, trend claims, and the small formatting helpers and run accessors.
//! Each experiment's own claims live in its unit under `experiments/`.

use super::stats;
use crate::figures::fit_loglog;
use crate::run::Summary;
use crate::spec::RunSpec;
use std::collections::BTreeMap;

/// A run as the analysis sees it: resolved settings and summary numbers.
#[derive(Clone, Debug)]
pub struct RunView {
    /// The run id.
    pub run_id: String,
    /// Resolved settings (every field present).
    pub spec: RunSpec,
    /// Summary numbers.
    pub summary: Summary,
}

pub use super::claims::{Claim, Method, Verdict};
pub use super::stats::spearman;

/// One row of a comparison table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// What is compared.
    pub quantity: String,
    /// Where (loss convention, arm, dimension).
    pub setting: String,
    /// What shatter measured.
    pub measured: String,
    /// What the paper reports (or the theory predicts).
    pub paper: String,
    /// The verdict, with its criterion in `criterion`.
    pub verdict: Verdict,
    /// How the verdict was decided.
    pub criterion: String,
    /// The numbers behind the row: estimate, 95% interval, paper value, agreement interval.
    /// `verdict` is `claim.verdict()` whenever there is a claim; `None` for a row without a
    /// single number (context only).
    pub claim: Option<Claim>,
    /// The numbers of a context row whose cell reports several quantities (`a / b / c`), each
    /// named: one line of claims.csv each, so every number shown is also in the file.
    pub parts: Vec<(String, Claim)>,
}

impl Row {
    /// A context row: no criterion, no verdict, no numbers.
    pub fn context(
        quantity: impl Into<String>,
        setting: impl Into<String>,
        measured: impl Into<String>,
        paper: impl Into<String>,
    ) -> Row {
        Row {
            quantity: quantity.into(),
            setting: setting.into(),
            measured: measured.into(),
            paper: paper.into(),
            verdict: Verdict::Context,
            criterion: String::new(),
            claim: None,
            parts: Vec::new(),
        }
    }

    /// The same row with its numbers (its claim and its parts) under loss convention `loss`.
    pub fn with_loss(mut self, loss: &str) -> Row {
        self.claim = self.claim.take().map(|c| c.with_loss(loss));
        for part in &mut self.parts {
            part.1.loss = loss.into();
        }
        self
    }

    /// The same row with its numbers for claims.csv ([`numbers`]). For context rows.
    pub fn with_numbers<S: Into<String>>(
        mut self,
        values: impl IntoIterator<Item = (S, Option<f64>)>,
    ) -> Row {
        self.parts = numbers(values);
        self
    }

    /// A claim row: the verdict follows from `claim`'s numbers; `criterion` says in words
    /// what the agreement interval encodes, and the method of the interval is appended.
    pub fn claim(
        quantity: impl Into<String>,
        setting: impl Into<String>,
        measured: impl Into<String>,
        paper: impl Into<String>,
        criterion: &str,
        claim: Claim,
    ) -> Row {
        Row {
            quantity: quantity.into(),
            setting: setting.into(),
            measured: measured.into(),
            paper: paper.into(),
            verdict: claim.verdict(),
            criterion: format!("{criterion}; {}", claim.method.describe()),
            claim: Some(claim),
            parts: Vec::new(),
        }
    }
}

/// The named numbers of a context row's cell (`Row::parts`), one per quantity it shows;
/// `None` or NaN is a number not measured (an empty cell of claims.csv).
pub fn numbers<S: Into<String>>(
    values: impl IntoIterator<Item = (S, Option<f64>)>,
) -> Vec<(String, Claim)> {
    values
        .into_iter()
        .map(|(name, v)| {
            let claim = Claim::context(v.unwrap_or(f64::NAN), None, Method::Point, None);
            (name.into(), claim)
        })
        .collect()
}

/// A fitted rate: MSE ~ n^(-rate).
#[derive(Clone, Debug, PartialEq)]
pub struct RateFit {
    /// Loss convention.
    pub loss: String,
    /// Arm label (for example `GD eta=0.2`).
    pub arm: String,
    /// Input dimension.
    pub d: usize,
    /// Sample sizes.
    pub ns: Vec<f64>,
    /// Median test MSE over seeds at each `n`.
    pub medians: Vec<f64>,
    /// Quartiles over seeds at each `n`.
    pub spread: Vec<(f64, f64)>,
    /// Fitted rate (minus the slope of log MSE on log n).
    pub rate: f64,
    /// Half-width of its 95% confidence interval.
    pub ci95: f64,
}

/// Test MSE of the trivial predictors at one input dimension, medians over the runs there.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    /// Input dimension.
    pub d: usize,
    /// `f = 0`: the mean square of the noiseless target on the test set.
    pub zero: f64,
    /// `f = mean f*`: the variance of the noiseless target on the test set.
    pub constant: f64,
}

/// The outcome of analysing one experiment.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// The comparison table, first in the report.
    pub rows: Vec<Row>,
    /// Sentences saying where measurement and paper agree and where they do not.
    pub words: Vec<String>,
    /// Rates per loss convention, arm and dimension (experiments about rates).
    pub rates: Vec<RateFit>,
    /// Rates of the generalisation gap against n, grouped like `rates` (the `cod` experiment:
    /// Theorem 3.5 of the 2025 paper bounds the gap of stable minima).
    pub gap_rates: Vec<RateFit>,
    /// Test MSE of the zero and the constant predictor per input dimension (experiments about
    /// rates): what a fit has to beat to have learned anything.
    pub baselines: Vec<Baseline>,
    /// Problems with the data behind the analysis (runs whose model file is missing or
    /// damaged), shown at the top of the report.
    pub warnings: Vec<String>,
}

/// A number with 3 significant digits, `-` when missing or not finite.
pub(crate) fn num(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => crate::figures::style::format_sig(v, 3),
        _ => "-".into(),
    }
}

/// A fraction as a whole percentage, `-` when missing or not finite.
pub(crate) fn pct(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{:.0}%", 100.0 * v),
        _ => "-".into(),
    }
}

pub(crate) fn loss_of(r: &RunView) -> String {
    r.spec.loss.clone().unwrap_or_else(|| "square".into())
}

pub(crate) fn convention(loss: &str) -> &'static str {
    match loss {
        "mse" => "mse (PyTorch's 1/n)",
        "logistic" => "logistic",
        _ => "square (the papers' 1/(2n))",
    }
}

/// A run's step size.
pub(crate) fn lr(r: &RunView) -> f64 {
    r.spec.lr.unwrap_or(0.0)
}

/// A run's weight decay.
pub(crate) fn decay(r: &RunView) -> f64 {
    r.spec.weight_decay.unwrap_or(0.0)
}

/// Whether a run fits kernel ridge regression instead of training a network.
pub(crate) fn is_krr(r: &RunView) -> bool {
    r.spec.model.as_deref() == Some(crate::spec::MODEL_KRR)
}

/// Whether a run's network has hidden biases.
pub(crate) fn has_bias(r: &RunView) -> bool {
    r.spec.bias.unwrap_or(true) && !r.spec.no_bias
}

/// A run's mixup alpha (0: no mixup).
pub(crate) fn alpha(r: &RunView) -> f64 {
    r.spec.mixup_alpha.unwrap_or(0.0)
}

/// A run's input distribution, as spelled in its spec.
pub(crate) fn input_of(r: &RunView) -> String {
    r.spec.input.clone().unwrap_or_else(|| "ball".into())
}

/// The arm of a run in rate fits and tables: `GD eta=...`, `eta=... decay=...` or `KRR <kernel>`.
pub(crate) fn arm_label(r: &RunView) -> String {
    if is_krr(r) {
        // Kernel baselines form their own arms, beside the networks in the rate plot.
        format!("KRR {}", r.spec.kernel.as_deref().unwrap_or("ntk"))
    } else if decay(r) > 0.0 {
        format!("eta={} decay={}", lr(r), decay(r))
    } else {
        format!("GD eta={}", lr(r))
    }
}

/// `Agrees` when `ok`, else `Differs` (for rows decided by a point estimate).
pub(crate) fn verdict(ok: bool) -> Verdict {
    if ok {
        Verdict::Agrees
    } else {
        Verdict::Differs
    }
}

/// Makes every row's verdict the one its claim's numbers give (`Claim::verdict`), whatever the
/// code that built the row said: a verdict follows from numbers, never from prose.
pub fn settle_verdicts(a: &mut Analysis) {
    for row in &mut a.rows {
        if let Some(c) = row.claim.as_ref().filter(|c| c.agree.is_some()) {
            row.verdict = c.verdict();
        }
    }
}

/// The test MSEs of the zero predictor (`mean f*^2`) and of the best constant predictor
/// (`var f*`) on a run's test set (the test MSE is measured against the noiseless `f*`).
/// Regenerates the test set from the run's settings (`O(n_test d)`); `None` for data read
/// from files.
pub fn trivial_predictor_mses(r: &RunView) -> Option<(f64, f64)> {
    let config = r.spec.check(None).ok()?;
    let crate::spec::DataSource::Generated(data) = &config.data else {
        return None;
    };
    if config.test_data.is_some() {
        return None;
    }
    let problem = shatter_core::data::generate::generate(data, config.seed).ok()?;
    let test = problem.test_set(config.n_test);
    let m = test.y.len() as f64;
    if m == 0.0 {
        return None;
    }
    let mean = test.y.iter().sum::<f64>() / m;
    let square = test.y.iter().map(|y| y * y).sum::<f64>() / m;
    let variance = test.y.iter().map(|y| (y - mean) * (y - mean)).sum::<f64>() / m;
    Some((square, variance))
}

/// The test MSE of the best constant predictor on a run's test set (see
/// `trivial_predictor_mses`).
pub fn constant_predictor_mse(r: &RunView) -> Option<f64> {
    trivial_predictor_mses(r).map(|(_, constant)| constant)
}

/// The trivial predictors' test MSEs per input dimension: medians over the runs of each `d`.
pub fn baselines(runs: &[RunView]) -> Vec<Baseline> {
    let mut by_d: BTreeMap<usize, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for r in runs {
        if let Some((zero, constant)) = trivial_predictor_mses(r) {
            let e = by_d.entry(r.spec.d.unwrap_or(0)).or_default();
            e.0.push(zero);
            e.1.push(constant);
        }
    }
    by_d.into_iter()
        .filter_map(|(d, (zero, constant))| {
            Some(Baseline {
                d,
                zero: stats::median(&zero)?,
                constant: stats::median(&constant)?,
            })
        })
        .collect()
}

/// Fits the MSE-against-n rate of every (loss, arm, target, d) group.
pub fn fit_rates(runs: &[RunView]) -> Vec<RateFit> {
    fit_rates_of(runs, |s| s.test_mse)
}

/// Fits the rate of `metric` against n for every (loss, arm, target, d) group: the slope of
/// log median (over seeds) against log n. A group whose medians are not all positive (a gap
/// can be negative) has no log-log fit and is left out.
pub fn fit_rates_of(runs: &[RunView], metric: fn(&Summary) -> Option<f64>) -> Vec<RateFit> {
    let mut groups: BTreeMap<(String, String, usize), BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for r in runs {
        let target = r.spec.target.clone().unwrap_or_default();
        let arm = if target == "linear" || target.is_empty() {
            arm_label(r)
        } else {
            format!("{target}, {}", arm_label(r))
        };
        let key = (loss_of(r), arm, r.spec.d.unwrap_or(0));
        if let Some(mse) = metric(&r.summary) {
            groups
                .entry(key)
                .or_default()
                .entry(r.spec.n.unwrap_or(0) as u64)
                .or_default()
                .push(mse);
        }
    }
    fit_groups(groups, |v| {
        (
            stats::quantile(v, 0.25).unwrap_or(f64::NAN),
            stats::quantile(v, 0.75).unwrap_or(f64::NAN),
        )
    })
}

/// The log-log fit of the median over seeds against `n` in every (loss, arm, d) group of
/// values per `n`, with `spread` giving the band drawn at each `n`; a group without a fit
/// (a median not positive) is left out.
fn fit_groups(
    groups: BTreeMap<(String, String, usize), BTreeMap<u64, Vec<f64>>>,
    spread: fn(&[f64]) -> (f64, f64),
) -> Vec<RateFit> {
    let mut out = Vec::new();
    for ((loss, arm, d), by_n) in groups {
        let ns: Vec<f64> = by_n.keys().map(|&n| n as f64).collect();
        let medians: Vec<f64> = by_n
            .values()
            .map(|v| stats::median(v).unwrap_or(f64::NAN))
            .collect();
        let spread: Vec<(f64, f64)> = by_n.values().map(|v| spread(v)).collect();
        if let Ok(fit) = fit_loglog(&ns, &medians) {
            out.push(RateFit {
                loss,
                arm,
                d,
                ns,
                medians,
                spread,
                rate: -fit.slope,
                ci95: fit.ci95,
            });
        }
    }
    out
}

/// Rates of test MSE against `n` per (loss, input, ambient dimension) group, the median over seeds
/// at each `n`; the arm is the input spelling, `d` the ambient dimension.
pub fn fit_geometry_rates(runs: &[RunView]) -> Vec<RateFit> {
    let mut groups: BTreeMap<(String, String, usize), BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for r in runs {
        if let Some(mse) = r.summary.test_mse {
            groups
                .entry((loss_of(r), input_of(r), r.spec.d.unwrap_or(0)))
                .or_default()
                .entry(r.spec.n.unwrap_or(0) as u64)
                .or_default()
                .push(mse);
        }
    }
    fit_groups(groups, |v| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    })
}

/// The numbers of a fitted rate's context row: the rate with its slope t-interval, beside the
/// theory's rate when given.
pub(crate) fn rate_context(f: &RateFit, theory: Option<f64>) -> Claim {
    Claim::context(
        f.rate,
        Some((f.rate - f.ci95, f.rate + f.ci95)),
        Method::SlopeT(f.ns.len()),
        theory,
    )
    .with_loss(&f.loss)
}

/// One context row per loss convention with its `distance` from the paper (0 = the paper's
/// numbers), the smallest marked `nearest`; returns that convention.
pub(crate) fn distance_rows(
    a: &mut Analysis,
    quantity: &str,
    distance: &BTreeMap<String, f64>,
) -> String {
    let best = distance
        .iter()
        .min_by(|x, y| x.1.total_cmp(y.1))
        .map(|(k, _)| k.clone())
        .unwrap_or_default();
    for (loss, dist) in distance {
        let mut row = Row::context(quantity, convention(loss), num(Some(*dist)), "0");
        if *loss == best {
            row.criterion = "nearest".into();
        }
        row.claim = Some(Claim {
            agree: None,
            ..Claim::point(*dist, Some(0.0), (0.0, 0.0)).with_loss(loss)
        });
        a.rows.push(row);
    }
    best
}

/// A trend claim: the Spearman correlation of `ys` with `xs` over the finite pairs, with its
/// percentile bootstrap interval over the points (`stats::bootstrap_spearman`). It agrees when
/// the whole interval is at or above `TREND_CORRELATION` (rising) or at or below its negative
/// (falling): with four points the interval is wide, so such a claim is inconclusive unless
/// the trend is overwhelming.
pub(crate) fn trend_claim(xs: &[f64], ys: &[f64], rising: bool) -> Claim {
    let (a, b): (Vec<f64>, Vec<f64>) = xs
        .iter()
        .zip(ys)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .unzip();
    let rho = spearman(&a, &b).unwrap_or(f64::NAN);
    // Below MIN_TREND_POINTS a percentile bootstrap of a rank correlation is degenerate (every
    // resample of a perfect order is perfect): the interval is the whole range instead.
    let (ci, method) = if a.len() < MIN_TREND_POINTS {
        (Some((-1.0, 1.0)), Method::TooFewPoints(a.len()))
    } else {
        (
            stats::bootstrap_spearman(&a, &b),
            Method::BootstrapPoints(a.len()),
        )
    };
    let agree = if rising {
        (TREND_CORRELATION, 1.0)
    } else {
        (-1.0, -TREND_CORRELATION)
    };
    Claim::interval(rho, ci, method, None, agree)
}

/// A trend row: the Spearman correlation of `values` with `xs`, with its bootstrap interval
/// over the points ([`trend_claim`]), agreeing when the whole interval has the expected
/// sign and size at least `TREND_CORRELATION`.
pub fn trend_row(
    quantity: &str,
    x_name: &str,
    xs: &[f64],
    values: &[f64],
    rising: bool,
    paper: &str,
) -> Row {
    let claim = trend_claim(xs, values, rising);
    Row::claim(
        quantity,
        format!("all {x_name}"),
        format!(
            "Spearman rank correlation with {x_name}: {}",
            num(Some(claim.estimate))
        ),
        paper,
        if rising {
            "correlation >= 0.5"
        } else {
            "correlation <= -0.5"
        },
        claim,
    )
}

/// The fewest points a trend claim needs to be decided: with four, even a perfect order is
/// one chance in 24 and the bootstrap cannot say more, so the claim stays inconclusive.
pub(super) const MIN_TREND_POINTS: usize = 5;

/// The size of a rank correlation that counts as the trend a paper describes ("rises with d",
/// "fewer pieces for larger eta"): the papers give curves, not correlations, so this is the
/// project's reading of a clear monotone trend.
pub(super) const TREND_CORRELATION: f64 = 0.5;

/// Runs made up for the experiments' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::RunView;
    use crate::run::Summary;
    use crate::spec::RunSpec;

    /// A completed run at `d`, `n`, step `lr`, decay `wd` and `seed` with test MSE `mse`.
    pub fn view(d: usize, n: usize, lr: f64, wd: f64, seed: u64, mse: f64) -> RunView {
        let spec = RunSpec {
            d: Some(d),
            n: Some(n),
            lr: Some(lr),
            weight_decay: Some(wd),
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
                two_over_eta: 2.0 / lr,
                ..Summary::default()
            },
        }
    }

    /// A run with these settings (resolved) and this summary, marked completed.
    pub fn completed(spec: RunSpec, summary: Summary) -> RunView {
        let spec = spec.resolved();
        RunView {
            run_id: spec.run_id(),
            spec,
            summary: Summary {
                status: "completed".into(),
                ..summary
            },
        }
    }

    /// A run with these settings (resolved) and this summary as given.
    pub fn run_view(spec: RunSpec, summary: Summary) -> RunView {
        let spec = spec.resolved();
        RunView {
            run_id: spec.run_id(),
            spec,
            summary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::view;
    use super::*;

    #[test]
    fn trivial_predictors_match_the_closed_form_of_the_linear_target() {
        // y = w . x with a unit w and x uniform in the unit ball of R^d: E[(w . x)^2] =
        // 1/(d+2) and E[w . x] = 0, so both baselines are near 1/(d+2) on 1000 test points.
        for d in [1, 3, 5] {
            let (zero, constant) = trivial_predictor_mses(&view(d, 64, 0.2, 0.0, 1, 0.0)).unwrap();
            let exact = 1.0 / (d as f64 + 2.0);
            assert!(
                (zero - exact).abs() < 0.15 * exact,
                "d = {d}: {zero} against {exact}"
            );
            assert!(
                constant <= zero && constant > 0.8 * zero,
                "{constant} {zero}"
            );
        }
    }

    #[test]
    fn settings_summary_says_what_ran() {
        let runs = vec![
            view(10, 512, 0.9, 0.0, 0, 1.0),
            view(10, 512, 0.01, 0.1, 0, 1.0),
            view(10, 512, 0.9, 0.0, 2, 1.0),
        ];
        let s = crate::reproduce::run_settings_summary(&runs);
        assert!(s.contains("d = 10") && s.contains("n = 512"), "{s}");
        assert!(s.contains("lr in {0.01, 0.9}"), "{s}");
        assert!(
            s.contains("weight_decay in {0.0, 0.1}") || s.contains("weight_decay in {0, 0.1}"),
            "{s}"
        );
        assert!(s.ends_with("seeds {0, 2}"), "{s}");
    }
}
