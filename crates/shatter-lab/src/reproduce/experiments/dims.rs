//! The `dims` experiment: Liang, Qiao, Wang, Parhi 2025, Fig. 4.

use super::{Experiment, Scale};
use crate::figures::{Comparison, ComparisonRow};
use crate::reproduce::analysis::{Analysis, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::{figure, ReportFigure};
use crate::store::Store;
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

impl Experiment for Dims {
    fn id(&self) -> &'static str {
        "dims"
    }
    fn figure(&self) -> &'static str {
        "Liang, Qiao, Wang, Parhi 2025, Fig. 4"
    }
    fn what(&self) -> &'static str {
        "n = 512, K = 1024, eta = 0.5 for d = 1..6: how many neurons stay active."
    }
    fn reported(&self) -> &'static str {
        "The fraction of neurons still active at the end rises from 0% (d = 1) to ~65% (d = 6); train loss falls and MSE rises with d."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec(scale, false))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        super::super::analysis::dims(runs)
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
