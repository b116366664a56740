//! The typed settings layer: one definition per run setting (name, type, default, range, help,
//! how it enters the run id), written once in `spec.rs` through [`run_settings!`]. The macro
//! generates the [`RunSpec`](super::RunSpec) struct (serde keys and clap flags with the same
//! spelling, `--help` from the help text), the field-by-field merge (`overridden_by`), the
//! default filling of `resolved`, the range check of every field, and the [`SETTINGS`]
//! table (`super::SETTINGS`) that tests and documentation read. No value reaches a run without
//! passing its [`Range`]; merging never goes through JSON, so `NaN` and infinities reach the
//! check instead of silently becoming defaults.

use super::SpecError;
use std::path::PathBuf;

/// The allowed values of a setting, with the words an error shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Range {
    /// An integer in `min..=max`.
    Int {
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
        /// What the error says is allowed.
        expected: &'static str,
    },
    /// A finite float between `lo` and `hi` (each end open or closed). Non-finite values are
    /// always refused.
    Float {
        /// Lower end.
        lo: f64,
        /// Whether `lo` itself is refused.
        lo_open: bool,
        /// Upper end (`f64::INFINITY` for none: the value must still be finite).
        hi: f64,
        /// Whether `hi` itself is refused.
        hi_open: bool,
        /// What the error says is allowed.
        expected: &'static str,
    },
    /// Text checked by the run check (a name from a list, or a parsed form such as
    /// `teacher(8)`).
    Text,
    /// A file path (its contents enter the run id through their SHA-256).
    Path,
    /// A SHA-256 (64 lowercase hex digits) of an input file, computed by the check; a spec may
    /// set it to pin the file's contents.
    Sha256,
    /// `true` or `false`.
    Bool,
}

impl Range {
    /// A float range: positive and finite.
    pub const POSITIVE: Range = Range::Float {
        lo: 0.0,
        lo_open: true,
        hi: f64::INFINITY,
        hi_open: true,
        expected: "must be positive and finite",
    };

    /// Whether `x` lies in a float range (non-finite values never do).
    pub fn admits_float(&self, x: f64) -> bool {
        match *self {
            Range::Float {
                lo,
                lo_open,
                hi,
                hi_open,
                ..
            } => {
                x.is_finite()
                    && if lo_open { x > lo } else { x >= lo }
                    && if hi_open { x < hi } else { x <= hi }
            }
            _ => true,
        }
    }

    /// The words an out-of-range error shows.
    pub fn expected(&self) -> &'static str {
        match *self {
            Range::Int { expected, .. } | Range::Float { expected, .. } => expected,
            Range::Sha256 => "must be 64 lowercase hex digits (the SHA-256 of the file)",
            Range::Text | Range::Path | Range::Bool => "",
        }
    }
}

/// How a setting enters the run id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdRule {
    /// Always, with its resolved value (every setting of the first id scheme).
    Always,
    /// Only when its resolved value differs from its default, so that adding the setting
    /// did not change the id of any earlier run. Every setting added from now on uses this.
    UnlessDefault,
    /// Never as written: the run id uses the contents of the file (see `RunConfig::run_id`).
    ByContent,
}

/// One run setting as the table describes it.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// TOML key and struct field (`sharpness_every`); the flag is `--sharpness-every`.
    pub name: &'static str,
    /// Rust type of the value (`usize`, `f64`, `String`, `PathBuf`, `bool`, `u64`).
    pub kind: &'static str,
    /// Allowed values.
    pub range: Range,
    /// How it enters the run id.
    pub id: IdRule,
    /// Whether the command line has a flag for it (`bias` is `--no-bias`; hashes have none).
    pub flag: bool,
    /// The help text (`--help` shows it; it gives the default and the range).
    pub help: &'static str,
}

impl Setting {
    /// The setting called `name`.
    pub fn named(name: &str) -> Option<&'static Setting> {
        super::SETTINGS.iter().find(|s| s.name == name)
    }
}

/// A value that can be checked against a [`Range`]. `place` is the `file:line: ` prefix.
pub trait CheckValue {
    /// `Err` with the key, the value and the range's words when `self` is outside `range`.
    fn check_value(&self, key: &'static str, range: &Range, place: String)
        -> Result<(), SpecError>;
}

fn out_of_range(key: &'static str, value: String, range: &Range, place: String) -> SpecError {
    SpecError::OutOfRange {
        place,
        key,
        value,
        expected: range.expected().to_string(),
    }
}

impl CheckValue for f64 {
    fn check_value(
        &self,
        key: &'static str,
        range: &Range,
        place: String,
    ) -> Result<(), SpecError> {
        if range.admits_float(*self) {
            Ok(())
        } else {
            Err(out_of_range(key, self.to_string(), range, place))
        }
    }
}

macro_rules! int_check {
    ($($t:ty),*) => {$(
        impl CheckValue for $t {
            fn check_value(&self, key: &'static str, range: &Range, place: String) -> Result<(), SpecError> {
                match *range {
                    Range::Int { min, max, .. } if (*self as u64) < min || (*self as u64) > max => {
                        Err(out_of_range(key, self.to_string(), range, place))
                    }
                    _ => Ok(()),
                }
            }
        }
    )*};
}
int_check!(usize, u64);

impl CheckValue for String {
    fn check_value(
        &self,
        key: &'static str,
        range: &Range,
        place: String,
    ) -> Result<(), SpecError> {
        let hex =
            |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match range {
            Range::Sha256 if !hex(self) => {
                Err(out_of_range(key, format!("{self:?}"), range, place))
            }
            _ => Ok(()),
        }
    }
}

impl CheckValue for PathBuf {
    fn check_value(&self, _: &'static str, _: &Range, _: String) -> Result<(), SpecError> {
        Ok(())
    }
}

impl CheckValue for bool {
    fn check_value(&self, _: &'static str, _: &Range, _: String) -> Result<(), SpecError> {
        Ok(())
    }
}

/// Generates `RunSpec` and its table from one list of settings. Each entry:
///
/// ```text
/// name: Type, flag(clap attributes) | noflag, default |s| EXPR, range RANGE, id RULE, help "...";
/// ```
///
/// `default` is a closure from the spec being resolved (fields earlier in the list already
/// filled) to `Option<Type>`: `None` leaves the setting unset (for example `sigma` when a data
/// file replaces the generator).
macro_rules! run_settings {
    (
        $(
            $name:ident : $ty:ty,
            $(flag($($arg:tt)*))? $(noflag($noflag:tt))?,
            default $default:expr,
            range $range:expr,
            id $id:expr,
            help $help:expr;
        )+
    ) => {
        /// The settings of one run, as written in a TOML file or given as flags (flags
        /// override the file). Every field is optional; [`RunSpec::resolved`] fills in the
        /// defaults its help gives. Generated with [`SETTINGS`] from one list in `spec.rs`.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, clap::Args)]
        #[serde(deny_unknown_fields)]
        #[command(next_help_heading = "Run settings (also TOML keys, same names with underscores)")]
        pub struct RunSpec {
            $(
                #[doc = $help]
                $(#[arg($($arg)*)])?
                $(#[arg($noflag)])?
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<$ty>,
            )+
            /// Fix the hidden biases at zero (TOML: bias = false).
            #[arg(long)]
            #[serde(skip)]
            pub no_bias: bool,
        }

        /// Every run setting, in the order of `shatter train --help`.
        pub static SETTINGS: &[Setting] = &[
            $(
                Setting {
                    name: stringify!($name),
                    kind: stringify!($ty),
                    range: $range,
                    id: $id,
                    flag: run_settings!(@flag $($noflag)?),
                    help: $help,
                },
            )+
        ];

        impl RunSpec {
            /// Field by field: `over`'s value where it has one, else `self`'s; `no_bias` if
            /// either says so.
            fn merge_fields(&self, over: &RunSpec) -> RunSpec {
                RunSpec {
                    $( $name: over.$name.clone().or_else(|| self.$name.clone()), )+
                    no_bias: self.no_bias || over.no_bias,
                }
            }

            /// Fills every unset field with its default, in table order.
            #[allow(clippy::redundant_closure_call)]
            fn fill_defaults(&mut self) {
                $(
                    if self.$name.is_none() {
                        let default: fn(&RunSpec) -> Option<$ty> = $default;
                        self.$name = default(self);
                    }
                )+
            }

            /// Checks every set field against its range.
            fn check_ranges(&self, place: &dyn Fn(&str) -> String) -> Result<(), SpecError> {
                $(
                    if let Some(v) = &self.$name {
                        CheckValue::check_value(v, stringify!($name), &$range, place(stringify!($name)))?;
                    }
                )+
                Ok(())
            }

            /// The default of each [`IdRule::UnlessDefault`] setting as JSON, for the run id.
            #[allow(clippy::redundant_closure_call)]
            fn id_defaults() -> Vec<(&'static str, serde_json::Value)> {
                let empty = RunSpec::default();
                let mut out = Vec::new();
                $(
                    if $id == IdRule::UnlessDefault {
                        let default: fn(&RunSpec) -> Option<$ty> = $default;
                        if let Some(v) = default(&empty) {
                            out.push((stringify!($name), serde_json::to_value(v).unwrap_or_default()));
                        }
                    }
                )+
                out
            }
        }
    };
    (@flag) => { true };
    (@flag $x:tt) => { false };
}
pub(crate) use run_settings;
