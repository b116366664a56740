//! The `logistic` experiment: Qiao and Wang 2025 (arXiv:2512.01473).

use super::{About, Experiment, Scale};
use crate::figures::ComparisonRow;
use crate::reproduce::analysis::{
    lr, num, numbers, pct, spearman, Analysis, Claim, Row, RunView, Verdict,
};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::{bars, figure, ReportFigure};
use crate::reproduce::models::{logit, univariate_model_and_problem};
use crate::store::Store;
use std::path::Path;

/// Univariate logistic regression with labels drawn from sigmoid(sin(pi x)): sharpness, path norm and excess risk against step size and training length.
pub struct Logistic;

const ABOUT: About = About {
    id: "logistic",
    figure: "Qiao and Wang 2025 (arXiv:2512.01473)",
    what: "Univariate logistic regression with labels drawn from sigmoid(sin(pi x)): sharpness, path norm and excess risk against step size and training length.",
    reported: "Flatness alone does not control logistic regression: flat solutions can fit noisy labels with a growing norm; a norm bound is needed as well.",
};

impl Experiment for Logistic {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        logistic(runs)
    }
    fn with_models(&self, store: &Store, runs: &[RunView], a: Analysis) -> Analysis {
        logistic_margins(store, runs, a)
    }
    fn figures(
        &self,
        store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        draw_logistic(store, done, dir)
    }
}

/// The sweep spec of `logistic` at `scale`.
fn spec(scale: Scale) -> String {
    let (n, width, epochs, every) = match scale {
        Scale::Quick => (32, 200, "[2000, 20000]", 200),
        Scale::Paper => (64, 1000, "[5000, 50000, 200000]", 1000),
    };
    format!(
        r#"name = "logistic-{scale}"
description = "Univariate logistic regression, labels +-1 drawn with P(y = 1) = sigmoid(sin(pi x)): sharpness, path norm and excess risk against step size and training length."

[base]
d = 1
n = {n}
width = {width}
input = "interval"
target = "sine"
loss = "logistic"
clip = 50.0
n_test = 1000

[measure]
sharpness_every = {every}
test_every = {every}
log_every = 20

[grid]
lr = [0.05, 0.2, 0.8]
epochs = {epochs}
"#
    )
}

/// The comparison table of `logistic` from the summaries (Qiao and Wang 2025): stability,
/// norm growth with training, and the excess-risk proxy. Rows that need the stored models
/// (train accuracy, margins) are added by [`logistic_margins`].
fn logistic(runs: &[RunView]) -> Analysis {
    let mut a = Analysis::default();
    let mut v: Vec<&RunView> = runs.iter().collect();
    v.sort_by(|x, y| {
        lr(x)
            .total_cmp(&lr(y))
            .then(x.spec.epochs.cmp(&y.spec.epochs))
    });
    for r in &v {
        let s = &r.summary;
        let sharp = s.sharpness.unwrap_or(f64::NAN);
        let stable = Claim::point(
            sharp,
            Some(s.two_over_eta),
            (f64::NEG_INFINITY, 1.05 * s.two_over_eta),
        );
        a.rows.push(Row {
            parts: Vec::new(),
            quantity: "sharpness (2/eta) / path norm / excess-risk proxy".into(),
            setting: format!("eta = {}, {} epochs", lr(r), r.spec.epochs.unwrap_or(0)),
            measured: format!(
                "{} ({}) / {} / {}",
                num(Some(sharp)),
                num(Some(s.two_over_eta)),
                num(s.path_norm),
                num(s.test_mse)
            ),
            paper: "stable: sharpness <= 2/eta".into(),
            verdict: stable.verdict(),
            criterion: format!("sharpness <= 1.05 x 2/eta; {}", stable.method.describe()),
            claim: Some(stable),
        });
    }
    // Norm growth: at each eta, the path norm after the longest training against the shortest.
    let mut grows = 0;
    let mut pairs = 0;
    let mut lrs: Vec<f64> = v.iter().map(|r| lr(r)).collect();
    lrs.dedup();
    for eta in &lrs {
        let same: Vec<&&RunView> = v.iter().filter(|r| lr(r) == *eta).collect();
        let (Some(first), Some(last)) = (same.first(), same.last()) else {
            continue;
        };
        if first.spec.epochs == last.spec.epochs {
            continue;
        }
        pairs += 1;
        let (p0, p1) = (
            first.summary.path_norm.unwrap_or(f64::NAN),
            last.summary.path_norm.unwrap_or(f64::NAN),
        );
        if p1 > p0 {
            grows += 1;
        }
        let grows_claim = Claim::point(p1 / p0, Some(1.0), (1.0, f64::INFINITY));
        a.rows.push(Row {
            parts: Vec::new(),
            quantity: "path norm grows with training".into(),
            setting: format!(
                "eta = {eta}, {} -> {} epochs",
                first.spec.epochs.unwrap_or(0),
                last.spec.epochs.unwrap_or(0)
            ),
            measured: format!(
                "{} -> {}; sharpness {} -> {}",
                num(Some(p0)),
                num(Some(p1)),
                num(first.summary.sharpness),
                num(last.summary.sharpness)
            ),
            paper: "the norm keeps growing while the solution stays flat".into(),
            verdict: grows_claim.verdict(),
            criterion: format!(
                "larger path norm after longer training (measured: the ratio); {}",
                grows_claim.method.describe()
            ),
            claim: Some(grows_claim),
        });
    }
    let longest = v.iter().filter_map(|r| r.spec.epochs).max();
    let last: Vec<&&RunView> = v.iter().filter(|r| r.spec.epochs == longest).collect();
    let xs: Vec<f64> = last.iter().map(|r| lr(r)).collect();
    let risk: Vec<f64> = last
        .iter()
        .map(|r| r.summary.test_mse.unwrap_or(f64::NAN))
        .collect();
    let rho = spearman(&xs, &risk);
    a.rows.push(Row {
        parts: numbers([(
            "Spearman rank correlation of the excess-risk proxy with eta",
            rho,
        )]),
        quantity: "excess-risk proxy (MSE of the logit f against f*) against eta".into(),
        setting: format!("{} epochs", longest.unwrap_or(0)),
        measured: format!("Spearman rank correlation with eta: {}", num(rho)),
        paper: "flatness alone does not bound it".into(),
        verdict: Verdict::Context,
        criterion: String::new(),
        claim: None,
    });
    a.words.push(format!(
        "The path norm grows with training at {grows} of {pairs} step sizes. The excess risk is measured by the MSE of the learned logit against the true one, sin(pi x): a proxy, since the logistic excess risk is a KL divergence that this MSE bounds only up to constants where both logits stay bounded."
    ));
    a
}

/// The rows that read the stored models: train accuracy against the Bayes classifier, the
/// smallest margin, and whether a flat run fits every noisy label.
fn logistic_margins(store: &Store, runs: &[RunView], mut a: Analysis) -> Analysis {
    let mut flat_interpolating = Vec::new();
    let mut v: Vec<&RunView> = runs
        .iter()
        .filter(|r| r.summary.status == "completed")
        .collect();
    v.sort_by(|x, y| {
        lr(x)
            .total_cmp(&lr(y))
            .then(x.spec.epochs.cmp(&y.spec.epochs))
    });
    for r in v {
        let Some((model, problem)) = univariate_model_and_problem(store, r) else {
            continue;
        };
        let margins: Vec<f64> = problem
            .train
            .x
            .iter()
            .zip(&problem.train.y)
            .map(|(x, y)| y * logit(&model, *x))
            .collect();
        let accuracy = margins.iter().filter(|m| **m > 0.0).count() as f64 / margins.len() as f64;
        let min_margin = margins.iter().copied().fold(f64::INFINITY, f64::min);
        // The Bayes classifier sign(f*) errs on the training labels that disagree with it.
        let bayes = problem
            .train
            .x
            .iter()
            .zip(&problem.train.y)
            .filter(|(x, y)| problem.target.eval(&[**x]) * **y > 0.0)
            .count() as f64
            / margins.len() as f64;
        let path = r.summary.path_norm.unwrap_or(f64::NAN);
        let flat = r
            .summary
            .sharpness
            .is_some_and(|s| s <= 0.5 * r.summary.two_over_eta);
        if accuracy >= 1.0 && flat {
            flat_interpolating.push(format!(
                "eta = {}, {} epochs",
                lr(r),
                r.spec.epochs.unwrap_or(0)
            ));
        }
        a.rows.push(Row {
            parts: numbers([
                ("train accuracy", Some(accuracy)),
                ("train accuracy of the Bayes classifier sign(f*)", Some(bayes)),
                ("min margin y f(x)", Some(min_margin)),
                ("min margin over path norm", Some(min_margin / path)),
            ]),
            quantity: "train accuracy (Bayes classifier sign(f*)) / min margin y f(x) / margin over path norm".into(),
            setting: format!("eta = {}, {} epochs", lr(r), r.spec.epochs.unwrap_or(0)),
            measured: format!(
                "{} (Bayes {}) / {} / {}",
                pct(Some(accuracy)),
                pct(Some(bayes)),
                num(Some(min_margin)),
                num(Some(min_margin / path))
            ),
            paper: "flat solutions can fit every noisy label".into(),
            verdict: Verdict::Context,
            criterion: String::new(),
            claim: None,
        });
    }
    // Qiao and Wang 2025 show that flat interpolating solutions exist by constructing one
    // (flatness alone does not bound the excess risk); they do not claim that gradient descent
    // reaches one. Whether a GD run does is context, not a test of the paper.
    a.rows.push(Row {
        parts: numbers([(
            "runs flat (sharpness <= 1/eta) and fitting every noisy training label",
            Some(flat_interpolating.len() as f64),
        )]),
        quantity: "flat (sharpness <= 1/eta) and fitting every noisy training label".into(),
        setting: "all runs".into(),
        measured: if flat_interpolating.is_empty() {
            "none".into()
        } else {
            flat_interpolating.join("; ")
        },
        paper: "exists (a construction in the paper, not a GD outcome): flatness needs a norm bound to generalise".into(),
        verdict: Verdict::Context,
        criterion: String::new(),
        claim: None,
    });
    a.words.push(if flat_interpolating.is_empty() {
        "No run both stays well inside the stable region (sharpness <= 1/eta) and classifies every noisy training label correctly.".into()
    } else {
        format!(
            "Runs well inside the stable region (sharpness <= 1/eta) still classify every noisy training label correctly, beyond the Bayes classifier: {}.",
            flat_interpolating.join("; ")
        )
    });
    a
}

/// The figures of `logistic`: path norm, sharpness beside 2/eta and the excess-risk proxy,
/// per step size and training length.
fn draw_logistic(
    _store: &Store,
    done: &[RunView],
    dir: &Path,
) -> Result<Vec<ReportFigure>, ReproduceError> {
    let mut v: Vec<&RunView> = done.iter().collect();
    v.sort_by(|x, y| {
        lr(x)
            .total_cmp(&lr(y))
            .then(x.spec.epochs.cmp(&y.spec.epochs))
    });
    let label = |r: &RunView| format!("{} {}ep", lr(r), r.spec.epochs.unwrap_or(0));
    let mut figs = Vec::new();
    let panels = [
        (
            "logistic_path_norm",
            "Path norm per step size and training length",
            "sum |v_k| ||w_k||",
            v.iter()
                .map(|r| ComparisonRow {
                    label: label(r),
                    measured: r.summary.path_norm.unwrap_or(f64::NAN),
                    paper: None,
                })
                .collect::<Vec<_>>(),
            "Path norm of the final network, labelled eta and epochs: it keeps growing with training.",
        ),
        (
            "logistic_sharpness",
            "Sharpness beside 2/eta",
            "top Hessian eigenvalue",
            v.iter()
                .map(|r| ComparisonRow {
                    label: label(r),
                    measured: r.summary.sharpness.unwrap_or(f64::NAN),
                    paper: Some(r.summary.two_over_eta),
                })
                .collect(),
            "Final sharpness (measured bars) beside 2/eta (the paper's bars): logistic solutions become flatter as the loss vanishes.",
        ),
        (
            "logistic_excess_risk",
            "Excess-risk proxy: MSE of the logit against sin(pi x)",
            "MSE of f against f*",
            v.iter()
                .map(|r| ComparisonRow {
                    label: label(r),
                    measured: r.summary.test_mse.unwrap_or(f64::NAN),
                    paper: None,
                })
                .collect(),
            "Mean squared difference between the learned and the true logit on fresh inputs.",
        ),
    ];
    for (stem, title, y, rows, caption) in panels {
        if let Some(cmp) = bars(title, y, rows) {
            figs.push(figure(&cmp, title, &dir.join(stem), caption.into())?);
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

    #[test]
    fn logistic_norm_growth_and_stability_from_summaries() {
        let run = |eta: f64, epochs: usize, norm: f64, sharp: f64| {
            completed(
                RunSpec {
                    d: Some(1),
                    loss: Some("logistic".into()),
                    lr: Some(eta),
                    epochs: Some(epochs),
                    ..RunSpec::default()
                },
                Summary {
                    path_norm: Some(norm),
                    sharpness: Some(sharp),
                    two_over_eta: 2.0 / eta,
                    test_mse: Some(0.5),
                    ..Summary::default()
                },
            )
        };
        let runs = [
            run(0.1, 1000, 2.0, 5.0),
            run(0.1, 10000, 4.0, 1.0),
            run(0.4, 1000, 3.0, 4.0),
            run(0.4, 10000, 2.5, 6.0),
        ];
        let a = analyse(&Logistic, &runs);
        let growth: Vec<&Row> = a
            .rows
            .iter()
            .filter(|r| r.quantity == "path norm grows with training")
            .collect();
        assert_eq!(growth.len(), 2);
        assert_eq!(growth[0].verdict, Verdict::Agrees, "{:?}", growth[0]);
        assert_eq!(growth[1].verdict, Verdict::Differs, "{:?}", growth[1]);
        let unstable = a
            .rows
            .iter()
            .filter(|r| r.quantity.starts_with("sharpness") && r.verdict == Verdict::Differs)
            .count();
        assert_eq!(unstable, 1, "6 > 1.05 x 2/0.4: {:?}", a.rows);
    }
}
