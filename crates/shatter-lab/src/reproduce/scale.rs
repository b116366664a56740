//! The two scales of a reproduction.

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

impl Scale {
    /// The `loss` axis of an experiment that runs both conventions at paper scale (the
    /// papers' 1/(2n) and PyTorch's 1/n, REPRODUCTION.md), as a `[grid]` line; at quick scale
    /// nothing (the default `square`), so quick runs stay a few minutes.
    pub fn both_losses_grid_line(self) -> &'static str {
        match self {
            Scale::Quick => "",
            Scale::Paper => "loss = [\"square\", \"mse\"]\n",
        }
    }

    /// The `loss` setting of an experiment too large to run twice at paper scale: PyTorch's
    /// 1/n there, the convention under which the papers' results come out (REPRODUCTION.md),
    /// as a `[base]` line; at quick scale nothing (the default `square`).
    pub fn papers_loss_base_line(self) -> &'static str {
        match self {
            Scale::Quick => "",
            Scale::Paper => "loss = \"mse\"\n",
        }
    }
}

/// Values as a TOML array body, each in Rust's `Debug` spelling (`0.5, 1.0`, `"a", "b"`).
pub fn toml_list<T: std::fmt::Debug>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
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
