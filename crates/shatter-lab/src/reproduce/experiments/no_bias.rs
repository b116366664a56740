//! The `no-bias` experiment: Liang, Qiao, Wang, Parhi 2025 (discussion of the mechanism).

use super::shattering::{variant_spec, SHATTERED_QUANTITY};
use super::{About, Experiment, Scale};
use crate::reproduce::analysis::{
    has_bias, lr, num, numbers, pct, verdict, Analysis, Claim, Method, Row, RunView, Verdict,
};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::{draw_shattering_bars, ReportFigure};
use crate::store::Store;
use std::path::Path;

/// The shattering setting (d = 10, eta = 0.9, no decay) with and without hidden biases.
pub struct NoBias;

const ABOUT: About = About {
    id: "no-bias",
    figure: "Liang, Qiao, Wang, Parhi 2025 (discussion of the mechanism)",
    what: "The shattering setting (d = 10, eta = 0.9, no decay) with and without hidden biases.",
    reported:
        "Without biases every neuron is a half-space through the origin and shattering disappears.",
};

impl Experiment for NoBias {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(variant_spec(self.id(), true, scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        no_bias(runs)
    }
    fn figures(
        &self,
        _store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        draw_shattering_bars(self.id(), true, done, dir)
    }
}

/// The comparison table of `no-bias`: shattering with hidden biases, much less without.
fn no_bias(runs: &[RunView]) -> Analysis {
    let mut a = Analysis::default();
    let with = runs.iter().find(|r| has_bias(r));
    let without = runs.iter().find(|r| !has_bias(r));
    for (r, biased) in [(with, true), (without, false)] {
        let Some(r) = r else { continue };
        let s = &r.summary;
        a.rows.push(Row {
            parts: numbers([(SHATTERED_QUANTITY, s.frac_shattered)]),
            quantity: SHATTERED_QUANTITY.into(),
            setting: format!(
                "eta = {}, {}",
                lr(r),
                if biased { "with bias" } else { "no bias" }
            ),
            measured: pct(s.frac_shattered),
            paper: if biased {
                "most neurons (shattering)".into()
            } else {
                "few: every neuron is a half-space through the origin".into()
            },
            verdict: Verdict::Context,
            criterion: String::new(),
            claim: None,
        });
        if let (true, Some(frac)) = (biased, s.frac_shattered) {
            // Fig. 3 (a) of Liang et al. 2025 with biases: most active neurons fire on <= 10%.
            let claim = Claim::point(frac, None, (0.5, 1.0));
            let last = a.rows.len() - 1;
            a.rows[last].verdict = claim.verdict();
            a.rows[last].criterion = format!(
                "more than half of the active neurons; {}",
                claim.method.describe()
            );
            a.rows[last].claim = Some(claim);
        }
        a.rows.push(Row {
            parts: numbers([
                ("test MSE", s.test_mse),
                ("sharpness", s.sharpness),
                ("2/eta", Some(s.two_over_eta)),
                ("median activation rate", s.median_activation_rate),
            ]),
            quantity: "test MSE / sharpness (2/eta) / median activation rate".into(),
            setting: format!(
                "eta = {}, {}",
                lr(r),
                if biased { "with bias" } else { "no bias" }
            ),
            measured: format!(
                "{} / {} ({}) / {}",
                num(s.test_mse),
                num(s.sharpness),
                num(Some(s.two_over_eta)),
                pct(s.median_activation_rate)
            ),
            paper: String::new(),
            verdict: Verdict::Context,
            criterion: String::new(),
            claim: None,
        });
    }
    if let (Some(w), Some(o)) = (with, without) {
        let (fw, fo) = (
            w.summary.frac_shattered.unwrap_or(f64::NAN),
            o.summary.frac_shattered.unwrap_or(f64::NAN),
        );
        a.rows.push(Row {
            parts: Vec::new(),
            quantity: "shattering without bias against with bias".into(),
            setting: format!("eta = {}", lr(w)),
            measured: format!("{} against {}", pct(Some(fo)), pct(Some(fw))),
            paper: "shattering disappears without bias".into(),
            verdict: verdict(fo <= 0.25 * fw && fo < 0.1),
            criterion: format!(
                "at most a quarter of the biased fraction, and below 10%; {}",
                Method::Point.describe()
            ),
            claim: None,
        });
        let claim = Claim::point(fo, None, (0.0, (0.25 * fw).min(0.1)));
        let last = a.rows.len() - 1;
        a.rows[last].verdict = claim.verdict();
        a.rows[last].claim = Some(claim);
        a.words.push(format!(
            "With biases {} of the active neurons fire on at most 10% of the data; without biases {} (median activation rate {} against {}). Test MSE: {} with bias, {} without.",
            pct(Some(fw)),
            pct(Some(fo)),
            pct(w.summary.median_activation_rate),
            pct(o.summary.median_activation_rate),
            num(w.summary.test_mse),
            num(o.summary.test_mse)
        ));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::analyse;
    use crate::reproduce::analysis::testing::completed;
    use crate::run::Summary;
    use crate::spec::RunSpec;

    #[test]
    fn no_bias_verdict_needs_much_less_shattering() {
        let run = |bias: bool, frac: f64| {
            completed(
                RunSpec {
                    bias: Some(bias),
                    lr: Some(0.9),
                    ..RunSpec::default()
                },
                Summary {
                    frac_shattered: Some(frac),
                    two_over_eta: 2.0 / 0.9,
                    ..Summary::default()
                },
            )
        };
        let a = analyse(&NoBias, &[run(true, 0.9), run(false, 0.02)]);
        let row = a
            .rows
            .iter()
            .find(|r| r.quantity.starts_with("shattering without bias"))
            .unwrap();
        assert_eq!(row.verdict, Verdict::Agrees, "{row:?}");
        let a = no_bias(&[run(true, 0.9), run(false, 0.6)]);
        let row = a
            .rows
            .iter()
            .find(|r| r.quantity.starts_with("shattering without bias"))
            .unwrap();
        assert_eq!(row.verdict, Verdict::Differs, "{row:?}");
    }
}
