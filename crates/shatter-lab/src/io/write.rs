//! Crash-safe writers of `model.npz` and `data.npz`: a temporary file in the same folder,
//! `fsync`, then a rename over the final name.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use ndarray::{Array1, Array2, ArrayD, IxDyn};
use ndarray_npy::NpzWriter;
use shatter_core::Dataset;

use super::{os_error, IoError, ModelArrays};

/// Writes `path` crash-safely: `write` fills a temporary file in the same folder, which is
/// flushed to disk (`fsync`) and renamed over `path`; the folder is then synced (best effort).
/// On any error the temporary file is removed and `path` is untouched.
pub fn write_atomically(
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

/// Writes `bytes` to `path` crash-safely (see [`write_atomically`]).
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    write_atomically(path, |f| f.write_all(bytes).map_err(os_error(path)))
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

/// Saves a data set as `data.npz`: `X` (`n x d`) and `y` (`n`), float64, uncompressed;
/// [`load_dataset_npy`](super::load_dataset_npy) reads it back. Crash-safe (temporary file, `fsync`, rename). Allocates a
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
    use ndarray_npy::NpzReader;
    use shatter_core::model::{Activation, Network, Shape};

    use super::super::testing::sample;
    use super::super::{load_dataset, load_dataset_npy, load_model_npz, LabelColumn};
    use super::*;

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
        other.beta = 7.5;
        save_model_npz(&path, &other).unwrap();
        assert_eq!(load_model_npz(&path).unwrap(), other);
        // A diverged model is saved as it was, but refused on load (its NaN named).
        other.beta = f64::NAN;
        save_model_npz(&path, &other).unwrap();
        let e = load_model_npz(&path).unwrap_err().to_string();
        assert!(e.ends_with("beta[()] is NaN; values must be finite"), "{e}");
        // The beta array is 0-d, as NumPy writes a scalar.
        let mut npz = NpzReader::new(File::open(&path).unwrap()).unwrap();
        let beta: ArrayD<f64> = npz.by_name("beta").unwrap();
        assert_eq!(beta.ndim(), 0);
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
