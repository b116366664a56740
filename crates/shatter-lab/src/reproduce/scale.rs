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
