//! The `underparam` experiment: Liang, Qiao, Wang, Parhi 2025, Fig. 6 and 7.

use super::{Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};

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

impl Experiment for Underparam {
    fn id(&self) -> &'static str {
        "underparam"
    }
    fn figure(&self) -> &'static str {
        "Liang, Qiao, Wang, Parhi 2025, Fig. 6 and 7"
    }
    fn what(&self) -> &'static str {
        "n = 1024, eta = 0.5 with K in {32, 48, 64} and decay in {0, 0.05}; and K = 16 with d in {32, 48, 64}."
    }
    fn reported(&self) -> &'static str {
        "Shattering persists even when the network is under-parameterised."
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec_text(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        super::super::analysis::underparam(runs)
    }
}
