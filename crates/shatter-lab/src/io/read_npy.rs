//! Reading NumPy files: `.npy` tables, `.npz` data sets (`X`, `y`) and `model.npz`. Arrays may
//! be float64 or float32; everything is returned in `f64`.

use std::fs::File;
use std::path::Path;

use ndarray::{ArrayD, Dimension, IxDyn, OwnedRepr};
use ndarray_npy::{NpzReader, ReadNpyError, ReadNpyExt, ReadNpzError};
use shatter_core::Dataset;

use super::{label_index, os_error, sniff, IoError, Kind, LabelColumn, ModelArrays};

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
/// index (`()` for a 0-d array, as `beta[()]` indexes it in NumPy).
fn check_finite(path: &Path, array: &str, a: &ArrayD<f64>) -> Result<(), IoError> {
    match a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        None => Ok(()),
        Some((index, &value)) => Err(IoError::NonFiniteElement {
            path: path.to_path_buf(),
            array: array.into(),
            index: if a.ndim() == 0 {
                "()".to_string()
            } else {
                index
                    .slice()
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
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
/// * `.npz` (the `data.npz` that [`save_data_npz`](super::save_data_npz) writes): arrays `X` (`n x d`) and `y` (`n`),
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

/// Loads a `model.npz`: arrays `W` (`K x d`), `b` (`K`), `v` (`K`) and `beta` (0-d, or 1-D of
/// length 1), float64 or float32 each. Errors name the file and the array that is missing or
/// misshapen, and the first NaN or infinite entry (`W[3, 1]`): every weight must be finite, so
/// the model of a run that diverged to NaN is refused rather than measured or trained on.
/// Allocates the arrays.
pub fn load_model_npz(path: &Path) -> Result<ModelArrays, IoError> {
    read_model(path, true)
}

/// Reads a `model.npz` a run wrote (a store's or a run directory's) as [`load_model_npz`] does,
/// but accepts non-finite weights: the model of a run that diverged to NaN is a result, kept as
/// it ended, and must not count as damaged. Never use it for a model that a run starts from or
/// that is measured.
pub fn read_result_model_npz(path: &Path) -> Result<ModelArrays, IoError> {
    read_model(path, false)
}

fn read_model(path: &Path, finite: bool) -> Result<ModelArrays, IoError> {
    let require_finite = |name: &str, a: &ArrayD<f64>| {
        if finite {
            check_finite(path, name, a)
        } else {
            Ok(())
        }
    };
    let mut npz = Npz::open(path)?;
    let w = npz.read("W")?;
    require_finite("W", &w)?;
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
        require_finite(name, &a)?;
        Ok(a.iter().copied().collect())
    };
    let b = vector("b")?;
    let v = vector("v")?;
    let beta_array = npz.read("beta")?;
    require_finite("beta", &beta_array)?;
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use ndarray::{arr0, arr1, arr2, Array1, Array2};
    use ndarray_npy::{NpzWriter, WriteNpyExt};

    use super::super::testing::{sample, write};
    use super::super::{load_dataset, save_model_npz};
    use super::*;

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
        // Non-finite weights: refused, naming the file, the array and the first bad index.
        let mut nan_w = w();
        nan_w[[2, 1]] = f64::NAN;
        let mut inf_v = k();
        inf_v[[1]] = f64::INFINITY;
        for (path, words) in [
            (
                model(
                    "nan_w.npz",
                    vec![
                        ("W", nan_w),
                        ("b", k()),
                        ("v", k()),
                        ("beta", arr0(1.0).into_dyn()),
                    ],
                ),
                "W[2, 1] is NaN; values must be finite",
            ),
            (
                model(
                    "inf_v.npz",
                    vec![
                        ("W", w()),
                        ("b", k()),
                        ("v", inf_v),
                        ("beta", arr0(1.0).into_dyn()),
                    ],
                ),
                "v[1] is inf; values must be finite",
            ),
            (
                model(
                    "nan_beta.npz",
                    vec![
                        ("W", w()),
                        ("b", k()),
                        ("v", k()),
                        ("beta", arr0(f64::NAN).into_dyn()),
                    ],
                ),
                "beta[()] is NaN; values must be finite",
            ),
        ] {
            let e = load_model_npz(&path).expect_err("non-finite").to_string();
            assert_eq!(e, format!("{}: {words}", path.display()));
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
}
