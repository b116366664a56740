//! What a run's check reads from outside the spec: the input files (`data`, `test_data`,
//! `init_from`), hashed with SHA-256 so that their contents enter the run id, and the data
//! file's shape (`n` rows, `d` inputs), which the run records as trained; and the memory the
//! machine has available, against which the check compares an estimate of what the run will
//! allocate, so that a huge size is a clear error instead of an aborted process. Parsing the
//! files is `io`'s job; what the ids are made of is `spec.rs`'s.

use super::{RunConfig, RunSpec, SpecError};
use crate::io::{load_dataset, IoError, LabelColumn};
use sha2::{Digest, Sha256};
use shatter_core::Precision;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A data file read with a label column and an expected `d`.
type ShapeKey = (PathBuf, Option<String>, Option<usize>);

/// Input files already read by earlier checks (a sweep checks many points on the same files),
/// and the available memory, read once. Lives for one expansion: a file changed after it was
/// read is caught when the run reads it again (the run compares the hash).
#[derive(Debug, Default)]
pub struct InputCache {
    hashes: HashMap<PathBuf, String>,
    shapes: HashMap<ShapeKey, (usize, usize)>,
    memory: Option<Option<u64>>,
}

impl InputCache {
    fn hash(&mut self, path: &Path) -> Result<String, IoError> {
        if let Some(h) = self.hashes.get(path) {
            return Ok(h.clone());
        }
        let h = sha256_file(path)?;
        self.hashes.insert(path.to_path_buf(), h.clone());
        Ok(h)
    }

    /// The rows and inputs `(n, d)` of a data file read with `label` as its label column
    /// (`expected_d`: refuse another number of inputs); read once per cache.
    pub fn data_shape(
        &mut self,
        path: &Path,
        label: Option<&str>,
        expected_d: Option<usize>,
    ) -> Result<(usize, usize), IoError> {
        let key = (path.to_path_buf(), label.map(str::to_string), expected_d);
        if let Some(&s) = self.shapes.get(&key) {
            return Ok(s);
        }
        let col: LabelColumn = label
            .map(|c| c.parse().unwrap_or_default())
            .unwrap_or_default();
        let data = load_dataset(path, &col, expected_d)?;
        self.shapes.insert(key, (data.n, data.d));
        Ok((data.n, data.d))
    }

    /// The available memory in bytes ([`available_memory`]), read on first use.
    pub fn available_memory(&mut self) -> Option<u64> {
        *self.memory.get_or_insert_with(available_memory)
    }
}

/// SHA-256 of a file's bytes as 64 lowercase hex digits. Reads the file once, in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> Result<String, IoError> {
    let os = |source| IoError::Os {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(os)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => hasher.update(&buf[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(os(e)),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Hashes every input file of `spec` into its `*_sha256` setting (refusing a file whose hash
/// differs from one the spec pins) and sets a data file's `n` and `d` from the file (refusing
/// an `n` the file contradicts; a `d` the spec sets is passed to the reader, which refuses
/// other widths).
pub(super) fn bind_inputs(
    spec: &mut RunSpec,
    place: &dyn Fn(&str) -> String,
    cache: &mut InputCache,
) -> Result<(), SpecError> {
    let input = |key: &'static str| {
        move |source: IoError| SpecError::Input {
            place: place(key),
            key,
            source: Box::new(source),
        }
    };
    let pin = |key: &'static str,
               hash_key: &'static str,
               path: &Path,
               pinned: &Option<String>,
               found: &str|
     -> Result<(), SpecError> {
        match pinned {
            Some(p) if p != found => Err(SpecError::Conflict {
                place: place(hash_key),
                message: format!(
                    "{hash_key} = {p:?}, but {key} = {} has SHA-256 {found}: the file changed; remove {hash_key} to accept its new contents",
                    path.display()
                ),
            }),
            _ => Ok(()),
        }
    };
    if let Some(path) = spec.data.clone() {
        let hash = cache.hash(&path).map_err(input("data"))?;
        pin("data", "data_sha256", &path, &spec.data_sha256, &hash)?;
        let (n, d) = cache
            .data_shape(&path, spec.label_column.as_deref(), spec.d)
            .map_err(input("data"))?;
        if let Some(given) = spec.n.filter(|&given| given != n) {
            return Err(SpecError::Conflict {
                place: place("n"),
                message: format!(
                    "n = {given}, but data = {} has {n} rows; leave n out (a data file's n is its number of rows)",
                    path.display()
                ),
            });
        }
        spec.n = Some(n);
        spec.d = Some(d);
        spec.data_sha256 = Some(hash);
    }
    if let Some(path) = spec.test_data.clone() {
        let hash = cache.hash(&path).map_err(input("test_data"))?;
        pin(
            "test_data",
            "test_data_sha256",
            &path,
            &spec.test_data_sha256,
            &hash,
        )?;
        spec.test_data_sha256 = Some(hash);
    }
    if let Some(path) = spec.init_from.clone() {
        let hash = cache.hash(&path).map_err(input("init_from"))?;
        pin(
            "init_from",
            "init_from_sha256",
            &path,
            &spec.init_from_sha256,
            &hash,
        )?;
        spec.init_from_sha256 = Some(hash);
    }
    for (path_key, hash_key, path, hash) in [
        ("data", "data_sha256", &spec.data, &spec.data_sha256),
        (
            "test_data",
            "test_data_sha256",
            &spec.test_data,
            &spec.test_data_sha256,
        ),
        (
            "init_from",
            "init_from_sha256",
            &spec.init_from,
            &spec.init_from_sha256,
        ),
    ] {
        if path.is_none() && hash.is_some() {
            return Err(SpecError::Conflict {
                place: place(hash_key),
                message: format!(
                    "{hash_key} is set but {path_key} is not; remove {hash_key} or add {path_key}"
                ),
            });
        }
    }
    Ok(())
}

/// Memory available to this process in bytes: the smaller of Linux's `MemAvailable` and the
/// room left under the cgroup's `memory.max`; `None` where neither can be read (then sizes
/// are only checked against their ranges).
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kb| kb.saturating_mul(1024))
    });
    let read_u64 = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
    };
    let cgroup = read_u64("/sys/fs/cgroup/memory.max")
        .map(|max| max.saturating_sub(read_u64("/sys/fs/cgroup/memory.current").unwrap_or(0)));
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Bytes as text with decimal units: `4.1 TB`.
fn human(bytes: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut x = bytes;
    let mut u = 0;
    while x >= 1000.0 && u + 1 < units.len() {
        x /= 1000.0;
        u += 1;
    }
    format!("{x:.1} {}", units[u])
}

/// The parts of a run's memory: (setting that drives it, what it is, bytes). An estimate of
/// the large allocations of `run::execute` (data in f64 and in the run's precision,
/// workspaces of `2 n K` values, the network with its gradient and optimiser state, Lanczos
/// vectors, trajectory rows; for kernel ridge regression, `n x n` kernel matrices), computed in
/// `f64` so that it cannot overflow.
pub fn memory_parts(cfg: &RunConfig) -> Vec<(&'static str, &'static str, f64)> {
    let fs = match cfg.precision {
        Precision::F32 => 4.0,
        Precision::F64 => 8.0,
    };
    let n = cfg.data_n() as f64;
    let d = cfg.shape.d as f64;
    let k = cfg.shape.width as f64;
    let generated = matches!(cfg.data, super::DataSource::Generated(_));
    let n_test = if generated { cfg.n_test as f64 } else { 0.0 };
    let mut parts = vec![
        (
            "n",
            "the training data, n (d + 1) values in f64 and in the run's precision",
            n * (d + 1.0) * (8.0 + fs),
        ),
        (
            "n_test",
            "the generated test set, n_test (d + 1) values, twice",
            n_test * (d + 1.0) * (8.0 + fs),
        ),
    ];
    if let super::ModelKind::Krr { .. } = cfg.model {
        parts.push((
            "n",
            "kernel ridge regression's n x n kernel matrices, three of them",
            3.0 * n * n * 8.0,
        ));
        parts.push(("n_test", "the n_test x n test kernel", n_test * n * 8.0));
        return parts;
    }
    let params = k * (d + 2.0) + 1.0;
    let epochs = cfg.train.epochs as f64;
    let rows = epochs / cfg.train.log_every.max(1) as f64 + 1.0;
    parts.extend([
        ("width", "the workspaces, 2 n width values", 2.0 * n * k * fs),
        ("width", "the test workspaces, 2 n_test width values", 2.0 * n_test * k * fs),
        ("width", "the network, its gradient, optimiser and Hessian-vector buffers, about 10 width (d + 2) values", params * (8.0 * fs + 2.0 * 8.0)),
        ("lanczos_max_iter", "Lanczos vectors, lanczos_max_iter x parameters", cfg.train.lanczos.max_iter as f64 * params * fs),
        ("epochs", "trajectory rows, epochs / log_every of them", rows * 80.0),
    ]);
    if cfg.curvature.outlier_threshold.is_some() {
        // A second Lanczos basis in f64, the locked vectors and their products (at most 64 each).
        parts.push((
            "outlier_threshold",
            "outlier tracking: a Lanczos basis and 2 x 64 vectors of parameters",
            (cfg.train.lanczos.max_iter as f64 + 128.0) * params * 8.0,
        ));
    }
    if cfg.curvature.trace_products > 0 {
        parts.push((
            "trace_products",
            "the Hutch++ sketch, trace_products / 3 vectors of parameters",
            (cfg.curvature.trace_products as f64 / 3.0 + 2.0) * params * 8.0,
        ));
    }
    parts
}

/// Refuses a run whose estimated memory ([`memory_parts`]) exceeds `available` bytes, naming
/// the setting behind the largest part. `None` available checks nothing.
pub(super) fn check_memory(
    cfg: &RunConfig,
    place: &dyn Fn(&str) -> String,
    available: Option<u64>,
) -> Result<(), SpecError> {
    let Some(available) = available else {
        return Ok(());
    };
    let parts = memory_parts(cfg);
    let total: f64 = parts.iter().map(|p| p.2).sum();
    if total <= available as f64 {
        return Ok(());
    }
    let (key, what, _) = parts
        .iter()
        .copied()
        .fold(("width", "", f64::NEG_INFINITY), |best, p| {
            if p.2 > best.2 {
                p
            } else {
                best
            }
        });
    let s = &cfg.spec;
    let value = match key {
        "n" => s.n.map(|v| v.to_string()),
        "n_test" => s.n_test.map(|v| v.to_string()),
        "epochs" => s.epochs.map(|v| v.to_string()),
        "lanczos_max_iter" => s.lanczos_max_iter.map(|v| v.to_string()),
        "outlier_threshold" => s.outlier_threshold.map(|v| v.to_string()),
        "trace_products" => s.trace_products.map(|v| v.to_string()),
        _ => s.width.map(|v| v.to_string()),
    }
    .unwrap_or_default();
    Err(SpecError::Memory {
        place: place(key),
        key,
        value,
        detail: format!(
            "the run needs about {} of memory (most of it for {what}), but {} are available; lower {key}",
            human(total),
            human(available as f64)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_use_decimal_units() {
        assert_eq!(human(999.0), "999.0 B");
        assert_eq!(human(4.1e12), "4.1 TB");
    }

    #[test]
    fn a_run_too_big_for_the_memory_names_its_setting() {
        let spec = RunSpec {
            width: Some(1_000_000),
            n: Some(100_000),
            ..RunSpec::default()
        };
        // 2 n K f32 values alone are 800 GB; pretend 16 GB are available.
        let cfg = spec
            .check_with(
                None,
                &mut InputCache {
                    memory: Some(None),
                    ..InputCache::default()
                },
            )
            .expect("in range");
        let err = check_memory(&cfg, &|_| String::new(), Some(16_000_000_000))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("width = 1000000") && err.contains("16.0 GB"),
            "{err}"
        );
        assert!(check_memory(
            &RunSpec::default().check(None).unwrap(),
            &|_| String::new(),
            Some(16_000_000_000)
        )
        .is_ok());
    }
}
