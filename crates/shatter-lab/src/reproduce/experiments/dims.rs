//! The `dims` experiment: Liang, Qiao, Wang, Parhi 2025, Fig. 4.

use super::{About, Experiment, Scale};
use crate::figures::{Comparison, ComparisonRow};
use crate::reproduce::analysis::{pct, trend_row, Analysis, Claim, Row, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::{figure, ReportFigure};
use crate::reproduce::stats;
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::Path;

/// The sweep spec of `dims` (ReLU) or, with `gelu`, of `gelu` at `scale`.
pub(super) fn spec(scale: Scale, gelu: bool) -> String {
    let quick = scale == Scale::Quick;
    let id = if gelu { "gelu" } else { "dims" };
    let (n, width, epochs) = if quick {
        (512, 1024, 10000)
    } else {
        (512, 1024, 20000)
    };
    let activation = if gelu { "gelu" } else { "relu" };
    format!(
        r#"name = "{id}-{scale}"
description = "eta = 0.5 for d = 1..6 with {activation}: the fraction of neurons still active."

[base]
n = {n}
width = {width}
lr = 0.5
epochs = {epochs}
activation = "{activation}"
sigma = 1.0
clip = 50.0
n_test = 1000

[measure]
sharpness_every = 500
test_every = 500
log_every = 50

[grid]
d = [1, 2, 3, 4, 5, 6]
{losses}"#,
        losses = scale.both_losses_grid_line()
    )
}

/// n = 512, K = 1024, eta = 0.5 for d = 1..6: how many neurons stay active.
pub struct Dims;

const ABOUT: About = About {
    id: "dims",
    figure: "Liang, Qiao, Wang, Parhi 2025, Fig. 4",
    what: "n = 512, K = 1024, eta = 0.5 for d = 1..6: how many neurons stay active.",
    reported: "The fraction of neurons still active at the end rises from 0% (d = 1) to ~65% (d = 6); train loss falls and MSE rises with d.",
};

impl Experiment for Dims {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec(scale, false))
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
        active_fraction(done, dir)
    }
}

/// The fraction of neurons still active at the end per run, against the paper's endpoints
/// (Fig. 4: 0% at d = 1, ~65% at d = 6).
pub(super) fn active_fraction(
    done: &[RunView],
    dir: &Path,
) -> Result<Vec<ReportFigure>, ReproduceError> {
    let rows: Vec<ComparisonRow> = done
        .iter()
        .map(|v| {
            let d = v.spec.d.unwrap_or(0);
            ComparisonRow {
                label: format!("d={d}"),
                measured: 1.0 - v.summary.frac_dead.unwrap_or(f64::NAN),
                paper: match d {
                    1 => Some(0.0),
                    6 => Some(0.65),
                    _ => None,
                },
            }
        })
        .collect();
    let cmp = Comparison {
        title: Some("Fraction of neurons still active at the end".into()),
        y_label: Some("fraction not dead".into()),
        rows,
    };
    Ok(vec![figure(
        &cmp,
        "active fraction",
        &dir.join("active_fraction"),
        "Fraction of neurons active on at least one training point, against the paper's endpoints."
            .into(),
    )?])
}

fn by_d(runs: &[RunView]) -> Vec<&RunView> {
    let mut v: Vec<&RunView> = runs.iter().collect();
    v.sort_by_key(|r| r.spec.d.unwrap_or(0));
    v
}

/// The comparison table of `dims` and `gelu` (Liang et al. 2025, Fig. 4 and 8): the active
/// fraction per d against the paper's 0% at d = 1 and ~65% at d = 6, and the trends with d.
pub(super) fn claims(runs: &[RunView]) -> Analysis {
    let mut a = Analysis::default();
    let v = by_d(runs);
    let ds: Vec<f64> = v.iter().map(|r| r.spec.d.unwrap_or(0) as f64).collect();
    let active: Vec<f64> = v
        .iter()
        .map(|r| 1.0 - r.summary.frac_dead.unwrap_or(f64::NAN))
        .collect();
    let mut by_dim: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for (r, act) in v.iter().zip(&active) {
        by_dim.entry(r.spec.d.unwrap_or(0)).or_default().push(*act);
    }
    for (d, acts) in &by_dim {
        let d = *d;
        let setting = if acts.len() > 1 {
            format!("d = {d} ({} seeds)", acts.len())
        } else {
            format!("d = {d}")
        };
        let quantity = "fraction of neurons still active (not dead)";
        let row = match d {
            // Fig. 4 of Liang et al. 2025: no neuron stays active at d = 1 (below 15%).
            1 => {
                let c = Claim::over_seeds(acts, Some(0.0), (0.0, 0.15));
                Row::claim(
                    quantity,
                    setting,
                    pct(Some(c.estimate)),
                    "~0%",
                    "below 15%",
                    c,
                )
            }
            // Fig. 4: about 65% stay active at d = 6 (45% to 85%).
            6 => {
                let c = Claim::over_seeds(acts, Some(0.65), (0.45, 0.85));
                Row::claim(
                    quantity,
                    setting,
                    pct(Some(c.estimate)),
                    "~65%",
                    "45% to 85%",
                    c,
                )
            }
            _ => {
                let mut row =
                    Row::context(quantity, setting, pct(stats::median(acts)), "rising with d");
                row.claim = Some(Claim {
                    agree: None,
                    ..Claim::over_seeds(acts, None, (0.0, 0.0))
                });
                row
            }
        };
        a.rows.push(row);
    }
    // The paper's "active" is "fires on some training point"; neurons that fire but carry an
    // amplitude below 1e-3 of the largest contribute nothing to the function, so the same
    // fraction without them is shown beside it (context: the paper does not separate them).
    let mut carrying: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for r in &v {
        if let (Some(dead), Some(negligible)) = (r.summary.frac_dead, r.summary.frac_negligible) {
            carrying
                .entry(r.spec.d.unwrap_or(0))
                .or_default()
                .push(1.0 - dead - negligible);
        }
    }
    for (d, fracs) in &carrying {
        let mut row = Row::context(
            "fraction of neurons active with a non-negligible amplitude (>= 1e-3 of the largest)",
            format!("d = {d}"),
            pct(stats::median(fracs)),
            "not reported",
        );
        row.claim = Some(Claim {
            agree: None,
            paper: None,
            ..Claim::over_seeds(fracs, None, (0.0, 0.0))
        });
        a.rows.push(row);
    }
    let trend = |vals: &[f64], rising: bool, quantity: &str, paper: &str, a: &mut Analysis| {
        a.rows
            .push(trend_row(quantity, "d", &ds, vals, rising, paper));
    };
    trend(
        &active,
        true,
        "active fraction against d",
        "rises with d",
        &mut a,
    );
    let train: Vec<f64> = v
        .iter()
        .map(|r| r.summary.final_train_loss.unwrap_or(f64::NAN))
        .collect();
    trend(
        &train,
        false,
        "train loss against d",
        "falls with d",
        &mut a,
    );
    let test: Vec<f64> = v
        .iter()
        .map(|r| r.summary.test_mse.unwrap_or(f64::NAN))
        .collect();
    trend(&test, true, "test MSE against d", "rises with d", &mut a);
    if let (Some(f), Some(l)) = (v.first(), v.last()) {
        a.words.push(format!(
            "The active fraction goes from {} at d = {} to {} at d = {} (paper: 0% to ~65%).",
            pct(Some(1.0 - f.summary.frac_dead.unwrap_or(f64::NAN))),
            f.spec.d.unwrap_or(0),
            pct(Some(1.0 - l.summary.frac_dead.unwrap_or(f64::NAN))),
            l.spec.d.unwrap_or(0)
        ));
    }
    a
}
