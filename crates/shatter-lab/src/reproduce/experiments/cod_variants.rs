//! The `cod-variants` experiment: Liang, Qiao, Wang, Parhi 2025, A.6 and A.7.

use super::cod::{rates, RateClaim};
use super::{About, Experiment, Scale};
use crate::reproduce::analysis::{Analysis, RunView};

/// The sweep spec of `cod-variants` at `scale`.
fn spec_text(scale: Scale) -> String {
    let quick = scale == Scale::Quick;
    let (epochs, seeds, ns) = if quick {
        (2000, "[0, 1]", "[32, 64, 128, 256]")
    } else {
        (20000, "[0, 1, 2, 3, 4]", "[32, 64, 128, 256, 512]")
    };
    format!(
        r#"name = "cod-variants-{scale}"
description = "Slopes of MSE against n with sigma^2 = 0.25, K = 2n, decay 0.01 (linear target) and with the Hölder-1/2 target for several step sizes."

[base]
epochs = {epochs}
width_per_n = 2
sigma = 0.5
clip = 50.0
n_test = 1000
{loss}
[measure]
sharpness_every = 0
test_every = 0
log_every = 100

[grid]
d = [1, 2, 3, 4, 5]
n = {ns}
seed = {seeds}

[[zip]]
target = ["linear", "linear", "holder", "holder", "holder", "holder"]
lr = [0.2, 0.01, 0.05, 0.1, 0.2, 0.4]
weight_decay = [0.0, 0.01, 0.0, 0.0, 0.0, 0.0]
"#,
        loss = scale.papers_loss_base_line()
    )
}

/// The cod experiment with sigma^2 = 0.25, K = 2n and decay 0.01; and with the Hölder-1/2 target for eta in {0.05, 0.1, 0.2, 0.4}.
pub struct CodVariants;

const ABOUT: About = About {
    id: "cod-variants",
    figure: "Liang, Qiao, Wang, Parhi 2025, A.6 and A.7",
    what: "The cod experiment with sigma^2 = 0.25, K = 2n and decay 0.01; and with the Hölder-1/2 target for eta in {0.05, 0.1, 0.2, 0.4}.",
    reported: "Slopes still flatten as d grows.",
};

impl Experiment for CodVariants {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec_text(scale))
    }
    fn separates_losses(&self) -> bool {
        true
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        rates(runs, RateClaim::Flatten)
    }
}
