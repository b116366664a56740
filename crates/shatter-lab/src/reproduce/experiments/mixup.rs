//! The `mixup` experiment: Issue 7 (mixup beside the shattering setting).

use super::shattering::variant_spec;
use super::{About, Experiment, Scale};
use crate::reproduce::analysis::{alpha, lr, num, numbers, pct, Analysis, Row, RunView, Verdict};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::{draw_shattering_bars, ReportFigure};
use crate::store::Store;
use std::path::Path;

/// The shattering setting (d = 10, eta = 0.9, no decay) trained on mixup batches with alpha in {0.2, 1} beside plain GD.
pub struct Mixup;

const ABOUT: About = About {
    id: "mixup",
    figure: "Issue 7 (mixup beside the shattering setting)",
    what: "The shattering setting (d = 10, eta = 0.9, no decay) trained on mixup batches with alpha in {0.2, 1} beside plain GD.",
    reported: "No number in the literature: the report measures how mixup changes the fraction of neurons firing on few points and the test MSE.",
};

impl Experiment for Mixup {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(variant_spec(self.id(), false, scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        mixup(runs)
    }
    fn figures(
        &self,
        _store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        draw_shattering_bars(self.id(), false, done, dir)
    }
}

/// The comparison table of `mixup`: no number in the literature, so every row is context and
/// the words say in which direction mixup moved shattering and test MSE.
fn mixup(runs: &[RunView]) -> Analysis {
    let mut a = Analysis::default();
    let mut v: Vec<&RunView> = runs.iter().collect();
    v.sort_by(|x, y| alpha(x).total_cmp(&alpha(y)));
    let plain = v.iter().find(|r| alpha(r) == 0.0).copied();
    for r in &v {
        let s = &r.summary;
        let setting = if alpha(r) == 0.0 {
            format!("eta = {}, no mixup", lr(r))
        } else {
            format!("eta = {}, mixup alpha = {}", lr(r), alpha(r))
        };
        a.rows.push(Row {
            parts: numbers([
                ("active neurons firing on <= 10%", s.frac_shattered),
                ("test MSE", s.test_mse),
                ("sharpness", s.sharpness),
                ("2/eta", Some(s.two_over_eta)),
            ]),
            quantity: "active neurons firing on <= 10% / test MSE / sharpness (2/eta)".into(),
            setting,
            measured: format!(
                "{} / {} / {} ({})",
                pct(s.frac_shattered),
                num(s.test_mse),
                num(s.sharpness),
                num(Some(s.two_over_eta))
            ),
            paper: "no reported number".into(),
            verdict: Verdict::Context,
            criterion: String::new(),
            claim: None,
        });
    }
    if let Some(p) = plain {
        for r in v.iter().filter(|r| alpha(r) > 0.0) {
            let (fp, fm) = (
                p.summary.frac_shattered.unwrap_or(f64::NAN),
                r.summary.frac_shattered.unwrap_or(f64::NAN),
            );
            let (mp, mm) = (
                p.summary.test_mse.unwrap_or(f64::NAN),
                r.summary.test_mse.unwrap_or(f64::NAN),
            );
            a.words.push(format!(
                "Mixup with alpha = {}: {} of the active neurons fire on at most 10% of the data ({} without mixup, {}), test MSE {} ({} without, {}).",
                alpha(r),
                pct(Some(fm)),
                pct(Some(fp)),
                if fm < fp { "less shattering" } else { "no less shattering" },
                num(Some(mm)),
                num(Some(mp)),
                if mm < mp { "better" } else { "no better" }
            ));
        }
    }
    a
}
