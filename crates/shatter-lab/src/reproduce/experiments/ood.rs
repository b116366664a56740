//! The `ood` experiment: what dead and shattered neurons do outside the training support.
//!
//! The shattering arms (GD at eta = 0.9 without decay against eta = 0.01 with decay 0.1) on
//! inputs uniform in the unit ball, under PyTorch's 1/n loss (the convention under which the
//! papers' results come out, REPRODUCTION.md). Each trained network is evaluated on a test set
//! inside the ball and on one in the shell `1 <= ||x|| <= 1.5` just outside it, both labelled
//! with the noiseless linear target, and its output is split by neuron class
//! (`shatter_core::measure::support::class_outputs`): dead neurons never fire on the training
//! inputs and keep their initial weights, so whatever they do outside the support is untrained;
//! shattered neurons fire on at most 10% of the training inputs, near the boundary, with large
//! weights, so outside the ball they keep growing.

use super::{About, Experiment, Scale};
use crate::figures::{style as fmt, Comparison, ComparisonRow};
use crate::reproduce::analysis::{loss_of, Analysis, Claim, Row, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::{figure, ReportFigure};
use crate::reproduce::models::stored_model_and_problem;
use crate::reproduce::stats;
use crate::store::Store;
use shatter_core::measure::{class_outputs, neuron_stats, ClassOutputs, OutputClass};
use std::path::Path;

/// Inner and outer radius of the out-of-support test shell.
const SHELL: (f64, f64) = (1.0, 1.5);

/// Size of each test set.
const N_TEST: usize = 2000;

/// Test error inside and outside the support per neuron class.
pub struct Ood;

const ABOUT: About = About {
    id: "ood",
    figure: "Liang, Qiao, Wang, Parhi 2025 (arXiv:2506.20779): neural shattering, outside the support",
    what: "The shattering arms (GD eta = 0.9 against eta = 0.01 with decay 0.1) tested inside the unit ball and in the shell 1 <= ||x|| <= 1.5 outside it, with the network's output split into dead, negligible, shattered and broad neurons.",
    reported: "Shattered neurons fire near the boundary of the data with large weights and dead neurons keep untrained weights, so neither is constrained outside the support: the large-step fit extrapolates worse than it interpolates.",
};

impl Experiment for Ood {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        let mut a = Analysis::default();
        a.words.push(format!(
            "Each network is tested on {N_TEST} inputs inside the unit ball and {N_TEST} in the shell {} <= ||x|| <= {} outside it (noiseless targets).",
            SHELL.0, SHELL.1
        ));
        if runs.is_empty() {
            a.words.push("No completed runs.".into());
        }
        a
    }
    fn with_models(&self, store: &Store, runs: &[RunView], a: Analysis) -> Analysis {
        rows_from_models(&measure(store, runs), a)
    }
    fn figures(
        &self,
        store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        let mut figs = Vec::new();
        for (arm, outs) in measure(store, done) {
            let mut rows = Vec::new();
            for (c, class) in OutputClass::ALL.iter().enumerate() {
                for (place, pick) in [("in", true), ("out", false)] {
                    let values: Vec<f64> = outs
                        .iter()
                        .map(|o| {
                            let k = &o.classes[c];
                            if pick {
                                k.rms_inside
                            } else {
                                k.rms_outside
                            }
                        })
                        .collect();
                    rows.push(ComparisonRow {
                        label: format!("{} {place}", class.name()),
                        measured: stats::median(&values).unwrap_or(f64::NAN),
                        paper: None,
                    });
                }
            }
            let plot = Comparison {
                title: Some(format!("Output of each neuron class, {}", arm.label())),
                y_label: Some("RMS of the class's summed output".into()),
                rows,
            };
            figs.push(figure(
                &plot,
                "per-class output",
                &dir.join(format!("class_output_{}", arm.stem())),
                format!(
                    "Root mean square of the summed output of each neuron class on the test inputs inside the unit ball (in) and in the shell {} <= ||x|| <= {} outside it (out), median over {} seed(s); {}.",
                    SHELL.0, SHELL.1, outs.len(), arm.label()
                ),
            )?);
        }
        Ok(figs)
    }
}

fn spec(scale: Scale) -> String {
    let (n, width, epochs, ds, seeds) = match scale {
        Scale::Quick => (256, 512, 4000, "[5]", "[0, 1]"),
        Scale::Paper => (512, 2048, 20000, "[5, 10]", "[0, 1, 2]"),
    };
    format!(
        r#"name = "ood-{scale}"
description = "The shattering arms on the unit ball under PyTorch's 1/n loss, tested inside the ball and in the shell 1 <= ||x|| <= 1.5 outside it."

[base]
n = {n}
width = {width}
epochs = {epochs}
sigma = 1.0
clip = 50.0
input = "ball"
target = "linear"
loss = "mse"
n_test = {N_TEST}

[measure]
sharpness_every = 0
test_every = 0
log_every = 100

[grid]
d = {ds}
seed = {seeds}

[[zip]]
lr = [0.9, 0.01]
weight_decay = [0.0, 0.1]
"#
    )
}

/// Where a group of runs sits: loss, step, decay, dimension.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
struct Arm {
    loss: String,
    lr: f64,
    decay: f64,
    d: usize,
}

impl Arm {
    fn of(r: &RunView) -> Arm {
        Arm {
            loss: loss_of(r),
            lr: r.spec.lr.unwrap_or(f64::NAN),
            decay: r.spec.weight_decay.unwrap_or(0.0),
            d: r.spec.d.unwrap_or(0),
        }
    }

    fn label(&self) -> String {
        let decay = if self.decay > 0.0 {
            format!(" decay={}", fmt::fmt_num(self.decay))
        } else {
            String::new()
        };
        format!(
            "{}, eta={}{decay}, d={}",
            fmt::loss_label(&self.loss),
            fmt::fmt_num(self.lr),
            self.d
        )
    }

    fn stem(&self) -> String {
        format!("{}_eta{}_wd{}_d{}", self.loss, self.lr, self.decay, self.d).replace('.', "p")
    }

    /// The large-step arm without decay, where the network shatters.
    fn shatters(&self) -> bool {
        self.decay == 0.0
    }
}

/// The per-class outputs of every completed run with a usable model, grouped by arm (seeds in
/// order).
fn measure(store: &Store, runs: &[RunView]) -> Vec<(Arm, Vec<ClassOutputs>)> {
    let mut groups: Vec<(Arm, Vec<ClassOutputs>)> = Vec::new();
    let mut sorted: Vec<&RunView> = runs
        .iter()
        .filter(|r| r.summary.status == "completed")
        .collect();
    sorted.sort_by_key(|r| r.spec.seed.unwrap_or(0));
    for r in sorted {
        let Some(out) = measure_run(store, r) else {
            continue;
        };
        let arm = Arm::of(r);
        match groups.iter_mut().find(|(a, _)| *a == arm) {
            Some((_, v)) => v.push(out),
            None => groups.push((arm, vec![out])),
        }
    }
    groups.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    groups
}

fn measure_run(store: &Store, r: &RunView) -> Option<ClassOutputs> {
    let (model, problem) = stored_model_and_problem(store, r)?;
    let config = r.spec.check(None).ok()?;
    let net = model.to_network::<f64>(config.shape.bias, config.shape.activation)?;
    let stats = neuron_stats(&net, &problem.train).ok()?;
    let inside = problem.test_set(N_TEST);
    let outside = problem.shell_test_set(N_TEST, SHELL.0, SHELL.1).ok()?;
    class_outputs(&net, &stats, &inside, &outside).ok()
}

/// The comparison rows from the per-class outputs.
fn rows_from_models(groups: &[(Arm, Vec<ClassOutputs>)], mut a: Analysis) -> Analysis {
    for (arm, outs) in groups {
        let setting = arm.label();
        let ratio: Vec<f64> = outs.iter().map(|o| o.mse_outside / o.mse_inside).collect();
        let mse_text = format!(
            "{} outside against {} inside",
            sig(median_of(outs.iter().map(|o| o.mse_outside))),
            sig(median_of(outs.iter().map(|o| o.mse_inside)))
        );
        let ratio_claim =
            Claim::over_seeds(&ratio, None, (1.0, f64::INFINITY)).with_loss(&arm.loss);
        if arm.shatters() {
            a.rows.push(Row::claim(
                "test MSE outside the support / inside",
                setting.clone(),
                format!("{} ({mse_text})", sig(ratio_claim.estimate)),
                "above 1: the shattered fit is unconstrained outside the data",
                "ratio above 1",
                ratio_claim,
            ));
        } else {
            let mut row = Row::context(
                "test MSE outside the support / inside",
                setting.clone(),
                format!("{} ({mse_text})", sig(ratio_claim.estimate)),
                "weight decay: no shattering to blame",
            );
            row.claim = Some(Claim {
                agree: None,
                ..ratio_claim
            });
            a.rows.push(row);
        }
        let class = |c: OutputClass| OutputClass::ALL.iter().position(|&k| k == c).unwrap_or(0);
        let (shattered, dead) = (class(OutputClass::Shattered), class(OutputClass::Dead));
        if arm.shatters() {
            // How much faster the shattered neurons' output grows from inside to outside than
            // the target does (a large-step network may have no broad neuron to compare with).
            let growth: Vec<f64> = outs
                .iter()
                .map(|o| {
                    let s = &o.classes[shattered];
                    (s.rms_outside / s.rms_inside) / (o.rms_target_outside / o.rms_target_inside)
                })
                .collect();
            let growth_claim =
                Claim::over_seeds(&growth, None, (1.0, f64::INFINITY)).with_loss(&arm.loss);
            a.rows.push(Row::claim(
                "growth of the shattered neurons' output outside (RMS out / in) over the target's",
                setting.clone(),
                sig(growth_claim.estimate),
                "above 1: shattered neurons fire at the boundary and grow beyond it faster than the function they fit",
                "ratio of the two growths above 1",
                growth_claim,
            ));
            let drop: Vec<f64> = outs
                .iter()
                .map(|o| 1.0 - o.classes[shattered].mse_without_outside / o.mse_outside)
                .collect();
            let drop_claim =
                Claim::over_seeds(&drop, None, (0.0, f64::INFINITY)).with_loss(&arm.loss);
            a.rows.push(Row::claim(
                "relative fall of the outside test MSE when the shattered neurons are removed",
                setting.clone(),
                sig(drop_claim.estimate),
                "above 0: the shattered neurons carry the extrapolation error",
                "relative fall above 0",
                drop_claim,
            ));
        }
        for (c, name) in OutputClass::ALL.iter().enumerate() {
            let pick = |f: fn(&shatter_core::measure::ClassOutput) -> f64| {
                median_of(outs.iter().map(|o| f(&o.classes[c])))
            };
            a.rows.push(
                Row::context(
                    format!(
                        "{} neurons: count; RMS output in / out; test MSE out without them",
                        name.name()
                    ),
                    setting.clone(),
                    format!(
                        "{}; {} / {}; {}",
                        sig(pick(|k| k.neurons as f64)),
                        sig(pick(|k| k.rms_inside)),
                        sig(pick(|k| k.rms_outside)),
                        sig(pick(|k| k.mse_without_outside))
                    ),
                    "",
                )
                .with_numbers([
                    (
                        format!("{} neurons: count", name.name()),
                        Some(pick(|k| k.neurons as f64)),
                    ),
                    (
                        format!("{} neurons: RMS output inside", name.name()),
                        Some(pick(|k| k.rms_inside)),
                    ),
                    (
                        format!("{} neurons: RMS output outside", name.name()),
                        Some(pick(|k| k.rms_outside)),
                    ),
                    (
                        format!("{} neurons: test MSE outside without them", name.name()),
                        Some(pick(|k| k.mse_without_outside)),
                    ),
                ])
                .with_loss(&arm.loss),
            );
        }
        let dead_out = median_of(outs.iter().map(|o| o.classes[dead].rms_outside));
        if dead_out > 0.0 {
            a.words.push(format!(
                "{setting}: the dead neurons, silent on every training input, add an output of RMS {} outside the support.",
                sig(dead_out)
            ));
        }
    }
    a
}

fn median_of(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    stats::median(&v).unwrap_or(f64::NAN)
}

fn sig(v: f64) -> String {
    if v.is_finite() {
        fmt::format_sig(v, 3)
    } else {
        "-".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shatter_core::measure::ClassOutput;

    fn outputs(mse_in: f64, mse_out: f64, shattered_without: f64) -> ClassOutputs {
        let class = |c, rin, rout, without| ClassOutput {
            class: c,
            neurons: 3,
            rms_inside: rin,
            rms_outside: rout,
            mse_without_inside: mse_in,
            mse_without_outside: without,
        };
        ClassOutputs {
            mse_inside: mse_in,
            mse_outside: mse_out,
            rms_target_inside: 0.5,
            rms_target_outside: 0.75,
            classes: vec![
                class(OutputClass::Dead, 0.0, 0.2, mse_out),
                class(OutputClass::Negligible, 1e-4, 2e-4, mse_out),
                class(OutputClass::Shattered, 0.1, 0.9, shattered_without),
                class(OutputClass::Broad, 1.0, 1.5, 3.0),
            ],
        }
    }

    #[test]
    fn claims_follow_the_per_class_numbers() {
        let arm = |decay| Arm {
            loss: "mse".into(),
            lr: if decay > 0.0 { 0.01 } else { 0.9 },
            decay,
            d: 5,
        };
        let groups = vec![
            (
                arm(0.0),
                vec![
                    outputs(0.5, 2.0, 1.0),
                    outputs(0.6, 2.2, 1.1),
                    outputs(0.4, 1.9, 0.9),
                ],
            ),
            (arm(0.1), vec![outputs(0.05, 0.04, 0.04)]),
        ];
        let a = rows_from_models(&groups, Analysis::default());
        let verdict = |q: &str| {
            a.rows
                .iter()
                .find(|r| r.quantity.starts_with(q) && r.verdict.word() != "")
                .map(|r| r.verdict.word())
                .unwrap_or_else(|| panic!("no claim {q}: {:?}", a.rows))
        };
        assert_eq!(verdict("test MSE outside the support"), "agrees");
        assert_eq!(verdict("growth of the shattered"), "agrees");
        assert_eq!(verdict("relative fall"), "agrees");
        // The decay arm has context rows only: numbers (the ratio 0.04 / 0.05, each class's
        // values) under the arm's convention, no agreement interval.
        let decay_rows: Vec<_> = a
            .rows
            .iter()
            .filter(|r| r.setting.contains("decay"))
            .collect();
        assert!(
            decay_rows
                .iter()
                .all(|r| r.claim.as_ref().is_none_or(|c| c.agree.is_none())
                    && r.verdict.word().is_empty()),
            "{decay_rows:?}"
        );
        let ratio = decay_rows[0].claim.as_ref().expect("the ratio's number");
        assert!((ratio.estimate - 0.8).abs() < 1e-12 && ratio.loss == "mse");
        assert!(decay_rows[1..]
            .iter()
            .all(|r| r.parts.len() == 4 && r.parts.iter().all(|p| p.1.loss == "mse")));
        assert!(
            a.words.iter().any(|w| w.contains("dead neurons")),
            "{:?}",
            a.words
        );
        // A network whose removal of shattered neurons raises the outside error differs.
        let worse = vec![(
            arm(0.0),
            vec![outputs(0.5, 2.0, 3.0), outputs(0.5, 2.0, 3.5)],
        )];
        let b = rows_from_models(&worse, Analysis::default());
        let fall = b
            .rows
            .iter()
            .find(|r| r.quantity.starts_with("relative fall"))
            .unwrap();
        assert_eq!(fall.verdict.word(), "differs", "{fall:?}");
    }
}
