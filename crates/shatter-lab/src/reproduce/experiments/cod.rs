//! The `cod` experiment: Liang, Qiao, Wang, Parhi 2025, Fig. 2 and A.5.

use super::{Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};

/// The sweep spec of `cod` at `scale`.
fn spec_text(scale: Scale) -> String {
    let quick = scale == Scale::Quick;
    let (epochs, seeds) = if quick {
        (2000, "[0, 1, 2]")
    } else {
        (20000, "[0, 1, 2, 3, 4]")
    };
    format!(
        r#"name = "cod-{scale}"
description = "Test MSE against n for d = 1..5 with K = 4n: GD (eta = 0.2) against weight decay (eta = 0.01, decay 0.1)."

[base]
epochs = {epochs}
width_per_n = 4
sigma = 1.0
clip = 50.0
n_test = 1000

[measure]
sharpness_every = 0
test_every = 0
log_every = 100

[grid]
loss = ["square", "mse"]
d = [1, 2, 3, 4, 5]
n = [32, 64, 128, 256, 512]
seed = {seeds}

[[zip]]
lr = [0.2, 0.01]
weight_decay = [0.0, 0.1]
"#
    )
}

/// Test MSE against n for d = 1..5 (K = 4n, sigma = 1), GD with eta = 0.2 against eta = 0.01 with weight decay 0.1; slopes of log MSE against log n.
pub struct Cod;

impl Experiment for Cod {
    fn id(&self) -> &'static str {
        "cod"
    }
    fn figure(&self) -> &'static str {
        "Liang, Qiao, Wang, Parhi 2025, Fig. 2 and A.5"
    }
    fn what(&self) -> &'static str {
        "Test MSE against n for d = 1..5 (K = 4n, sigma = 1), GD with eta = 0.2 against eta = 0.01 with weight decay 0.1; slopes of log MSE against log n."
    }
    fn reported(&self) -> &'static str {
        "GD slopes fall to ~0.1 at d = 5; weight decay keeps slopes > 0.5."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec_text(scale))
    }
    fn separates_losses(&self) -> bool {
        true
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        super::super::analysis::rates(runs, super::super::analysis::RateClaim::Cod)
    }
}
