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

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ndarray::{Array1, Array2, ArrayD, Dimension, IxDyn, OwnedRepr};
use ndarray_npy::{NpzReader, NpzWriter, ReadNpyError, ReadNpyExt, ReadNpzError, WriteNpzError};
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

/// Reads a data set from a CSV file: one sample per row, inputs then (by default) the label
/// in the last column.
///
/// Comma-separated (tab-separated when the name ends in `.tsv`); fields are trimmed; blank
/// lines and lines starting with `#` (NumPy's `savetxt` header) are skipped. The first row is a
/// header when none of its fields is a number (a row mixing numbers and words is data, so a
/// typo in the first row is reported rather than taken for a header). `label` picks the label
/// column; a [`LabelColumn::Name`] needs a header. With `expected_d`, the number of inputs
/// must equal it. Every value must be a finite number.
///
/// Errors name the file, the 1-based line (counting blank and comment lines, as an editor
/// does) and the 1-based column. Reads the whole file into memory once, then parses it;
/// allocates the file's bytes, the data set and one row at a time.
pub fn load_dataset_csv(
    path: &Path,
    label: &LabelColumn,
    expected_d: Option<usize>,
) -> Result<Dataset<f64>, IoError> {
    let tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    let bytes = std::fs::read(path).map_err(os_error(path))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .delimiter(if tsv { b'\t' } else { b',' })
        .from_reader(bytes.as_slice());

    // The header's names and line.
    let mut header: Option<Vec<String>> = None;
    let mut header_line = 0;
    // (columns, line) of the first data row, and the label column.
    let mut layout: Option<(usize, u64, usize)> = None;
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(source) => {
                return Err(IoError::Csv {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        // A record's own position includes the blank and comment lines skipped before it, so
        // its line is taken from where it ends: the line before a consumed `\n`, else the
        // current one (a record spanning lines, inside quotes, reports its last line).
        let end = reader.position();
        let ended_by_newline = end
            .byte()
            .checked_sub(1)
            .and_then(|b| bytes.get(b as usize))
            == Some(&b'\n');
        let line = if ended_by_newline {
            end.line() - 1
        } else {
            end.line()
        };
        if first {
            first = false;
            if record.iter().all(|f| f.parse::<f64>().is_err()) {
                header = Some(record.iter().map(str::to_string).collect());
                header_line = line;
                continue;
            }
        }
        let columns = record.len();
        let (expected, first_line, label_col) = match layout {
            Some(l) => l,
            None => {
                if columns < 2 {
                    return Err(IoError::TooFewColumns {
                        path: path.to_path_buf(),
                        line,
                        found: columns,
                    });
                }
                if let Some(h) = &header {
                    if h.len() != columns {
                        return Err(IoError::Ragged {
                            path: path.to_path_buf(),
                            line,
                            found: columns,
                            expected: h.len(),
                            first_line: header_line,
                        });
                    }
                }
                let label_col = label_index(path, label, columns, header.as_deref())?;
                if let Some(d) = expected_d {
                    if columns - 1 != d {
                        return Err(IoError::WrongDimension {
                            path: path.to_path_buf(),
                            line,
                            found: columns - 1,
                            expected: d,
                        });
                    }
                }
                layout = Some((columns, line, label_col));
                (columns, line, label_col)
            }
        };
        if columns != expected {
            return Err(IoError::Ragged {
                path: path.to_path_buf(),
                line,
                found: columns,
                expected,
                first_line,
            });
        }
        for (j, text) in record.iter().enumerate() {
            let value: f64 = text.parse().map_err(|_| {
                let name = header
                    .as_ref()
                    .and_then(|h| h.get(j))
                    .map(|n| format!(" (`{n}`)"))
                    .unwrap_or_default();
                let hint = if header.is_none() && first_line == line && y.is_empty() {
                    "; a header row must have no numeric field".to_string()
                } else {
                    String::new()
                };
                IoError::NotANumber {
                    path: path.to_path_buf(),
                    line,
                    column: j + 1,
                    text: text.to_string(),
                    hint: name + &hint,
                }
            })?;
            if !value.is_finite() {
                return Err(IoError::NonFinite {
                    path: path.to_path_buf(),
                    line,
                    column: j + 1,
                    text: text.to_string(),
                });
            }
            if j == label_col {
                y.push(value);
            } else {
                x.push(value);
            }
        }
    }
    match layout {
        None => Err(IoError::NoRows {
            path: path.to_path_buf(),
            header: header.is_some(),
        }),
        Some((columns, _, _)) => Ok(Dataset {
            n: y.len(),
            d: columns - 1,
            x,
            y,
        }),
    }
}

/// Reads an array of float32 or float64 values (any shape) as `f64`, from a `.npy` file.
fn read_npy_file(path: &Path) -> Result<ArrayD<f64>, IoError> {
    let open = || File::open(path).map_err(os_error(path));
    match ArrayD::<f64>::read_npy(open()?) {
        Ok(a) => Ok(a),
        Err(ReadNpyError::WrongDescriptor(_)) => match ArrayD::<f32>::read_npy(open()?) {
            Ok(a) => Ok(a.mapv(f64::from)),
            Err(ReadNpyError::WrongDescriptor(descr)) => Err(IoError::WrongDtype {
                path: path.to_path_buf(),
                array: "array".into(),
                dtype: descr.to_string(),
            }),
            Err(source) => Err(IoError::Npy {
                path: path.to_path_buf(),
                array: "array".into(),
                source,
            }),
        },
        Err(source) => Err(IoError::Npy {
            path: path.to_path_buf(),
            array: "array".into(),
            source,
        }),
    }
}

/// An open `.npz` archive with its array names, read once.
struct Npz<'a> {
    path: &'a Path,
    reader: NpzReader<File>,
    names: Vec<String>,
}

impl<'a> Npz<'a> {
    fn open(path: &'a Path) -> Result<Self, IoError> {
        let file = File::open(path).map_err(os_error(path))?;
        let npz_error = |source| IoError::Npz {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = NpzReader::new(file).map_err(npz_error)?;
        let names = reader.names().map_err(npz_error)?;
        Ok(Npz {
            path,
            reader,
            names,
        })
    }

    /// Reads array `name` (float32 or float64, any shape) as `f64`.
    fn read(&mut self, name: &str) -> Result<ArrayD<f64>, IoError> {
        let path = self.path;
        if !self.names.iter().any(|n| n == name) {
            return Err(IoError::MissingArray {
                path: path.to_path_buf(),
                array: name.into(),
                available: self.names.clone(),
            });
        }
        let other = |source: ReadNpzError| match source {
            ReadNpzError::Npy(source) => IoError::Npy {
                path: path.to_path_buf(),
                array: name.into(),
                source,
            },
            source => IoError::Npz {
                path: path.to_path_buf(),
                source,
            },
        };
        match self.reader.by_name::<OwnedRepr<f64>, IxDyn>(name) {
            Ok(a) => Ok(a),
            Err(ReadNpzError::Npy(ReadNpyError::WrongDescriptor(_))) => {
                match self.reader.by_name::<OwnedRepr<f32>, IxDyn>(name) {
                    Ok(a) => Ok(a.mapv(f64::from)),
                    Err(ReadNpzError::Npy(ReadNpyError::WrongDescriptor(descr))) => {
                        Err(IoError::WrongDtype {
                            path: path.to_path_buf(),
                            array: name.into(),
                            dtype: descr.to_string(),
                        })
                    }
                    Err(e) => Err(other(e)),
                }
            }
            Err(e) => Err(other(e)),
        }
    }
}

/// Checks that every element of `a` is finite, naming the first that is not by its NumPy
/// index.
fn check_finite(path: &Path, array: &str, a: &ArrayD<f64>) -> Result<(), IoError> {
    match a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        None => Ok(()),
        Some((index, &value)) => Err(IoError::NonFiniteElement {
            path: path.to_path_buf(),
            array: array.into(),
            index: index
                .slice()
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            value,
        }),
    }
}

fn wrong_shape(path: &Path, array: &str, a: &ArrayD<f64>, expected: impl Into<String>) -> IoError {
    IoError::WrongShape {
        path: path.to_path_buf(),
        array: array.into(),
        found: a.shape().to_vec(),
        expected: expected.into(),
    }
}

/// Reads a data set from a `.npy` or `.npz` file (recognised by content, not name).
///
/// * `.npy`: a 2-D float64 or float32 array of shape `n x (d + 1)`, `n >= 1`, `d >= 1`;
///   `label` picks the label column (last by default; [`LabelColumn::Name`] is an error).
/// * `.npz` (the `data.npz` that [`save_data_npz`] writes): arrays `X` (`n x d`) and `y` (`n`),
///   float64 or float32; `label` must be [`LabelColumn::Last`] (the labels are `y`).
///
/// With `expected_d`, the number of inputs must equal it. Every value must be finite. Errors
/// name the file, the array and the 0-based NumPy index (`array[3, 1]`, `X[3, 1]`, `y[3]`).
/// Reads the file once; allocates the array and the data set.
pub fn load_dataset_npy(
    path: &Path,
    label: &LabelColumn,
    expected_d: Option<usize>,
) -> Result<Dataset<f64>, IoError> {
    let check_d = |array: &str, found: usize| match expected_d {
        Some(d) if d != found => Err(IoError::WrongArrayDimension {
            path: path.to_path_buf(),
            array: array.into(),
            found,
            expected: d,
        }),
        _ => Ok(()),
    };
    match sniff(path)? {
        Kind::Npz => {
            if *label != LabelColumn::Last {
                return Err(IoError::LabelColumnNotApplicable {
                    path: path.to_path_buf(),
                    why: format!("label column `{label}` given, but an .npz data set keeps its labels in array `y`"),
                });
            }
            let mut npz = Npz::open(path)?;
            let xa = npz.read("X")?;
            let ya = npz.read("y")?;
            let (n, d) = match *xa.shape() {
                [n, d] if n >= 1 && d >= 1 => (n, d),
                _ => return Err(wrong_shape(path, "X", &xa, "2-D (n, d) with n, d >= 1")),
            };
            if ya.shape() != [n] {
                return Err(wrong_shape(
                    path,
                    "y",
                    &ya,
                    format!("({n},), one label per row of X"),
                ));
            }
            check_d("X", d)?;
            check_finite(path, "X", &xa)?;
            check_finite(path, "y", &ya)?;
            Ok(Dataset {
                n,
                d,
                x: xa.iter().copied().collect(),
                y: ya.iter().copied().collect(),
            })
        }
        _ => {
            if let LabelColumn::Name(name) = label {
                return Err(IoError::LabelColumnNotApplicable {
                    path: path.to_path_buf(),
                    why: format!("label column `{name}` given by name, but an .npy array has no column names"),
                });
            }
            let a = read_npy_file(path)?;
            let (n, columns) = match *a.shape() {
                [n, c] if n >= 1 && c >= 2 => (n, c),
                _ => {
                    return Err(wrong_shape(
                        path,
                        "array",
                        &a,
                        "2-D (n, d + 1) with n >= 1 and d >= 1",
                    ))
                }
            };
            let label_col = label_index(path, label, columns, None)?;
            check_d("array", columns - 1)?;
            check_finite(path, "array", &a)?;
            let mut x = Vec::with_capacity(n * (columns - 1));
            let mut y = Vec::with_capacity(n);
            for row in a.outer_iter() {
                for (j, &v) in row.iter().enumerate() {
                    if j == label_col {
                        y.push(v);
                    } else {
                        x.push(v);
                    }
                }
            }
            Ok(Dataset {
                n,
                d: columns - 1,
                x,
                y,
            })
        }
    }
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

/// Writes `path` crash-safely: `write` fills a temporary file in the same folder, which is
/// flushed to disk (`fsync`) and renamed over `path`; the folder is then synced (best effort).
/// On any error the temporary file is removed and `path` is untouched.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut File) -> Result<(), IoError>,
) -> Result<(), IoError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".shatter-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(os_error(path))?;
    write(tmp.as_file_mut())?;
    tmp.as_file_mut().flush().map_err(os_error(path))?;
    #[cfg(unix)]
    {
        // Temporary files are created private (0600); a result file is readable like any other.
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(os_error(path))?;
    }
    tmp.as_file().sync_all().map_err(os_error(path))?;
    tmp.persist(path).map_err(|e| IoError::Os {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        // Makes the rename durable; some file systems refuse, which loses nothing but that.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes arrays into an `.npz` at `path`, crash-safely.
fn write_npz(path: &Path, arrays: &[(&str, ArrayD<f64>)]) -> Result<(), IoError> {
    write_atomically(path, |file| {
        let mut npz = NpzWriter::new(file);
        for (name, a) in arrays {
            npz.add_array(*name, a)
                .map_err(|source| IoError::WriteNpz {
                    path: path.to_path_buf(),
                    array: name.to_string(),
                    source,
                })?;
        }
        npz.finish().map_err(|source| IoError::WriteNpz {
            path: path.to_path_buf(),
            array: "(archive)".into(),
            source,
        })?;
        Ok(())
    })
}

/// Saves a model as `model.npz`: `W` (`K x d`), `b` (`K`), `v` (`K`), all float64, and `beta`
/// as a 0-d float64 array (what `np.savez(beta=np.float64(x))` writes), uncompressed.
///
/// Crash-safe (temporary file, `fsync`, rename). Allocates a copy of the arrays. Values are
/// written as they are, NaN included: a diverged model is a result.
pub fn save_model_npz(path: &Path, model: &ModelArrays) -> Result<(), IoError> {
    let (k, d) = (model.k, model.d);
    if model.w.len() != k * d || model.b.len() != k || model.v.len() != k {
        return Err(IoError::InconsistentModel {
            path: path.to_path_buf(),
            why: format!(
                "K = {k}, d = {d} but W has {} values (want {}), b has {}, v has {} (want {k})",
                model.w.len(),
                k * d,
                model.b.len(),
                model.v.len()
            ),
        });
    }
    let dynamic = |shape: &[usize], values: &[f64]| {
        ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).map_err(|e| {
            IoError::InconsistentModel {
                path: path.to_path_buf(),
                why: e.to_string(),
            }
        })
    };
    write_npz(
        path,
        &[
            ("W", dynamic(&[k, d], &model.w)?),
            ("b", dynamic(&[k], &model.b)?),
            ("v", dynamic(&[k], &model.v)?),
            ("beta", dynamic(&[], &[model.beta])?),
        ],
    )
}

/// Loads a `model.npz`: arrays `W` (`K x d`), `b` (`K`), `v` (`K`) and `beta` (0-d, or 1-D of
/// length 1), float64 or float32 each. Errors name the file and the array that is missing or
/// misshapen. Values are not checked for finiteness (a diverged model loads as it was saved).
/// Allocates the arrays.
pub fn load_model_npz(path: &Path) -> Result<ModelArrays, IoError> {
    let mut npz = Npz::open(path)?;
    let w = npz.read("W")?;
    let (k, d) = match *w.shape() {
        [k, d] if k >= 1 && d >= 1 => (k, d),
        _ => return Err(wrong_shape(path, "W", &w, "2-D (K, d) with K, d >= 1")),
    };
    let mut vector = |name: &str| -> Result<Vec<f64>, IoError> {
        let a = npz.read(name)?;
        if a.shape() != [k] {
            return Err(wrong_shape(
                path,
                name,
                &a,
                format!("({k},), one value per row of W"),
            ));
        }
        Ok(a.iter().copied().collect())
    };
    let b = vector("b")?;
    let v = vector("v")?;
    let beta_array = npz.read("beta")?;
    let beta = match (beta_array.ndim(), beta_array.len()) {
        (0, 1) | (1, 1) => beta_array.iter().copied().next().unwrap_or(f64::NAN),
        _ => {
            return Err(wrong_shape(
                path,
                "beta",
                &beta_array,
                "a scalar (shape () or (1,))",
            ))
        }
    };
    Ok(ModelArrays {
        k,
        d,
        w: w.iter().copied().collect(),
        b,
        v,
        beta,
    })
}

/// Saves a data set as `data.npz`: `X` (`n x d`) and `y` (`n`), float64, uncompressed;
/// [`load_dataset_npy`] reads it back. Crash-safe (temporary file, `fsync`, rename). Allocates a
/// copy of the data.
pub fn save_data_npz(path: &Path, data: &Dataset<f64>) -> Result<(), IoError> {
    let bad = |e: ndarray::ShapeError| IoError::InconsistentModel {
        path: path.to_path_buf(),
        why: format!("data set: {e}"),
    };
    let x = Array2::from_shape_vec((data.n, data.d), data.x.clone())
        .map_err(bad)?
        .into_dyn();
    let y = Array1::from_vec(data.y.clone());
    if y.len() != data.n {
        return Err(IoError::InconsistentModel {
            path: path.to_path_buf(),
            why: format!("data set: n = {} but y has {} labels", data.n, y.len()),
        });
    }
    write_npz(path, &[("X", x), ("y", y.into_dyn())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr0, arr1, arr2, Array2};
    use ndarray_npy::WriteNpyExt;

    fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn sample() -> Dataset<f64> {
        Dataset {
            n: 3,
            d: 2,
            x: vec![0.1, -2.5, 1e-300, 3.0, 0.3333333333333333, -0.0],
            y: vec![1.0, -1.5, 7.25],
        }
    }

    #[test]
    fn bad_csv_files_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&str, &str, Option<usize>, &[&str])] = &[
            (
                "nan.csv",
                "1,2,3\n4,nan,6\n",
                None,
                &[":2:", "column 2", "`nan`", "finite"],
            ),
            (
                "inf.csv",
                "a,b,y\n1,2,3\n4,5,-inf\n",
                None,
                &[":3:", "column 3", "`-inf`", "finite"],
            ),
            (
                "ragged.csv",
                "1,2,3\n4,5,6\n7,8\n",
                None,
                &[":3:", "2 columns", "line 1 has 3"],
            ),
            (
                "ragged_header.csv",
                "a,b,y\n1,2\n",
                None,
                &[":2:", "2 columns", "line 1 has 3"],
            ),
            (
                "wrong_d.csv",
                "# from numpy\n1,2,3\n",
                Some(3),
                &[":2:", "2 inputs", "d = 3"],
            ),
            ("empty.csv", "", None, &["no data rows"]),
            ("comments.csv", "# nothing\n\n", None, &["no data rows"]),
            (
                "header_only.csv",
                "x1,x2,y\n",
                None,
                &["no data rows (only a header)"],
            ),
            (
                "unparsable.csv",
                "x1,x2,y\n1,2,3\n\n4,5x,6\n",
                None,
                &[":4:", "column 2 (`x2`)", "`5x`", "not a number"],
            ),
            (
                "typo_first.csv",
                "1,2,o\n4,5,6\n",
                None,
                &[":1:", "column 3", "`o`", "header row"],
            ),
            (
                "empty_field.csv",
                "1,,3\n",
                None,
                &[":1:", "column 2", "``"],
            ),
            ("one_column.csv", "1\n2\n", None, &[":1:", "1 column(s)"]),
            (
                "crlf.csv",
                "1,2,3\r\n4,NaN,6\r\n",
                None,
                &[":2:", "column 2"],
            ),
            (
                "no_newline.csv",
                "1,2,3\n4,5,nan",
                None,
                &[":2:", "column 3"],
            ),
            (
                "blank_lines.csv",
                "\n\n1,2,3\n\n# note, \"quoted\n4,5,x\n",
                None,
                &[":6:", "column 3", "`x`"],
            ),
            (
                "late_header.csv",
                "# c\n\"x\",\"y\",\"z\"\n\n1,2\n",
                None,
                &[":4:", "2 columns", "line 2 has 3"],
            ),
        ];
        for (name, contents, d, words) in cases {
            let path = write(dir.path(), name, contents);
            let e = load_dataset_csv(&path, &LabelColumn::Last, *d)
                .expect_err(name)
                .to_string();
            assert!(e.contains(name), "{name}: `{e}` lacks the file name");
            for w in *words {
                assert!(e.contains(w), "{name}: `{e}` lacks `{w}`");
            }
            // The dispatcher reaches the same error.
            assert_eq!(
                load_dataset(&path, &LabelColumn::Last, *d)
                    .expect_err(name)
                    .to_string(),
                e,
                "{name}"
            );
        }
    }

    #[test]
    fn csv_label_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "named.csv", "y, x1 ,x2\n1,2,3\n4,5,6\n");
        let data = load_dataset_csv(&path, &LabelColumn::Name("y".into()), Some(2)).unwrap();
        assert_eq!((data.x, data.y), (vec![2.0, 3.0, 5.0, 6.0], vec![1.0, 4.0]));
        let data = load_dataset_csv(&path, &"0".parse().unwrap(), None).unwrap();
        assert_eq!(data.y, vec![1.0, 4.0]);
        let e = load_dataset_csv(&path, &LabelColumn::Name("z".into()), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("named.csv") && e.contains("no column named `z`") && e.contains("y, x1, x2"),
            "{e}"
        );
        let e = load_dataset_csv(&path, &LabelColumn::Index(3), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("label column 3") && e.contains("3 columns"),
            "{e}"
        );
        let bare = write(dir.path(), "bare.csv", "1,2,3\n");
        let e = load_dataset_csv(&bare, &LabelColumn::Name("y".into()), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bare.csv") && e.contains("no header row"), "{e}");
        assert_eq!("last".parse::<LabelColumn>(), Ok(LabelColumn::Last));
        let tsv = write(dir.path(), "tabs.tsv", "a\tb\n1\t2\n");
        assert_eq!(
            load_dataset(&tsv, &LabelColumn::Last, Some(1)).unwrap().y,
            vec![2.0]
        );
    }

    #[test]
    fn csv_round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample();
        let mut text = String::from("# written by a test\nx1,x2,y\n");
        for i in 0..data.n {
            let row = data.row(i);
            text += &format!("{:?}, {:?},{:?}\n", row[0], row[1], data.y[i]);
        }
        let path = write(dir.path(), "round.csv", &text);
        let back = load_dataset(&path, &LabelColumn::Last, Some(2)).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn npy_tables_load_as_f64_and_f32() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample();
        let mut table = Array2::<f64>::zeros((data.n, data.d + 1));
        for i in 0..data.n {
            table[[i, 0]] = data.y[i];
            table[[i, 1]] = data.row(i)[0];
            table[[i, 2]] = data.row(i)[1];
        }
        let path = dir.path().join("t64.npy");
        table.write_npy(File::create(&path).unwrap()).unwrap();
        let back = load_dataset_npy(&path, &LabelColumn::Index(0), Some(2)).unwrap();
        assert_eq!(back, data);
        let path32 = dir.path().join("t32.npy");
        table
            .mapv(|v| v as f32)
            .write_npy(File::create(&path32).unwrap())
            .unwrap();
        let back32 = load_dataset(&path32, &LabelColumn::Index(0), None).unwrap();
        let want32 = data.cast::<f32>().cast::<f64>();
        assert_eq!(back32, want32);
        // Column-major (Fortran-order) arrays keep their logical layout.
        let fortran = dir.path().join("fortran.npy");
        table
            .t()
            .as_standard_layout()
            .t()
            .write_npy(File::create(&fortran).unwrap())
            .unwrap();
        assert_eq!(
            load_dataset_npy(&fortran, &LabelColumn::Index(0), None).unwrap(),
            data
        );
    }

    #[test]
    fn bad_array_files_name_file_array_and_index() {
        let dir = tempfile::tempdir().unwrap();
        let npy = |name: &str, a: ArrayD<f64>| {
            let path = dir.path().join(name);
            a.write_npy(File::create(&path).unwrap()).unwrap();
            path
        };
        let npz = |name: &str, arrays: Vec<(&str, ArrayD<f64>)>| {
            let path = dir.path().join(name);
            let mut w = NpzWriter::new(File::create(&path).unwrap());
            for (n, a) in arrays {
                w.add_array(n, &a).unwrap();
            }
            w.finish().unwrap();
            path
        };
        let mut nan = Array2::<f64>::ones((4, 3));
        nan[[2, 1]] = f64::NAN;
        let mut inf_y = Array1::<f64>::ones(4);
        inf_y[3] = f64::INFINITY;
        let ints = dir.path().join("ints.npy");
        arr2(&[[1i64, 2], [3, 4]])
            .write_npy(File::create(&ints).unwrap())
            .unwrap();
        let cases: Vec<(PathBuf, Option<usize>, LabelColumn, Vec<&str>)> = vec![
            (
                npy("nan.npy", nan.clone().into_dyn()),
                None,
                LabelColumn::Last,
                vec!["array[2, 1] is NaN"],
            ),
            (
                npy("flat.npy", arr1(&[1.0, 2.0]).into_dyn()),
                None,
                LabelColumn::Last,
                vec!["shape [2]", "2-D"],
            ),
            (
                npy("narrow.npy", Array2::<f64>::ones((3, 1)).into_dyn()),
                None,
                LabelColumn::Last,
                vec!["shape [3, 1]"],
            ),
            (
                npy("empty.npy", Array2::<f64>::ones((0, 3)).into_dyn()),
                None,
                LabelColumn::Last,
                vec!["shape [0, 3]"],
            ),
            (
                npy("wide.npy", nan.clone().into_dyn()),
                Some(5),
                LabelColumn::Last,
                vec!["2 inputs", "d = 5"],
            ),
            (
                npy("named.npy", nan.clone().into_dyn()),
                None,
                LabelColumn::Name("y".into()),
                vec!["no column names"],
            ),
            (
                ints,
                None,
                LabelColumn::Last,
                vec!["array `array` has dtype", "float32 or float64"],
            ),
            (
                npz(
                    "nan.npz",
                    vec![
                        ("X", nan.clone().into_dyn()),
                        ("y", Array1::ones(4).into_dyn()),
                    ],
                ),
                None,
                LabelColumn::Last,
                vec!["X[2, 1] is NaN"],
            ),
            (
                npz(
                    "inf.npz",
                    vec![
                        ("X", Array2::ones((4, 3)).into_dyn()),
                        ("y", inf_y.into_dyn()),
                    ],
                ),
                None,
                LabelColumn::Last,
                vec!["y[3] is inf"],
            ),
            (
                npz("no_y.npz", vec![("X", Array2::ones((4, 3)).into_dyn())]),
                None,
                LabelColumn::Last,
                vec!["no array `y`", "the file has X"],
            ),
            (
                npz(
                    "short_y.npz",
                    vec![
                        ("X", Array2::ones((4, 3)).into_dyn()),
                        ("y", Array1::ones(3).into_dyn()),
                    ],
                ),
                None,
                LabelColumn::Last,
                vec!["array `y` has shape [3]", "(4,)"],
            ),
            (
                npz(
                    "d.npz",
                    vec![
                        ("X", Array2::ones((4, 3)).into_dyn()),
                        ("y", Array1::ones(4).into_dyn()),
                    ],
                ),
                Some(2),
                LabelColumn::Last,
                vec!["array `X` has 3 inputs", "d = 2"],
            ),
            (
                npz(
                    "label.npz",
                    vec![
                        ("X", Array2::ones((4, 3)).into_dyn()),
                        ("y", Array1::ones(4).into_dyn()),
                    ],
                ),
                None,
                LabelColumn::Index(0),
                vec!["array `y`"],
            ),
        ];
        for (path, d, label, words) in cases {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let e = load_dataset_npy(&path, &label, d)
                .expect_err(&name)
                .to_string();
            assert!(e.contains(&name), "{name}: `{e}` lacks the file name");
            for w in words {
                assert!(e.contains(w), "{name}: `{e}` lacks `{w}`");
            }
        }
        let missing = dir.path().join("missing.npy");
        let e = load_dataset_npy(&missing, &LabelColumn::Last, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.npy"), "{e}");
    }

    #[test]
    fn data_npz_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.npz");
        let data = sample();
        save_data_npz(&path, &data).unwrap();
        assert_eq!(
            load_dataset_npy(&path, &LabelColumn::Last, Some(2)).unwrap(),
            data
        );
        assert_eq!(load_dataset(&path, &LabelColumn::Last, None).unwrap(), data);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers,
            vec![std::ffi::OsString::from("data.npz")],
            "no temporary file left behind"
        );
    }

    #[test]
    fn model_npz_round_trips_through_a_network() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.npz");
        let shape = Shape {
            d: 3,
            width: 5,
            bias: true,
            activation: Activation::Relu,
        };
        let net = Network::<f64>::init(shape, 23, 1.0);
        let arrays = ModelArrays::from_network(&net);
        save_model_npz(&path, &arrays).unwrap();
        let back = load_model_npz(&path).unwrap();
        assert_eq!(back, arrays, "seed 23");
        assert_eq!(
            back.to_network::<f64>(true, Activation::Relu),
            Some(net),
            "seed 23"
        );
        // Overwriting replaces the file whole.
        let mut other = arrays.clone();
        other.beta = f64::NAN;
        save_model_npz(&path, &other).unwrap();
        assert!(
            load_model_npz(&path).unwrap().beta.is_nan(),
            "a diverged model loads as saved"
        );
        // The beta array is 0-d, as NumPy writes a scalar.
        let mut npz = NpzReader::new(File::open(&path).unwrap()).unwrap();
        let beta: ArrayD<f64> = npz.by_name("beta").unwrap();
        assert_eq!(beta.ndim(), 0);
    }

    #[test]
    fn python_style_model_npz_loads() {
        let dir = tempfile::tempdir().unwrap();
        // float32 arrays and a 0-d float32 beta, as `np.savez(..., beta=np.float32(0.25))` writes.
        let path = dir.path().join("torch.npz");
        let mut w = NpzWriter::new(File::create(&path).unwrap());
        w.add_array("W", &arr2(&[[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]))
            .unwrap();
        w.add_array("b", &arr1(&[0.5f32, -0.5, 0.0])).unwrap();
        w.add_array("v", &arr1(&[1.0f32, 1.0, -1.0])).unwrap();
        w.add_array("beta", &arr0(0.25f32)).unwrap();
        w.finish().unwrap();
        let m = load_model_npz(&path).unwrap();
        assert_eq!((m.k, m.d, m.beta), (3, 2, 0.25));
        assert_eq!(m.w, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // A 1-element beta is accepted too.
        let path1 = dir.path().join("one.npz");
        let mut w = NpzWriter::new(File::create(&path1).unwrap());
        w.add_array("W", &arr2(&[[1.0f64]])).unwrap();
        w.add_array("b", &arr1(&[0.0f64])).unwrap();
        w.add_array("v", &arr1(&[2.0f64])).unwrap();
        w.add_array("beta", &arr1(&[-1.0f64])).unwrap();
        w.finish().unwrap();
        assert_eq!(load_model_npz(&path1).unwrap().beta, -1.0);
    }

    #[test]
    fn bad_model_files_name_file_and_array() {
        let dir = tempfile::tempdir().unwrap();
        let model = |name: &str, arrays: Vec<(&str, ArrayD<f64>)>| {
            let path = dir.path().join(name);
            let mut w = NpzWriter::new(File::create(&path).unwrap());
            for (n, a) in arrays {
                w.add_array(n, &a).unwrap();
            }
            w.finish().unwrap();
            path
        };
        let w = || Array2::<f64>::ones((3, 2)).into_dyn();
        let k = || Array1::<f64>::ones(3).into_dyn();
        let cases = vec![
            (
                model(
                    "no_v.npz",
                    vec![("W", w()), ("b", k()), ("beta", arr0(1.0).into_dyn())],
                ),
                vec!["no array `v`", "W, b, beta"],
            ),
            (model("no_w.npz", vec![]), vec!["no array `W`", "none"]),
            (
                model(
                    "short_b.npz",
                    vec![
                        ("W", w()),
                        ("b", Array1::ones(2).into_dyn()),
                        ("v", k()),
                        ("beta", arr0(1.0).into_dyn()),
                    ],
                ),
                vec!["array `b` has shape [2]", "(3,)"],
            ),
            (
                model(
                    "flat_w.npz",
                    vec![
                        ("W", k()),
                        ("b", k()),
                        ("v", k()),
                        ("beta", arr0(1.0).into_dyn()),
                    ],
                ),
                vec!["array `W` has shape [3]", "2-D"],
            ),
            (
                model(
                    "beta2.npz",
                    vec![
                        ("W", w()),
                        ("b", k()),
                        ("v", k()),
                        ("beta", Array1::ones(2).into_dyn()),
                    ],
                ),
                vec!["array `beta` has shape [2]", "scalar"],
            ),
        ];
        for (path, words) in cases {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let e = load_model_npz(&path).expect_err(&name).to_string();
            assert!(e.contains(&name), "{name}: `{e}` lacks the file name");
            for w in words {
                assert!(e.contains(w), "{name}: `{e}` lacks `{w}`");
            }
        }
        let not_zip = write(dir.path(), "text.npz", "hello");
        let e = load_model_npz(&not_zip).unwrap_err().to_string();
        assert!(e.contains("text.npz"), "{e}");
        let bad = ModelArrays {
            k: 2,
            d: 2,
            w: vec![0.0; 3],
            b: vec![0.0; 2],
            v: vec![0.0; 2],
            beta: 0.0,
        };
        let target = dir.path().join("bad_model.npz");
        let e = save_model_npz(&target, &bad).unwrap_err().to_string();
        assert!(
            e.contains("bad_model.npz") && e.contains("W has 3 values"),
            "{e}"
        );
        assert!(!target.exists(), "nothing written under the final name");
    }

    #[test]
    fn failed_write_leaves_the_old_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.npz");
        let good = ModelArrays {
            k: 1,
            d: 1,
            w: vec![1.0],
            b: vec![2.0],
            v: vec![3.0],
            beta: 4.0,
        };
        save_model_npz(&path, &good).unwrap();
        let e = write_atomically(&path, |file| {
            file.write_all(b"half a model").map_err(os_error(&path))?;
            Err(IoError::NoRows {
                path: path.clone(),
                header: false,
            })
        });
        assert!(e.is_err());
        assert_eq!(
            load_model_npz(&path).unwrap(),
            good,
            "the old model survives a failed write"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("model.npz")],
            "the temporary file is removed"
        );
    }
}
