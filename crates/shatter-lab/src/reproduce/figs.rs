//! Figure helpers shared by every experiment: a figure written as SVG and PNG and kept for the
//! report, a run's label, its training curves and its neurons from the store.

use super::analysis::{alpha, has_bias, RunView};
use super::error::ReproduceError;
use crate::figures::style as fmt;
use crate::figures::{
    self, Comparison, ComparisonRow, Figure, NeuronPoint, SharpnessPoint, ShatteringRun,
    TrainingSeries,
};
use crate::store::Store;
use std::path::Path;

/// One figure of a report: a caption and its SVG text.
#[derive(Clone, Debug)]
pub struct ReportFigure {
    /// What the figure shows.
    pub caption: String,
    /// The SVG document.
    pub svg: String,
}

/// Writes `fig` to `stem.svg` and `stem.png` and returns it for the report.
pub fn figure<F: Figure>(
    fig: &F,
    what: &str,
    stem: &Path,
    caption: String,
) -> Result<ReportFigure, ReproduceError> {
    let err = |source| ReproduceError::Figure {
        what: what.into(),
        source,
    };
    figures::write_figure(fig, stem).map_err(err)?;
    Ok(ReportFigure {
        caption,
        svg: figures::svg_string(fig).map_err(err)?,
    })
}

/// A run's legend label: loss (when not square), eta, decay, d, K, activation (when GELU).
pub fn run_label(v: &RunView) -> String {
    let s = &v.spec;
    let mut parts = Vec::new();
    parts.push(fmt::loss_label(s.loss.as_deref().unwrap_or("square")));
    parts.push(format!("eta={}", fmt::fmt_num(s.lr.unwrap_or(0.0))));
    if s.weight_decay.unwrap_or(0.0) > 0.0 {
        parts.push(format!(
            "decay={}",
            fmt::fmt_num(s.weight_decay.unwrap_or(0.0))
        ));
    }
    parts.push(format!("d={}", s.d.unwrap_or(0)));
    parts.push(format!("K={}", s.width.unwrap_or(0)));
    if s.activation.as_deref() == Some("gelu") {
        parts.push("gelu".into());
    }
    parts.join(" ")
}

/// The stored trajectory of a run as one training series; `None` when nothing was recorded.
pub fn training_series(
    store: &Store,
    v: &RunView,
    label: String,
) -> Result<Option<TrainingSeries>, ReproduceError> {
    let traj = store.trajectory(&v.run_id)?;
    if traj.is_empty() {
        return Ok(None);
    }
    let test: Vec<f64> = traj
        .iter()
        .map(|r| r.test_mse.unwrap_or(f64::NAN))
        .collect();
    Ok(Some(TrainingSeries {
        label,
        epochs: traj.iter().map(|r| r.epoch as f64).collect(),
        train_loss: traj.iter().map(|r| r.train_loss).collect(),
        test_mse: test.iter().any(|t| t.is_finite()).then_some(test),
        sharpness: traj
            .iter()
            .filter_map(|r| {
                r.sharpness.map(|s| SharpnessPoint {
                    epoch: r.epoch as f64,
                    value: s,
                    err: r.sharpness_err.unwrap_or(0.0),
                })
            })
            .collect(),
        eta: v.spec.lr,
    }))
}

/// The stored neurons of a run; `None` when none were recorded.
pub fn shattering_run(
    store: &Store,
    v: &RunView,
    label: String,
) -> Result<Option<ShatteringRun>, ReproduceError> {
    let neurons = store.neurons(&v.run_id)?;
    if neurons.is_empty() {
        return Ok(None);
    }
    Ok(Some(ShatteringRun {
        label,
        neurons: neurons
            .iter()
            .map(|n| NeuronPoint {
                activation_rate: n.activation_rate,
                amplitude: n.amplitude,
                offset: n.boundary_offset,
            })
            .collect(),
    }))
}

/// A bar chart of `rows`, `None` when no bar has a finite value.
pub fn bars(title: &str, y_label: &str, rows: Vec<ComparisonRow>) -> Option<Comparison> {
    rows.iter()
        .any(|r| r.measured.is_finite())
        .then(|| Comparison {
            title: Some(title.into()),
            y_label: Some(y_label.into()),
            rows,
        })
}

/// The bars of an experiment on the shattering setting with one axis added (`no-bias`: hidden
/// biases, `mixup`: mixup alpha): per arm the shattered fraction and the test MSE.
pub fn draw_shattering_bars(
    id: &str,
    no_bias: bool,
    done: &[RunView],
    dir: &Path,
) -> Result<Vec<ReportFigure>, ReproduceError> {
    let label = |r: &RunView| {
        if no_bias {
            if has_bias(r) { "with bias" } else { "no bias" }.to_string()
        } else if alpha(r) == 0.0 {
            "no mixup".to_string()
        } else {
            format!("mixup {}", alpha(r))
        }
    };
    let mut v: Vec<&RunView> = done.iter().collect();
    v.sort_by(|x, y| {
        alpha(x)
            .total_cmp(&alpha(y))
            .then(has_bias(y).cmp(&has_bias(x)))
    });
    let rows: Vec<ComparisonRow> = v
        .iter()
        .flat_map(|r| {
            [
                ComparisonRow {
                    label: format!("<=10%: {}", label(r)),
                    measured: r.summary.frac_shattered.unwrap_or(f64::NAN),
                    paper: None,
                },
                ComparisonRow {
                    label: format!("MSE: {}", label(r)),
                    measured: r.summary.test_mse.unwrap_or(f64::NAN),
                    paper: None,
                },
            ]
        })
        .collect();
    let mut figs = Vec::new();
    if let Some(cmp) = bars(
        "Fraction of active neurons firing on <= 10% of the data, and test MSE",
        "fraction / test MSE",
        rows,
    ) {
        figs.push(figure(
            &cmp,
            "shattering bars",
            &dir.join(format!("{id}_bars")),
            "For each arm: the fraction of neurons firing on at most 10% of the training inputs, and the test MSE against the noiseless target.".into(),
        )?);
    }
    Ok(figs)
}
