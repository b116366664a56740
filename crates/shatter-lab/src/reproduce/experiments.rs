//! The built-in experiments of SCIENCE.md section 7, each a sweep spec at two scales: `paper`
//! (the papers' sizes, epochs and seeds) and `quick` (the same phenomenon at reduced size, a few
//! minutes on two cores). `shatter reproduce ID --print-spec` prints them so users can copy one
//! as a starting point.

use std::fmt;
use std::str::FromStr;

/// How large a reproduction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scale {
    /// Reduced sizes: minutes on a laptop.
    Quick,
    /// The papers' sizes, epochs and seed counts.
    Paper,
}

impl FromStr for Scale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "quick" => Ok(Scale::Quick),
            "paper" => Ok(Scale::Paper),
            other => Err(format!("unknown scale {other:?}: quick or paper")),
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scale::Quick => "quick",
            Scale::Paper => "paper",
        })
    }
}

/// One experiment of SCIENCE.md section 7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Experiment {
    /// The id users type (`shatter reproduce cod`).
    pub id: &'static str,
    /// Which figure of which paper.
    pub figure: &'static str,
    /// What it shows, in one sentence.
    pub what: &'static str,
    /// The outcome the paper reports.
    pub reported: &'static str,
}

/// Every experiment `shatter reproduce all` runs, in order.
pub const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        id: "shattering",
        figure: "Liang, Qiao, Wang, Parhi 2025, Fig. 1 and 3",
        what: "A large step (eta = 0.9, no decay) against a small step with weight decay (eta = 0.01, decay 0.1) on d = 10, n = 512, K = 2048.",
        reported: "(a) sharpness oscillates near 2/eta = 2.2, neurons fire on <= 10% of the data with large norms, test MSE ~ 1.1; (b) all neurons active, small norms, test MSE ~ 0.055.",
    },
    Experiment {
        id: "cod",
        figure: "Liang, Qiao, Wang, Parhi 2025, Fig. 2 and A.5",
        what: "Test MSE against n for d = 1..5 (K = 4n, sigma = 1), GD with eta = 0.2 against eta = 0.01 with weight decay 0.1; slopes of log MSE against log n.",
        reported: "GD slopes fall to ~0.1 at d = 5; weight decay keeps slopes > 0.5.",
    },
    Experiment {
        id: "dims",
        figure: "Liang, Qiao, Wang, Parhi 2025, Fig. 4",
        what: "n = 512, K = 1024, eta = 0.5 for d = 1..6: how many neurons stay active.",
        reported: "The fraction of neurons still active at the end rises from 0% (d = 1) to ~65% (d = 6); train loss falls and MSE rises with d.",
    },
    Experiment {
        id: "lr",
        figure: "Liang, Qiao, Wang, Parhi 2025, Fig. 5",
        what: "d = 5 with eta times epochs fixed at 10000, eta swept.",
        reported: "A larger eta gives more neurons active on few points, with larger norms.",
    },
    Experiment {
        id: "underparam",
        figure: "Liang, Qiao, Wang, Parhi 2025, Fig. 6 and 7",
        what: "n = 1024, eta = 0.5 with K in {32, 48, 64} and decay in {0, 0.05}; and K = 16 with d in {32, 48, 64}.",
        reported: "Shattering persists even when the network is under-parameterised.",
    },
    Experiment {
        id: "gelu",
        figure: "Liang, Qiao, Wang, Parhi 2025, Fig. 8",
        what: "The dims experiment with GELU activations.",
        reported: "The same trend as with ReLU.",
    },
    Experiment {
        id: "cod-variants",
        figure: "Liang, Qiao, Wang, Parhi 2025, A.6 and A.7",
        what: "The cod experiment with sigma^2 = 0.25, K = 2n and decay 0.01; and with the Hölder-1/2 target for eta in {0.05, 0.1, 0.2, 0.4}.",
        reported: "Slopes still flatten as d grows.",
    },
    Experiment {
        id: "univariate",
        figure: "Qiao, Zhang, Singh, Soudry, Wang 2024 (arXiv:2406.06838)",
        what: "About 30 noisy points of sin(pi x) on [-1, 1] fitted by a univariate ReLU network, step sizes from well below 1/(n^2 sigma) up to 0.4.",
        reported: "Larger eta: fewer linear pieces, knots away from data points, sparser output weights; sharpness tracks 2/eta; U-shaped test MSE against eta; interpolation only for eta ~ 1/(n^2 sigma).",
    },
    Experiment {
        id: "no-bias",
        figure: "Liang, Qiao, Wang, Parhi 2025 (discussion of the mechanism)",
        what: "The shattering setting (d = 10, eta = 0.9, no decay) with and without hidden biases.",
        reported: "Without biases every neuron is a half-space through the origin and shattering disappears.",
    },
    Experiment {
        id: "geometry",
        figure: "Liang, Cloninger, Parhi, Wang 2025 (arXiv:2510.18120)",
        what: "Test MSE against n for inputs on a union of m-dimensional subspaces of R^D (m = 1, 2; D = 5, 10), beside full-dimensional ball and radial-Beta inputs in R^10.",
        reported: "Rates of stable minima follow the intrinsic dimension m, not the ambient D.",
    },
    Experiment {
        id: "logistic",
        figure: "Qiao and Wang 2025 (arXiv:2512.01473)",
        what: "Univariate logistic regression with labels drawn from sigmoid(sin(pi x)): sharpness, path norm and excess risk against step size and training length.",
        reported: "Flatness alone does not control logistic regression: flat solutions can fit noisy labels with a growing norm; a norm bound is needed as well.",
    },
    Experiment {
        id: "mixup",
        figure: "Issue 7 (mixup beside the shattering setting)",
        what: "The shattering setting (d = 10, eta = 0.9, no decay) trained on mixup batches with alpha in {0.2, 1} beside plain GD.",
        reported: "No number in the literature: the report measures how mixup changes the fraction of neurons firing on few points and the test MSE.",
    },
];

/// The experiment with this id.
pub fn experiment(id: &str) -> Option<&'static Experiment> {
    EXPERIMENTS.iter().find(|e| e.id == id)
}

/// The ids, comma-separated, for messages.
pub fn experiment_ids() -> String {
    EXPERIMENTS
        .iter()
        .map(|e| e.id)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sweep spec (TOML) of experiment `id` at `scale`. The loss convention is a grid axis where
/// the report compares conventions (SCIENCE.md section 7: `shattering` and `cod` at quick scale
/// run both); otherwise the papers' `square` (1/(2n)) loss.
pub fn spec_text(id: &str, scale: Scale) -> Option<String> {
    let quick = scale == Scale::Quick;
    let text = match id {
        "shattering" => {
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
        "cod" => {
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
        "dims" | "gelu" => {
            let (n, width, epochs) = if quick {
                (512, 1024, 10000)
            } else {
                (512, 1024, 20000)
            };
            let activation = if id == "gelu" { "gelu" } else { "relu" };
            format!(
                r#"name = "{id}-{scale}"
description = "eta = 0.5 for d = 1..6 with {activation}: the fraction of neurons still active."

[base]
n = {n}
width = {width}
lr = 0.5
epochs = {epochs}
activation = "{activation}"
sigma = 1.0
clip = 50.0
n_test = 1000

[measure]
sharpness_every = 500
test_every = 500
log_every = 50

[grid]
d = [1, 2, 3, 4, 5, 6]
"#
            )
        }
        "lr" => {
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

[[zip]]
lr = [{lrs}]
epochs = [{epochs}]
"#,
                lrs = lrs.join(", "),
                epochs = epochs.join(", ")
            )
        }
        "underparam" => {
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

[[zip]]
d = [5, 5, 5, 5, 5, 5, 32, 48, 64]
width = [32, 48, 64, 32, 48, 64, 16, 16, 16]
weight_decay = [0.0, 0.0, 0.0, 0.05, 0.05, 0.05, 0.0, 0.0, 0.0]
"#
            )
        }
        "cod-variants" => {
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
"#
            )
        }
        "univariate" | "no-bias" | "geometry" | "logistic" | "mixup" => {
            return super::literature::spec_text(id, scale)
        }
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::SweepSpec;

    #[test]
    fn every_built_in_spec_parses_and_expands_at_both_scales() {
        for e in EXPERIMENTS {
            for scale in [Scale::Quick, Scale::Paper] {
                let text = spec_text(e.id, scale).expect("a spec for every experiment");
                let spec = SweepSpec::from_toml(&text, "built-in")
                    .unwrap_or_else(|err| panic!("{} {scale}: {err}", e.id));
                let points = spec
                    .points()
                    .unwrap_or_else(|err| panic!("{} {scale}: {err}", e.id));
                assert!(!points.is_empty(), "{} {scale}", e.id);
                // Printing the spec and reading it back gives the same runs.
                let again = SweepSpec::from_toml(&text, "printed")
                    .unwrap()
                    .points()
                    .unwrap();
                let ids: Vec<_> = points.iter().map(|p| p.run_id.clone()).collect();
                let ids_again: Vec<_> = again.iter().map(|p| p.run_id.clone()).collect();
                assert_eq!(ids, ids_again, "{} {scale}", e.id);
            }
        }
    }

    #[test]
    fn paper_scale_uses_the_papers_sizes() {
        let count = |id, scale| {
            SweepSpec::from_toml(&spec_text(id, scale).unwrap(), "x")
                .unwrap()
                .points()
                .unwrap()
        };
        let cod = count("cod", Scale::Paper);
        assert_eq!(cod.len(), 500, "5 d x 5 n x 5 seeds x 2 arms x 2 loss conventions");
        assert!(cod.iter().all(
            |p| p.config.train.epochs == 20000 && p.config.shape.width == 4 * p.config.data_n()
        ));
        let shattering = count("shattering", Scale::Paper);
        assert!(shattering.iter().all(|p| p.config.shape.width == 2048
            && p.config.shape.d == 10
            && p.config.train.epochs == 20000));
        assert_eq!(shattering.len(), 12, "two arms x 3 seeds x both loss conventions");
        let quick = count("shattering", Scale::Quick);
        assert_eq!(quick.len(), 4, "two arms under both loss conventions");
    }

    #[test]
    fn unknown_ids_have_no_spec() {
        assert!(spec_text("nope", Scale::Quick).is_none());
        assert!(experiment("nope").is_none());
        assert!(experiment_ids().contains("cod-variants"));
    }
}
