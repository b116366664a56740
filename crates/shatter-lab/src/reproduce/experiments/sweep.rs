//! The generic experiment of a user's store (`shatter report` without `--experiment`): no
//! built-in spec, no paper values and so no verdicts. Its table lists the runs ordered by the
//! settings that vary across them (then seed), and its figures plot the main metrics against
//! each swept axis.

use super::{About, Experiment, Scale};
use crate::reproduce::analysis::{fit_rates, num, Analysis, Row, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::ReportFigure;
use crate::reproduce::sweep_axes::{axis_figures, order_by_axes, swept_axes, value_text};
use crate::store::Store;
use std::path::Path;

/// All runs of a store, whatever produced them.
pub struct Sweep;

const ABOUT: About = About {
    id: "sweep",
    figure: "",
    what: "All runs of the store, ordered by the settings that vary across them, then seed.",
    reported: "",
};

impl Experiment for Sweep {
    fn about(&self) -> &'static About {
        &ABOUT
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
                    num(s.test_mse),
                    num(s.final_train_loss),
                    num(s.sharpness),
                    num(Some(s.two_over_eta)),
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

#[cfg(test)]
mod tests {
    use crate::reproduce::analyse;
    use crate::reproduce::analysis::testing::view;

    #[test]
    fn a_user_sweep_lists_its_diverged_runs_with_their_status() {
        let ok = view(2, 64, 0.1, 0.0, 0, 0.05);
        let mut bad = view(2, 64, 4.0, 0.0, 0, f64::NAN);
        bad.summary.status = "diverged".into();
        let a = analyse(super::super::SWEEP, &[ok.clone(), bad.clone()]);
        assert_eq!(a.rows.len(), 2, "{:?}", a.rows);
        assert!(
            a.rows.iter().any(|r| r.measured.starts_with("diverged:")),
            "{:?}",
            a.rows
        );
        assert!(
            a.words
                .iter()
                .any(|w| w.contains("1 run(s) diverged")
                    && w.contains("lists them with their status")),
            "{:?}",
            a.words
        );
        // A paper experiment judges completed runs only and says how many it left out.
        let cod = analyse(&super::super::cod::Cod, &[ok, bad]);
        assert!(
            cod.words
                .iter()
                .any(|w| w.contains("left out of the table")),
            "{:?}",
            cod.words
        );
    }
}
