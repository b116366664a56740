//! The generic experiment of a user's store (`shatter report` without `--experiment`): no
//! built-in spec, no paper values and so no verdicts. Its table lists the runs ordered by the
//! settings that vary across them (then seed), and its figures plot the main metrics against
//! each swept axis.

use super::{Experiment, Scale};
use crate::reproduce::analysis::{fit_rates, Analysis, Row, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::ReportFigure;
use crate::reproduce::sweep_axes::{axis_figures, order_by_axes, swept_axes, value_text};
use crate::store::Store;
use std::path::Path;

/// All runs of a store, whatever produced them.
pub struct Sweep;

impl Experiment for Sweep {
    fn id(&self) -> &'static str {
        "sweep"
    }
    fn figure(&self) -> &'static str {
        ""
    }
    fn what(&self) -> &'static str {
        "All runs of the store, ordered by the settings that vary across them, then seed."
    }
    fn reported(&self) -> &'static str {
        ""
    }
    fn spec(&self, _scale: Scale) -> Option<String> {
        None
    }
    fn separates_losses(&self) -> bool {
        true
    }
    fn lists_every_run(&self) -> bool {
        true
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        let mut a = Analysis::default();
        let axes = swept_axes(runs);
        for v in order_by_axes(runs, &axes) {
            let s = &v.summary;
            let mut setting: Vec<String> = axes
                .iter()
                .map(|k| format!("{k}={}", value_text(v, k)))
                .collect();
            setting.push(format!("seed={}", v.spec.seed.unwrap_or(0)));
            a.rows.push(Row::context(
                format!("run {}", &v.run_id[..8.min(v.run_id.len())]),
                setting.join(" "),
                format!(
                    "{}: test MSE {}, final train loss {}, sharpness {} (2/eta {}), {} of active neurons firing on <= 10%",
                    s.status,
                    fmt(s.test_mse),
                    fmt(s.final_train_loss),
                    fmt(s.sharpness),
                    fmt(Some(s.two_over_eta)),
                    s.frac_shattered
                        .map(|f| format!("{:.0}%", 100.0 * f))
                        .unwrap_or_else(|| "-".into())
                ),
                String::new(),
            ));
        }
        if axes.is_empty() {
            a.words
                .push("No setting varies across the runs other than the seed.".into());
        } else {
            a.words.push(format!(
                "Swept settings: {}; rows are ordered by them, then by seed.",
                axes.join(", ")
            ));
        }
        let completed: Vec<RunView> = runs
            .iter()
            .filter(|r| r.summary.status == "completed")
            .cloned()
            .collect();
        let rates = fit_rates(&completed);
        if rates.iter().any(|r| r.ns.len() >= 2) {
            a.rates = rates;
        }
        a
    }
    fn training_curves(&self) -> bool {
        true
    }
    fn figures(
        &self,
        _store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        axis_figures(done, dir)
    }
}

fn fmt(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map(|v| crate::figures::style::format_sig(v, 3))
        .unwrap_or_else(|| "-".into())
}
