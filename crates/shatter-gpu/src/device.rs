//! Finding the CUDA libraries and the device, and holding its context.

use crate::compile::Cache;
use crate::GpuError;
use cudarc::driver::{CudaContext, CudaStream};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The CUDA libraries this process uses, and where they were looked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Libraries {
    /// The driver library loaded (`libcuda.so.1`), by path.
    pub driver: Option<PathBuf>,
    /// The NVRTC library loaded, by path.
    pub nvrtc: Option<PathBuf>,
    /// The existing folders searched for the driver, in order, after the dynamic loader's own
    /// search (`LD_LIBRARY_PATH`, the system's cache) missed it; empty when it found it.
    pub driver_searched: Vec<PathBuf>,
    /// The same for NVRTC.
    pub nvrtc_searched: Vec<PathBuf>,
}

impl std::fmt::Display for Libraries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or_else(|| "not found".to_string(), |p| p.display().to_string())
        };
        write!(
            f,
            "driver {}, NVRTC {}",
            show(&self.driver),
            show(&self.nvrtc)
        )
    }
}

/// File names the CUDA libraries go by, in the order tried within one folder.
const DRIVER_NAMES: &[&str] = &["libcuda.so.1", "libcuda.so"];
const NVRTC_NAMES: &[&str] = &[
    "libnvrtc.so.13",
    "libnvrtc.so.12",
    "libnvrtc.so.11.2",
    "libnvrtc.so",
];

/// Sub-folders of a Python `site-packages` where NVIDIA's wheels put NVRTC: `nvidia-cuda-nvrtc`
/// for CUDA 13, then the `-cu12` and `-cu11` wheels.
const WHEEL_DIRS: &[&str] = &["nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib"];

/// The entries of `dir` whose names start with `prefix`, sorted, newest-looking last.
fn entries(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// Python package folders to look in for NVIDIA's wheels: the active virtual or conda
/// environment, `PYTHONPATH`, the user's, pyenv's and the system's.
fn site_packages(var: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    for name in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(v) = var(name) {
            roots.push(PathBuf::from(v));
        }
    }
    let mut out = Vec::new();
    let mut lib_python = |root: &Path| {
        for py in entries(&root.join("lib"), "python3").into_iter().rev() {
            out.push(py.join("site-packages"));
            out.push(py.join("dist-packages"));
        }
    };
    for r in &roots {
        lib_python(r);
    }
    if let Some(v) = var("HOME") {
        let home = PathBuf::from(v);
        lib_python(&home.join(".local"));
        for version in entries(&home.join(".pyenv/versions"), "").into_iter().rev() {
            lib_python(&version);
        }
    }
    lib_python(Path::new("/usr/local"));
    lib_python(Path::new("/usr"));
    out.push(PathBuf::from("/usr/lib/python3/dist-packages"));
    if let Some(v) = var("PYTHONPATH") {
        let mut front: Vec<PathBuf> = std::env::split_paths(&v).collect();
        front.append(&mut out);
        out = front;
    }
    out
}

/// The folders searched for the driver and for NVRTC, in order, when the dynamic loader's own
/// search misses them. The driver: the system's library folders and where containers mount
/// it (never a toolkit's `stubs`). NVRTC: the CUDA toolkit (`CUDA_PATH`, `CUDA_HOME`,
/// `/usr/local/cuda`), then NVIDIA's Python wheels.
pub(crate) fn search_dirs(var: &dyn Fn(&str) -> Option<OsString>) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let driver = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/nvidia/lib64",
        "/usr/local/nvidia/lib",
        "/usr/lib/wsl/lib",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    let mut nvrtc = Vec::new();
    for name in ["CUDA_PATH", "CUDA_HOME", "CUDA_ROOT"] {
        if let Some(v) = var(name) {
            nvrtc.push(Path::new(&v).join("lib64"));
            nvrtc.push(Path::new(&v).join("lib"));
        }
    }
    for d in [
        "/usr/local/cuda/lib64",
        "/usr/local/cuda/targets/x86_64-linux/lib",
        "/opt/cuda/lib64",
    ] {
        nvrtc.push(PathBuf::from(d));
    }
    for site in site_packages(var) {
        for w in WHEEL_DIRS {
            nvrtc.push(site.join(w));
        }
    }
    let mut seen = std::collections::HashSet::new();
    nvrtc.retain(|d| seen.insert(d.clone()));
    (driver, nvrtc)
}

/// The first file in `dirs` (in order) with one of `names` (in order).
pub(crate) fn first_file(dirs: &[PathBuf], names: &[&str]) -> Option<PathBuf> {
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// The driver and NVRTC libraries mapped into a process, from the text of its
/// `/proc/self/maps`.
pub(crate) fn libraries_in_maps(maps: &str) -> (Option<PathBuf>, Option<PathBuf>) {
    let mut driver = None;
    let mut nvrtc = None;
    for path in maps.lines().filter_map(|l| l.split_whitespace().nth(5)) {
        let name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("libcuda.so") && driver.is_none() {
            driver = Some(PathBuf::from(path));
        } else if (name.starts_with("libnvrtc.so") || name.starts_with("libnvrtc.alt.so"))
            && nvrtc.is_none()
        {
            nvrtc = Some(PathBuf::from(path));
        }
    }
    (driver, nvrtc)
}

/// Loads `path` for good, so that the later loads by name (cudarc's) find it by its soname.
fn preload(path: &Path) -> bool {
    // SAFETY: loading a CUDA library runs only its initialisers, which have no preconditions;
    // it stays loaded for the life of the process.
    match unsafe { libloading::Library::new(path) } {
        Ok(lib) => {
            std::mem::forget(lib);
            true
        }
        Err(_) => false,
    }
}

/// Finds and loads the CUDA driver library and NVRTC, once per process, and says which were
/// loaded. The dynamic loader's own search comes first (`LD_LIBRARY_PATH`, then the system's
/// cache), so a path the user set wins; what it misses is looked for in [`search_dirs`] and
/// loaded by path (NVRTC with its `libnvrtc-builtins` beside it).
pub fn load_libraries() -> Libraries {
    static FOUND: OnceLock<Libraries> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let (driver_dirs, nvrtc_dirs) = search_dirs(&|n| std::env::var_os(n));
            let existing = |dirs: &[PathBuf]| -> Vec<PathBuf> {
                dirs.iter().filter(|d| d.is_dir()).cloned().collect()
            };
            let (mut driver_searched, mut nvrtc_searched) = (Vec::new(), Vec::new());
            // SAFETY (the presence checks): these only try to dlopen the libraries by name.
            if !unsafe { cudarc::driver::sys::is_culib_present() } {
                driver_searched = existing(&driver_dirs);
                if let Some(p) = first_file(&driver_dirs, DRIVER_NAMES) {
                    preload(&p);
                }
            }
            if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
                nvrtc_searched = existing(&nvrtc_dirs);
                for dir in &nvrtc_dirs {
                    if let Some(p) = first_file(std::slice::from_ref(dir), NVRTC_NAMES) {
                        for builtins in entries(dir, "libnvrtc-builtins.so") {
                            preload(&builtins);
                        }
                        if preload(&p) && unsafe { cudarc::nvrtc::sys::is_culib_present() } {
                            break;
                        }
                    }
                }
            }
            // SAFETY: `culib` loads a library by name and keeps it; it is called only after the
            // presence check succeeded, so it does not panic.
            unsafe {
                if cudarc::driver::sys::is_culib_present() {
                    cudarc::driver::sys::culib();
                }
                if cudarc::nvrtc::sys::is_culib_present() {
                    cudarc::nvrtc::sys::culib();
                }
            }
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
            let (mapped_driver, mapped_nvrtc) = libraries_in_maps(&maps);
            // Where the maps cannot say (no /proc), the name the loader found is all there is.
            // SAFETY: as above.
            let driver = mapped_driver.or_else(|| {
                unsafe { cudarc::driver::sys::is_culib_present() }
                    .then(|| PathBuf::from("libcuda.so"))
            });
            let nvrtc = mapped_nvrtc.or_else(|| {
                unsafe { cudarc::nvrtc::sys::is_culib_present() }
                    .then(|| PathBuf::from("libnvrtc.so"))
            });
            Libraries {
                driver,
                nvrtc,
                driver_searched,
                nvrtc_searched,
            }
        })
        .clone()
}

/// The device a trainer runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// CUDA ordinal.
    pub ordinal: usize,
    /// Its name, for example `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// Compute capability `(major, minor)`.
    pub capability: (i32, i32),
    /// Memory in bytes.
    pub memory: usize,
    /// The CUDA version the driver supports, `(major, minor)`.
    pub driver_version: (i32, i32),
    /// NVRTC's version, `(major, minor)`.
    pub nvrtc_version: (i32, i32),
    /// The libraries loaded.
    pub libraries: Libraries,
}

impl DeviceInfo {
    /// As recorded with results: `cuda:0 (NVIDIA H100 80GB HBM3)`.
    pub fn label(&self) -> String {
        format!("cuda:{} ({})", self.ordinal, self.name)
    }

    /// Everything about the device and the libraries, on one line, for logs and reports.
    pub fn describe(&self) -> String {
        format!(
            "{}, sm_{}{}, {:.1} GiB; driver CUDA {}.{}, NVRTC {}.{}; {}",
            self.label(),
            self.capability.0,
            self.capability.1,
            self.memory as f64 / (1u64 << 30) as f64,
            self.driver_version.0,
            self.driver_version.1,
            self.nvrtc_version.0,
            self.nvrtc_version.1,
            self.libraries
        )
    }
}

/// Checks that the CUDA driver, NVRTC and device `ordinal` are there, without compiling
/// anything.
///
/// # Errors
/// [`GpuError::Unavailable`] saying which part is missing.
pub fn probe(ordinal: usize) -> Result<DeviceInfo, GpuError> {
    open(ordinal).map(|(_, info)| info)
}

pub(crate) fn open(ordinal: usize) -> Result<(Arc<CudaContext>, DeviceInfo), GpuError> {
    let libraries = load_libraries();
    let searched = |dirs: &[PathBuf]| {
        let mut all = vec![
            "LD_LIBRARY_PATH".to_string(),
            "the system's cache".to_string(),
        ];
        all.extend(dirs.iter().map(|d| d.display().to_string()));
        format!(" (searched {})", all.join(", "))
    };
    if libraries.driver.is_none() {
        return Err(GpuError::Unavailable(format!(
            "the CUDA driver library (libcuda.so) was not found{}; --device cuda needs an NVIDIA \
             GPU with its driver installed (use --device cpu here)",
            searched(&libraries.driver_searched)
        )));
    }
    if libraries.nvrtc.is_none() {
        return Err(GpuError::Unavailable(format!(
            "NVRTC (libnvrtc.so) was not found{}; install the CUDA toolkit or pip's \
             nvidia-cuda-nvrtc, or put the directory holding libnvrtc.so on LD_LIBRARY_PATH",
            searched(&libraries.nvrtc_searched)
        )));
    }
    let count = CudaContext::device_count()
        .map_err(|e| GpuError::Unavailable(format!("the CUDA driver found no device: {e}")))?;
    if ordinal >= count.max(0) as usize {
        return Err(GpuError::Unavailable(format!(
            "there is no CUDA device {ordinal} (this machine has {count})"
        )));
    }
    let ctx = CudaContext::new(ordinal)
        .map_err(|e| GpuError::Unavailable(format!("opening CUDA device {ordinal}: {e}")))?;
    let driver = |e: cudarc::driver::DriverError| GpuError::Driver(e.to_string());
    let info = DeviceInfo {
        ordinal,
        name: ctx.name().map_err(driver)?,
        capability: ctx.compute_capability().map_err(driver)?,
        memory: ctx.total_mem().map_err(driver)?,
        driver_version: crate::compile::driver_version(),
        nvrtc_version: crate::compile::nvrtc_version()
            .map_err(|e| GpuError::Unavailable(e.to_string()))?,
        libraries,
    };
    Ok((ctx, info))
}

/// Trains batches of runs on one CUDA device. Kernels are compiled on first use and kept for
/// later batches.
pub struct CudaTrainer {
    stream: Arc<CudaStream>,
    cache: Cache,
    info: DeviceInfo,
}

impl CudaTrainer {
    /// Opens device `ordinal`.
    ///
    /// # Errors
    /// [`GpuError::Unavailable`] when there is no CUDA here (the message says what is missing).
    pub fn new(ordinal: usize) -> Result<CudaTrainer, GpuError> {
        let (ctx, info) = open(ordinal)?;
        // SAFETY: the trainer uses the one default stream for every allocation, copy and
        // launch, in program order, so no buffer needs cross-stream events; without them each
        // kernel argument would record an event on every launch.
        unsafe { ctx.disable_event_tracking() };
        Ok(CudaTrainer {
            stream: ctx.default_stream(),
            cache: Cache::new(ctx, info.capability),
            info,
        })
    }

    /// The device.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// What compiling the kernels took so far (modules compiled and read from the disk cache,
    /// the target, seconds).
    pub fn compile_stats(&self) -> &crate::CompileStats {
        self.cache.stats()
    }
}

macro_rules! batch_trainer {
    ($f:ty) => {
        impl shatter_core::batch::BatchTrainer<$f> for CudaTrainer {
            fn device(&self) -> String {
                self.info.label()
            }

            fn unsupported(
                &self,
                shape: &shatter_core::Shape,
                n: usize,
                cfg: &shatter_core::train::TrainConfig,
            ) -> Option<String> {
                crate::unsupported(shape, n, cfg)
            }

            fn train_batch(
                &mut self,
                runs: &mut [shatter_core::batch::BatchRun<'_, $f>],
                observe: &shatter_core::batch::BatchObserver<'_>,
            ) -> Result<Vec<shatter_core::train::TrainOutcome>, shatter_core::batch::BatchError>
            {
                for (i, run) in runs.iter().enumerate() {
                    if let Some(why) = crate::unsupported(&run.net.shape, run.data.n, run.cfg) {
                        return Err(shatter_core::batch::BatchError(format!(
                            "run {i} of the batch cannot train on the GPU: {why}"
                        )));
                    }
                }
                crate::trainer::train_batch(self.stream.clone(), &mut self.cache, runs, observe)
                    .map_err(|e| shatter_core::batch::BatchError(e.to_string()))
            }
        }
    };
}
batch_trainer!(f32);
batch_trainer!(f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvrtc_is_looked_for_in_the_toolkit_then_in_python_wheels() {
        let tmp = tempfile::tempdir().unwrap();
        let venv = tmp.path().join("venv");
        let site = venv.join("lib/python3.12/site-packages");
        let cu13 = site.join("nvidia/cu13/lib");
        let cu12 = site.join("nvidia/cuda_nvrtc/lib");
        std::fs::create_dir_all(&cu13).unwrap();
        std::fs::create_dir_all(&cu12).unwrap();
        std::fs::write(cu12.join("libnvrtc.so.12"), b"").unwrap();
        let toolkit = tmp.path().join("cuda");
        let vars = |name: &str| match name {
            "VIRTUAL_ENV" => Some(venv.clone().into_os_string()),
            "CUDA_HOME" => Some(toolkit.clone().into_os_string()),
            _ => None,
        };
        let (driver, nvrtc) = search_dirs(&vars);
        assert!(driver
            .iter()
            .all(|d| !d.to_string_lossy().contains("stubs")));
        assert_eq!(nvrtc[0], toolkit.join("lib64"));
        let at = |d: &Path| nvrtc.iter().position(|x| x == d).unwrap();
        assert!(at(Path::new("/usr/local/cuda/lib64")) < at(&cu13));
        assert!(at(&cu13) < at(&cu12), "{nvrtc:?}");
        // Only the cu12 wheel holds a library: that is the one found.
        assert_eq!(
            first_file(&nvrtc, NVRTC_NAMES),
            Some(cu12.join("libnvrtc.so.12"))
        );
        // With the CUDA 13 wheel installed too, it comes first.
        std::fs::write(cu13.join("libnvrtc.so.13"), b"").unwrap();
        assert_eq!(
            first_file(&nvrtc, NVRTC_NAMES),
            Some(cu13.join("libnvrtc.so.13"))
        );
        // PYTHONPATH entries come before the environments.
        let extra = tmp.path().join("extra");
        let vars2 = |name: &str| match name {
            "PYTHONPATH" => Some(extra.clone().into_os_string()),
            "VIRTUAL_ENV" => Some(venv.clone().into_os_string()),
            _ => None,
        };
        let (_, nvrtc) = search_dirs(&vars2);
        let at = |d: &Path| nvrtc.iter().position(|x| x == d).unwrap();
        assert!(at(&extra.join("nvidia/cu13/lib")) < at(&cu13));
    }

    #[test]
    fn the_loaded_libraries_are_read_from_the_process_maps() {
        let maps = "\
7f00-7f10 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06
7f10-7f20 r--p 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06
7f20-7f30 r-xp 00000000 08:01 2 /venv/nvidia/cu13/lib/libnvrtc-builtins.so.13.0
7f30-7f40 r-xp 00000000 08:01 3 /venv/nvidia/cu13/lib/libnvrtc.so.13
7f40-7f50 rw-p 00000000 00:00 0
7f50-7f60 r-xp 00000000 08:01 4 /usr/lib/libc.so.6
";
        let (driver, nvrtc) = libraries_in_maps(maps);
        assert_eq!(
            driver.as_deref(),
            Some(Path::new("/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06"))
        );
        assert_eq!(
            nvrtc.as_deref(),
            Some(Path::new("/venv/nvidia/cu13/lib/libnvrtc.so.13"))
        );
        assert_eq!(
            libraries_in_maps("7f-8f r-xp 0 0 0 /lib/libc.so.6\n"),
            (None, None)
        );
    }
}
