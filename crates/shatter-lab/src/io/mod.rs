//! Data and model files: reading user data sets (CSV, `.npy`, our `data.npz`), writing and
//! reading `model.npz` and `data.npz`. Every value read is checked (finite, rectangular, the
//! expected dimension) and every problem is reported with the file and the place in it.
//! Writes are crash-safe: a temporary file in the same folder, `fsync`, then a rename, so a
//! half-written file never exists under its final name. Generating data is `shatter-core`'s
//! job; deciding which file a run reads is the spec's.
//!
//! Conventions. CSV places are reported as a user sees them in an editor: 1-based line
//! numbers (counting comment and blank lines) and 1-based column numbers. Array places are
//! reported as a Python user indexes them: `X[3, 1]`, 0-based. [`LabelColumn::Index`] is
//! 0-based, as in NumPy and pandas.
//!
//! Files: `read_csv` (CSV tables), `read_npy` (`.npy`, `.npz` data sets and `model.npz`),
//! `write` (crash-safe `.npz` writers); this file holds the shared error type, the label-column
//! choice, the format dispatch and [`ModelArrays`].

mod read_csv;
mod read_npy;
mod write;

pub use read_csv::load_dataset_csv;
pub use read_npy::{load_dataset_npy, load_model_npz, read_result_model_npz};
pub use write::{save_data_npz, save_model_npz, write_atomically, write_file_atomically};

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ndarray_npy::{ReadNpyError, ReadNpzError, WriteNpzError};
use shatter_core::model::{Activation, Network, Shape};
use shatter_core::{Dataset, Float};

/// A data or model file that cannot be read or written. Every variant names the file, and
/// the line and column (CSV) or array and index (`.npy`, `.npz`) where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The operating system refused to open, read, write or rename a file.
    #[error("{}: {source}", path.display())]
    Os {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The CSV reader failed (for example on invalid UTF-8).
    #[error("{}: {source}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// What the CSV reader said, with its position.
        source: csv::Error,
    },
    /// A CSV field that is not a number.
    #[error("{}:{line}: column {column}{hint}: `{text}` is not a number", path.display())]
    NotANumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// 1-based column number.
        column: usize,
        /// The field as written.
        text: String,
        /// Extra words (a column name, or a hint about header rows), possibly empty.
        hint: String,
    },
    /// A CSV field that is NaN or infinite.
    #[error("{}:{line}: column {column} is `{text}`; values must be finite", path.display())]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// 1-based column number.
        column: usize,
        /// The field as written.
        text: String,
    },
    /// A CSV row with a different number of columns than the first data row.
    #[error("{}:{line}: row has {found} columns but line {first_line} has {expected}", path.display())]
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the offending row.
        line: u64,
        /// Its number of columns.
        found: usize,
        /// The number of columns of the first data row.
        expected: usize,
        /// 1-based line number of the first data row.
        first_line: u64,
    },
    /// CSV rows whose number of inputs is not the expected `d`.
    #[error("{}:{line}: rows have {found} inputs (plus a label) but d = {expected} was expected", path.display())]
    WrongDimension {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the first data row.
        line: u64,
        /// Inputs per row (columns less the label).
        found: usize,
        /// The expected input dimension.
        expected: usize,
    },
    /// A CSV whose rows have fewer than two columns (no room for inputs and a label).
    #[error("{}:{line}: row has {found} column(s); a data set needs at least one input column and a label column", path.display())]
    TooFewColumns {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The number of columns found.
        found: usize,
    },
    /// A file with no data rows (empty, only comments, or only a header).
    #[error("{}: no data rows{}", path.display(), if *header { " (only a header)" } else { "" })]
    NoRows {
        /// The file.
        path: PathBuf,
        /// Whether a header row was found.
        header: bool,
    },
    /// A label column asked for by name in a CSV without a header row.
    #[error("{}: label column `{name}` asked for by name, but the file has no header row", path.display())]
    NoHeader {
        /// The file.
        path: PathBuf,
        /// The requested name.
        name: String,
    },
    /// A label column name that is not in the header.
    #[error("{}: no column named `{name}`; the header has {}", path.display(), available.join(", "))]
    UnknownColumn {
        /// The file.
        path: PathBuf,
        /// The requested name.
        name: String,
        /// The names in the header.
        available: Vec<String>,
    },
    /// A label column index past the last column.
    #[error("{}: label column {index} (0-based) does not exist; rows have {columns} columns", path.display())]
    ColumnOutOfRange {
        /// The file.
        path: PathBuf,
        /// The requested 0-based index.
        index: usize,
        /// The number of columns.
        columns: usize,
    },
    /// A label column choice that does not apply to the file's format.
    #[error("{}: {why}", path.display())]
    LabelColumnNotApplicable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A `.npy` file or an array of an `.npz` that cannot be parsed.
    #[error("{}: array `{array}`: {source}", path.display())]
    Npy {
        /// The file.
        path: PathBuf,
        /// The array (`array` for a `.npy`).
        array: String,
        /// What the reader said.
        source: ReadNpyError,
    },
    /// An `.npz` that is not a readable zip archive.
    #[error("{}: {source}", path.display())]
    Npz {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        source: ReadNpzError,
    },
    /// An `.npz` without a required array.
    #[error("{}: no array `{array}`; the file has {}", path.display(), if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    MissingArray {
        /// The file.
        path: PathBuf,
        /// The missing array.
        array: String,
        /// The arrays the file has.
        available: Vec<String>,
    },
    /// An array of another dtype than float32 or float64.
    #[error("{}: array `{array}` has dtype {dtype}; expected float32 or float64", path.display())]
    WrongDtype {
        /// The file.
        path: PathBuf,
        /// The array.
        array: String,
        /// Its NumPy descriptor.
        dtype: String,
    },
    /// An array of the wrong shape.
    #[error("{}: array `{array}` has shape {found:?}; expected {expected}", path.display())]
    WrongShape {
        /// The file.
        path: PathBuf,
        /// The array.
        array: String,
        /// Its shape.
        found: Vec<usize>,
        /// The expected shape, in words.
        expected: String,
    },
    /// A NaN or infinite element of a data array.
    #[error("{}: {array}[{index}] is {value}; values must be finite", path.display())]
    NonFiniteElement {
        /// The file.
        path: PathBuf,
        /// The array (`array` for a `.npy`).
        array: String,
        /// The 0-based index, as NumPy writes it (`3, 1`).
        index: String,
        /// The value found.
        value: f64,
    },
    /// An array data set whose inputs are not the expected `d`.
    #[error("{}: array `{array}` has {found} inputs per row but d = {expected} was expected", path.display())]
    WrongArrayDimension {
        /// The file.
        path: PathBuf,
        /// The array.
        array: String,
        /// Inputs per row.
        found: usize,
        /// The expected input dimension.
        expected: usize,
    },
    /// Model arrays whose lengths do not fit together (when saving).
    #[error("{}: model arrays do not fit: {why}", path.display())]
    InconsistentModel {
        /// The file.
        path: PathBuf,
        /// Which lengths disagree.
        why: String,
    },
    /// Writing an `.npz` failed.
    #[error("{}: writing array `{array}`: {source}", path.display())]
    WriteNpz {
        /// The file.
        path: PathBuf,
        /// The array being written (or `(archive)` when finishing).
        array: String,
        /// What the writer said.
        source: WriteNpzError,
    },
}

fn os_error(path: &Path) -> impl FnOnce(std::io::Error) -> IoError + '_ {
    move |source| IoError::Os {
        path: path.to_path_buf(),
        source,
    }
}

/// Which column of a CSV or `.npy` table holds the labels.
///
/// Parses from a string (for flags and specs): `last`, a 0-based index such as `0`, or a
/// header name.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum LabelColumn {
    /// The last column (the default).
    #[default]
    Last,
    /// The column with this 0-based index.
    Index(usize),
    /// The column with this header name (CSV with a header row only).
    Name(String),
}

impl FromStr for LabelColumn {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Ok(if s == "last" {
            LabelColumn::Last
        } else if let Ok(i) = s.parse() {
            LabelColumn::Index(i)
        } else {
            LabelColumn::Name(s.to_string())
        })
    }
}

impl fmt::Display for LabelColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelColumn::Last => f.write_str("last"),
            LabelColumn::Index(i) => write!(f, "{i}"),
            LabelColumn::Name(n) => f.write_str(n),
        }
    }
}

/// Splits a table of `columns` columns into inputs and labels: returns the label column.
fn label_index(
    path: &Path,
    label: &LabelColumn,
    columns: usize,
    header: Option<&[String]>,
) -> Result<usize, IoError> {
    match label {
        LabelColumn::Last => Ok(columns - 1),
        LabelColumn::Index(i) if *i < columns => Ok(*i),
        LabelColumn::Index(i) => Err(IoError::ColumnOutOfRange {
            path: path.to_path_buf(),
            index: *i,
            columns,
        }),
        LabelColumn::Name(name) => match header {
            None => Err(IoError::NoHeader {
                path: path.to_path_buf(),
                name: name.clone(),
            }),
            Some(names) => {
                names
                    .iter()
                    .position(|h| h == name)
                    .ok_or_else(|| IoError::UnknownColumn {
                        path: path.to_path_buf(),
                        name: name.clone(),
                        available: names.to_vec(),
                    })
            }
        },
    }
}

/// Reads a data set from any supported file: `.npy` and `.npz` are recognised by their
/// contents (magic bytes), anything else is read as CSV (tab-separated when the name ends in
/// `.tsv`). See [`load_dataset_csv`] and [`load_dataset_npy`].
pub fn load_dataset(
    path: &Path,
    label: &LabelColumn,
    expected_d: Option<usize>,
) -> Result<Dataset<f64>, IoError> {
    match sniff(path)? {
        Kind::Npy | Kind::Npz => load_dataset_npy(path, label, expected_d),
        Kind::Other => load_dataset_csv(path, label, expected_d),
    }
}

enum Kind {
    Npy,
    Npz,
    Other,
}

/// Recognises `.npy` (`\x93NUMPY`) and `.npz` (a zip: `PK`) files by their first bytes.
fn sniff(path: &Path) -> Result<Kind, IoError> {
    let mut head = [0u8; 6];
    let mut file = File::open(path).map_err(os_error(path))?;
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]).map_err(os_error(path))? {
            0 => break,
            k => got += k,
        }
    }
    Ok(if got >= 6 && &head == b"\x93NUMPY" {
        Kind::Npy
    } else if got >= 2 && &head[..2] == b"PK" {
        Kind::Npz
    } else {
        Kind::Other
    })
}

/// The four arrays of `model.npz` (SCIENCE.md section 2): `W` (`K x d`, row-major, row `k`
/// is `w_k`), `b` (`K`), `v` (`K`) and the scalar `beta`, in `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelArrays {
    /// Width `K`.
    pub k: usize,
    /// Input dimension `d`.
    pub d: usize,
    /// Input weights, `K x d` row-major.
    pub w: Vec<f64>,
    /// Hidden biases (`K`).
    pub b: Vec<f64>,
    /// Output weights (`K`).
    pub v: Vec<f64>,
    /// Output bias.
    pub beta: f64,
}

impl ModelArrays {
    /// The arrays of a network, converted to `f64` (allocates `K d + 2 K` values).
    pub fn from_network<F: Float>(net: &Network<F>) -> Self {
        let to64 = |s: &[F]| s.iter().map(|v| v.to64()).collect::<Vec<f64>>();
        ModelArrays {
            k: net.shape.width,
            d: net.shape.d,
            w: to64(&net.w_matrix()),
            b: to64(net.b()),
            v: to64(net.v()),
            beta: net.beta().to64(),
        }
    }

    /// A network of these weights with the given options; `None` when the lengths do not fit
    /// `k` and `d`. Biases are zeroed when `bias` is off.
    pub fn to_network<F: Float>(&self, bias: bool, activation: Activation) -> Option<Network<F>> {
        let shape = Shape {
            d: self.d,
            width: self.k,
            bias,
            activation,
        };
        let cast = |s: &[f64]| s.iter().map(|&v| F::of(v)).collect::<Vec<F>>();
        Network::from_parts(
            shape,
            &cast(&self.w),
            &cast(&self.b),
            &cast(&self.v),
            F::of(self.beta),
        )
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers shared by the tests of the `io` files.

    use std::path::{Path, PathBuf};

    use shatter_core::Dataset;

    pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn sample() -> Dataset<f64> {
        Dataset {
            n: 3,
            d: 2,
            x: vec![0.1, -2.5, 1e-300, 3.0, 0.3333333333333333, -0.0],
            y: vec![1.0, -1.5, 7.25],
        }
    }
}
