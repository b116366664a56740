//! Figure helpers shared by every experiment: a figure written as SVG and PNG and kept for the
//! report, a run's label, its training curves and its neurons from the store.

use super::analysis::RunView;
use super::error::ReproduceError;
use crate::figures::style as fmt;
use crate::figures::{self, Figure, NeuronPoint, SharpnessPoint, ShatteringRun, TrainingSeries};
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
