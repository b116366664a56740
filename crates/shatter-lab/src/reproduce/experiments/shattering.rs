//! The `shattering` experiment: Liang, Qiao, Wang, Parhi 2025, Fig. 1 and 3.

use super::{Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};

/// The sweep spec of `shattering` at `scale`.
fn spec_text(scale: Scale) -> String {
    let quick = scale == Scale::Quick;
    let (n, width, epochs, seeds) = if quick {
        (512, 1024, 8000, "[0]")
    } else {
        (512, 2048, 20000, "[0, 1, 2]")
    };
    format!(
        r#"name = "shattering-{scale}"
description = "Large step without decay against small step with weight decay (SCIENCE.md section 7, shattering)."

[base]
d = 10
n = {n}
width = {width}
epochs = {epochs}
sigma = 1.0
clip = 50.0
input = "ball"
target = "linear"
n_test = 2000

[measure]
sharpness_every = 100
test_every = 100
log_every = 10

[grid]
loss = ["square", "mse"]
seed = {seeds}

[[zip]]
lr = [0.9, 0.01]
weight_decay = [0.0, 0.1]
"#
    )
}

/// A large step (eta = 0.9, no decay) against a small step with weight decay (eta = 0.01, decay 0.1) on d = 10, n = 512, K = 2048.
pub struct Shattering;

impl Experiment for Shattering {
    fn id(&self) -> &'static str {
        "shattering"
    }
    fn figure(&self) -> &'static str {
        "Liang, Qiao, Wang, Parhi 2025, Fig. 1 and 3"
    }
    fn what(&self) -> &'static str {
        "A large step (eta = 0.9, no decay) against a small step with weight decay (eta = 0.01, decay 0.1) on d = 10, n = 512, K = 2048."
    }
    fn reported(&self) -> &'static str {
        "(a) sharpness oscillates near 2/eta = 2.2, neurons fire on <= 10% of the data with large norms, test MSE ~ 1.1; (b) all neurons active, small norms, test MSE ~ 0.055."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec_text(scale))
    }
    fn separates_losses(&self) -> bool {
        true
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        super::super::analysis::shattering(runs)
    }
    fn training_curves(&self) -> bool {
        true
    }
}
