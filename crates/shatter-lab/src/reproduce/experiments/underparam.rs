//! The `underparam` experiment: Liang, Qiao, Wang, Parhi 2025, Fig. 6 and 7.

use super::{About, Experiment, Scale};
use crate::reproduce::analysis::{decay, pct, Analysis, Claim, Row, RunView};

/// The sweep spec of `underparam` at `scale`.
fn spec_text(scale: Scale) -> String {
    let quick = scale == Scale::Quick;
    let (n, epochs) = if quick { (1024, 10000) } else { (1024, 20000) };
    format!(
        r#"name = "underparam-{scale}"
description = "Under-parameterised networks at eta = 0.5: K in (32, 48, 64) with and without decay on d = 5, and K = 16 with d in (32, 48, 64)."

[base]
n = {n}
lr = 0.5
epochs = {epochs}
sigma = 1.0
clip = 50.0
n_test = 1000

[measure]
sharpness_every = 500
test_every = 500
log_every = 50

[grid]
{losses}
[[zip]]
d = [5, 5, 5, 5, 5, 5, 32, 48, 64]
width = [32, 48, 64, 32, 48, 64, 16, 16, 16]
weight_decay = [0.0, 0.0, 0.0, 0.05, 0.05, 0.05, 0.0, 0.0, 0.0]
"#,
        losses = scale.both_losses_grid_line()
    )
}

/// n = 1024, eta = 0.5 with K in {32, 48, 64} and decay in {0, 0.05}; and K = 16 with d in {32, 48, 64}.
pub struct Underparam;

const ABOUT: About = About {
    id: "underparam",
    figure: "Liang, Qiao, Wang, Parhi 2025, Fig. 6 and 7",
    what: "n = 1024, eta = 0.5 with K in {32, 48, 64} and decay in {0, 0.05}; and K = 16 with d in {32, 48, 64}.",
    reported: "Shattering persists even when the network is under-parameterised.",
};

impl Experiment for Underparam {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec_text(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        underparam(runs)
    }
}

/// The fewest shattered neurons (active, firing on <= 10% of the data) that count as
/// shattering in a network of width `k`: 10% of the neurons, but never fewer than 2. At
/// `K = 16` one neuron is 6% of the network and could be one stray unit, so a fraction alone
/// is no criterion there: 2 neurons (12%) are; at `K = 32, 48, 64` the count is 4, 5, 7.
pub fn min_shattered(k: usize) -> usize {
    k.div_ceil(10).max(2)
}

/// `underparam` (Liang, Qiao, Wang, Parhi 2025, Fig. 6 and 7): without weight decay shattering
/// persists even with few neurons (at least [`min_shattered`] of them); with weight decay the
/// papers find it prevented (Fig. 1 (b) and Fig. 6: all neurons active, small norms), so fewer
/// than that many shatter.
fn underparam(runs: &[RunView]) -> Analysis {
    let mut a = Analysis::default();
    let (mut shattered, mut no_decay, mut prevented, mut with_decay) = (0, 0, 0, 0);
    for r in runs {
        let k = r.spec.width.unwrap_or(0);
        let need = min_shattered(k);
        let count = r.summary.count_shattered;
        let decayed = decay(r) > 0.0;
        let shatters = count.map(|c| c >= need);
        if decayed {
            with_decay += 1;
            prevented += usize::from(shatters == Some(false));
        } else {
            no_decay += 1;
            shattered += usize::from(shatters == Some(true));
        }
        let (paper, criterion, agree) = if decayed {
            (
                "prevented by weight decay (Fig. 6: all neurons active)".to_string(),
                format!("fewer than {need} of K = {k} neurons"),
                (0.0, need as f64 - 0.5),
            )
        } else {
            (
                "shattering persists (Fig. 6, 7)".to_string(),
                format!("at least {need} of K = {k} neurons (10%, at least 2)"),
                (need as f64, k as f64),
            )
        };
        let setting = format!(
            "d = {}, K = {k}, decay = {}",
            r.spec.d.unwrap_or(0),
            decay(r)
        );
        let measured = match count {
            Some(c) => format!(
                "{c} of {k} ({} of the active neurons; {} dead)",
                pct(r.summary.frac_shattered),
                pct(r.summary.frac_dead)
            ),
            None => "-".into(),
        };
        // One run per setting: the count decides (no interval over seeds).
        a.rows.push(match count {
            Some(c) => Row::claim(
                "active neurons firing on <= 10% of the data",
                setting,
                measured,
                paper,
                &criterion,
                Claim::point(c as f64, None, agree),
            ),
            None => Row::context(
                "active neurons firing on <= 10% of the data",
                setting,
                measured,
                paper,
            ),
        });
    }
    a.words.push(format!("Without weight decay {shattered} of {no_decay} under-parameterised settings shatter (at least 10% of their neurons, and at least 2, active and firing on at most 10% of the data); with weight decay {prevented} of {with_decay} do not."));
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::analyse;
    use crate::reproduce::analysis::Verdict;
    use crate::run::Summary;
    use crate::spec::RunSpec;

    /// An `underparam` run: `d`, `K`, decay and the number of shattered (active, low-rate)
    /// neurons.
    fn under(d: usize, k: usize, wd: f64, shattered: Option<usize>) -> RunView {
        let spec = RunSpec {
            d: Some(d),
            n: Some(1024),
            width: Some(k),
            lr: Some(0.5),
            weight_decay: Some(wd),
            ..RunSpec::default()
        }
        .resolved();
        RunView {
            run_id: spec.run_id(),
            spec,
            summary: Summary {
                count_shattered: shattered,
                frac_shattered: shattered.map(|c| c as f64 / k as f64),
                status: "completed".into(),
                two_over_eta: 4.0,
                ..Summary::default()
            },
        }
    }

    #[test]
    fn shattering_threshold_is_a_count_that_makes_sense_at_small_width() {
        assert_eq!(min_shattered(16), 2, "one neuron of 16 (6%) is not enough");
        assert_eq!(min_shattered(32), 4);
        assert_eq!(min_shattered(48), 5);
        assert_eq!(min_shattered(64), 7);
        assert_eq!(min_shattered(2048), 205);
    }

    #[test]
    fn underparam_expects_shattering_without_decay_and_none_with_it() {
        let runs = [
            under(32, 16, 0.0, Some(1)),  // one neuron of 16: not shattering
            under(48, 16, 0.0, Some(2)),  // two: shattering
            under(5, 32, 0.0, Some(4)),   // 12.5%: shattering
            under(5, 32, 0.05, Some(0)),  // decay: prevented, as the paper says
            under(5, 64, 0.05, Some(10)), // decay, yet shattering: differs from the paper
            under(5, 48, 0.05, None),     // an old store without the statistic: no verdict
        ];
        let a = analyse(&Underparam, &runs);
        let verdicts: Vec<Verdict> = a.rows.iter().map(|r| r.verdict).collect();
        use Verdict::*;
        assert_eq!(
            verdicts,
            vec![Differs, Agrees, Agrees, Agrees, Differs, Context],
            "{:?}",
            a.rows
        );
        assert!(a.rows[3].paper.contains("prevented"), "{:?}", a.rows[3]);
        assert!(
            a.rows[0].criterion.contains("at least 2 of K = 16"),
            "{:?}",
            a.rows[0]
        );
    }

    #[test]
    fn experiments_without_their_own_loss_handling_are_analysed_per_convention() {
        let with_loss = |mut r: RunView, loss: &str| {
            r.spec.loss = Some(loss.into());
            r
        };
        // Under 1/(2n) the setting shatters (2 of 16), under 1/n it does not (1 of 16).
        let runs = [
            with_loss(under(48, 16, 0.0, Some(2)), "square"),
            with_loss(under(48, 16, 0.0, Some(1)), "mse"),
        ];
        let a = analyse(&Underparam, &runs);
        let tagged: Vec<(&str, &str, Verdict)> = a
            .rows
            .iter()
            .map(|r| {
                (
                    r.claim.as_ref().map_or("", |c| c.loss.as_str()),
                    r.setting.split(',').next().unwrap_or(""),
                    r.verdict,
                )
            })
            .collect();
        assert_eq!(
            tagged,
            vec![
                ("mse", "mse (PyTorch's 1/n)", Verdict::Differs),
                ("square", "square (the papers' 1/(2n))", Verdict::Agrees),
            ],
            "{:?}",
            a.rows
        );
        assert_eq!(a.words.len(), 2, "{:?}", a.words);
        assert!(a.words[0]
            .starts_with("Under the mse (PyTorch's 1/n) loss: Without weight decay 0 of 1"));
        assert!(
            a.words[1].contains("Without weight decay 1 of 1"),
            "{:?}",
            a.words
        );
        // One convention: rows as the experiment wrote them.
        let one = analyse(&Underparam, &runs[..1]);
        assert!(one.rows[0].setting.starts_with("d = 48"), "{:?}", one.rows);
    }
}
