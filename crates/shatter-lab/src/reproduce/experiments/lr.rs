//! The `lr` experiment: Liang, Qiao, Wang, Parhi 2025, Fig. 5.

use super::{Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};

/// The sweep spec of `lr` at `scale`.
fn spec_text(scale: Scale) -> String {
    let quick = scale == Scale::Quick;
    let (n, width, budget, lrs) = if quick {
        (512, 1024, 5000.0, [0.25, 0.5, 1.0, 2.0])
    } else {
        (512, 1024, 10000.0, [0.25, 0.5, 1.0, 2.0])
    };
    let epochs: Vec<String> = lrs
        .iter()
        .map(|lr| format!("{}", (budget / lr) as usize))
        .collect();
    let lrs: Vec<String> = lrs.iter().map(|lr| format!("{lr:?}")).collect();
    format!(
        r#"name = "lr-{scale}"
description = "d = 5 with eta x epochs = {budget}: larger steps, more neurons active on few points."

[base]
d = 5
n = {n}
width = {width}
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
lr = [{lrs}]
epochs = [{epochs}]
"#,
        lrs = lrs.join(", "),
        epochs = epochs.join(", "),
        losses = scale.both_losses_grid_line()
    )
}

/// d = 5 with eta times epochs fixed at 10000, eta swept.
pub struct StepSize;

impl Experiment for StepSize {
    fn id(&self) -> &'static str {
        "lr"
    }
    fn figure(&self) -> &'static str {
        "Liang, Qiao, Wang, Parhi 2025, Fig. 5"
    }
    fn what(&self) -> &'static str {
        "d = 5 with eta times epochs fixed at 10000, eta swept."
    }
    fn reported(&self) -> &'static str {
        "A larger eta gives more neurons active on few points, with larger norms."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec_text(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        super::super::analysis::step_size(runs)
    }
    fn training_curves(&self) -> bool {
        true
    }
}
