//! The CUDA source of every kernel instantiation a batch needs, compiled by NVRTC at run time:
//! one module of per-run kernels per precision, one module of tile kernels per (precision,
//! padded dimension, activation). A batch's missing modules are compiled in parallel, straight
//! to machine code for the device's `sm_XX` (PTX for the driver to compile when NVRTC does not
//! know the device, or the driver rejects the machine code), kept per device in memory and on
//! disk (`disk.rs`).

use crate::disk::{build, DiskCache, Form, Origin, Target};
use crate::pack::CLUSTERS;
use crate::GpuError;
use cudarc::driver::{CudaContext, CudaFunction, DeviceRepr, DriverError, ValidAsZeroBits};
use shatter_core::{Activation, Float};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The templates shared by every module.
const KERNELS: &str = include_str!("kernels.cu");

/// A precision the kernels are built for.
pub trait GpuFloat: Float + DeviceRepr + ValidAsZeroBits + Unpin {
    /// The CUDA type.
    const CUDA: &'static str;
}

impl GpuFloat for f32 {
    const CUDA: &'static str = "float";
}

impl GpuFloat for f64 {
    const CUDA: &'static str = "double";
}

/// The per-run kernels of one precision.
pub(crate) struct Common {
    pub reduce_train: CudaFunction,
    pub step: CudaFunction,
    pub run_sum: CudaFunction,
}

/// The tile kernels of one (precision, padded dimension, activation).
pub(crate) struct Tiled {
    pub forward: CudaFunction,
    pub test: CudaFunction,
    pub jvp: CudaFunction,
    pub grad: CudaFunction,
    pub hvp: CudaFunction,
    /// Whole record intervals of the group's runs, one block per run (`fused` in kernels.cu).
    pub fused: CudaFunction,
    /// The same for runs trained by a thread-block cluster, by cluster size (`fused_cN_k`):
    /// empty below sm_90.
    pub clustered: Vec<(usize, CudaFunction)>,
}

impl Tiled {
    /// The fused kernel for runs trained by `cl` blocks.
    pub fn fused_for(&self, cl: usize) -> Option<&CudaFunction> {
        if cl == 1 {
            return Some(&self.fused);
        }
        self.clustered
            .iter()
            .find(|(c, _)| *c == cl)
            .map(|(_, f)| f)
    }
}

fn act_id(a: Activation) -> usize {
    match a {
        Activation::Relu => 0,
        Activation::Gelu => 1,
    }
}

/// Source of the per-run kernels for CUDA type `t`.
pub(crate) fn common_source(t: &str) -> String {
    format!(
        r#"{KERNELS}
extern "C" __global__ void __launch_bounds__(THREADS) reduce_train_k(const i64 *meta, const {t} *LT, const {t} *E1, {t} *G, int *on, int *diverged_at, double *loss, double *gnorm, double *scale, const double *hyper, double *loss0, int *since, double factor, int window, int epoch) {{
    reduce_train<{t}>(meta, LT, E1, G, on, diverged_at, loss, gnorm, scale, hyper, loss0, since, factor, window, epoch);
}}
extern "C" __global__ void __launch_bounds__(THREADS) step_k(const i64 *meta, const int *tiles, {t} *P, const {t} *G, {t} *V, const double *hyper, const double *scale, const int *on) {{
    step<{t}>(meta, tiles, P, G, V, hyper, scale, on);
}}
extern "C" __global__ void __launch_bounds__(THREADS) run_sum_k(const i64 *meta, const {t} *SRC, int test, double *out, const int *on) {{
    run_sum<{t}>(meta, SRC, test, out, on);
}}
"#
    )
}

/// Threads per block of the fused kernel for CUDA type `t`: 512 in `float` (it fits in 128
/// registers), 256 in `double`.
pub(crate) fn fused_threads(t: &str) -> usize {
    if t == "float" {
        512
    } else {
        256
    }
}

/// The entry point of the fused kernel for CUDA type `t`, padded dimension `d`, activation id
/// `a` and clusters of `cl` blocks (`fused_k` for one block, `fused_cN_k` with a compile-time
/// cluster size for more).
fn fused_entry(t: &str, d: usize, a: usize, cl: usize) -> String {
    let nt = fused_threads(t);
    let (name, dims) = if cl == 1 {
        ("fused_k".to_string(), String::new())
    } else {
        (
            format!("fused_c{cl}_k"),
            format!("__cluster_dims__({cl}, 1, 1) "),
        )
    };
    format!(
        r#"extern "C" __global__ void {dims}__launch_bounds__({nt}) {name}(const i64 *meta, const int *runs, const {t} *X, const {t} *Y, {t} *P, {t} *G, {t} *V, {t} *E1, {t} *E2, {t} *LT, int *on, int *diverged_at, double *loss, double *gnorm, double *scale, const double *hyper, double *loss0, int *since, double factor, int window, int from, int to, int step_first) {{
    fused<{t}, {d}, {a}, {nt}, {cl}>(meta, runs, X, Y, P, G, V, E1, E2, LT, on, diverged_at, loss, gnorm, scale, hyper, loss0, since, factor, window, from, to, step_first);
}}
"#
    )
}

/// Source of the tile kernels for CUDA type `t`, padded dimension `d` and activation `a`, with
/// the fused kernel for thread-block clusters of every size in `CLUSTERS` when `clusters`
/// (the device is sm_90 or newer).
pub(crate) fn tiled_source(t: &str, d: usize, a: Activation, clusters: bool) -> String {
    let a = act_id(a);
    let mut fused = fused_entry(t, d, a, 1);
    if clusters {
        for &cl in CLUSTERS {
            fused.push_str(&fused_entry(t, d, a, cl));
        }
    }
    format!(
        r#"{KERNELS}
extern "C" __global__ void __launch_bounds__(THREADS) forward_k(const i64 *meta, const int *tiles, const {t} *X, const {t} *Y, const {t} *P, {t} *E1, {t} *E2, {t} *LT, const int *on) {{
    sample_tile<{t}, {d}, {a}, 0>(meta, tiles, X, Y, P, P, E1, E2, LT, on);
}}
extern "C" __global__ void __launch_bounds__(THREADS) test_k(const i64 *meta, const int *tiles, const {t} *XT, const {t} *YT, const {t} *P, {t} *RT, const int *on) {{
    sample_tile<{t}, {d}, {a}, 1>(meta, tiles, XT, YT, P, P, nullptr, nullptr, RT, on);
}}
extern "C" __global__ void __launch_bounds__(THREADS) jvp_k(const i64 *meta, const int *tiles, const {t} *X, const {t} *P, const {t} *DIR, {t} *E2, {t} *Q, const int *on) {{
    sample_tile<{t}, {d}, {a}, 2>(meta, tiles, X, nullptr, P, DIR, nullptr, E2, Q, on);
}}
extern "C" __global__ void __launch_bounds__(THREADS) grad_k(const i64 *meta, const int *tiles, const {t} *X, const {t} *P, const {t} *E1, {t} *G, const int *on) {{
    neuron_tile<{t}, {d}, {a}, 0>(meta, tiles, X, P, P, E1, E1, G, on);
}}
extern "C" __global__ void __launch_bounds__(THREADS) hvp_k(const i64 *meta, const int *tiles, const {t} *X, const {t} *P, const {t} *DIR, const {t} *E1, const {t} *Q, {t} *HV, const int *on) {{
    neuron_tile<{t}, {d}, {a}, 1>(meta, tiles, X, P, DIR, E1, Q, HV, on);
}}
{fused}"#
    )
}

/// Whether code for architecture `arch` (NVRTC numbering) can launch thread-block clusters.
pub(crate) fn has_clusters(arch: i32) -> bool {
    arch >= 90
}

/// The architectures this NVRTC can compile for (NVRTC numbering: 90 for `sm_90`).
pub(crate) fn supported_archs() -> Result<Vec<i32>, GpuError> {
    use cudarc::nvrtc::sys;
    let mut count = 0;
    // SAFETY: NVRTC was found loadable by `device::open` before any compile; the buffer holds
    // the number of entries NVRTC reported.
    unsafe {
        sys::nvrtcGetNumSupportedArchs(&mut count)
            .result()
            .map_err(|e| GpuError::Compile(format!("asking NVRTC for its architectures: {e}")))?;
        let mut archs = vec![0; count.max(0) as usize];
        sys::nvrtcGetSupportedArchs(archs.as_mut_ptr())
            .result()
            .map_err(|e| GpuError::Compile(format!("asking NVRTC for its architectures: {e}")))?;
        Ok(archs)
    }
}

/// NVRTC's version `(major, minor)`.
pub(crate) fn nvrtc_version() -> Result<(i32, i32), GpuError> {
    let (mut major, mut minor) = (0, 0);
    // SAFETY: as in `supported_archs`; two plain out-parameters.
    unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| GpuError::Compile(format!("asking NVRTC for its version: {e}")))?;
    Ok((major, minor))
}

/// What to compile for a device of compute `capability` with an NVRTC that supports `archs`:
/// machine code for the device itself when NVRTC knows it; otherwise PTX for the newest
/// architecture below it that NVRTC knows (the driver compiles that for the device).
///
/// # Errors
/// [`GpuError::Compile`] when NVRTC knows no architecture at or below the device's (an NVRTC
/// too new for an old GPU).
pub(crate) fn choose_target(
    capability: (i32, i32),
    archs: &[i32],
    nvrtc: (i32, i32),
) -> Result<Target, GpuError> {
    let arch = capability.0 * 10 + capability.1;
    if archs.contains(&arch) {
        return Ok(Target {
            arch,
            form: Form::Cubin,
            nvrtc,
        });
    }
    match archs.iter().copied().filter(|&a| a < arch).max() {
        Some(below) => Ok(Target {
            arch: below,
            form: Form::Ptx,
            nvrtc,
        }),
        None => Err(GpuError::Compile(format!(
            "NVRTC {}.{} cannot compile for this GPU (sm_{arch}); it supports {archs:?}: use an \
             older CUDA toolkit or NVRTC wheel",
            nvrtc.0, nvrtc.1
        ))),
    }
}

/// Compiles `source` for `target` with NVRTC: a cubin, or PTX text ending in a NUL byte (as
/// the driver reads it).
pub(crate) fn compile(source: &str, target: &Target) -> Result<Vec<u8>, GpuError> {
    use cudarc::nvrtc::{result, sys};
    let fail = |what: &str, e: result::NvrtcError| GpuError::Compile(format!("{what}: {e}"));
    let src = std::ffi::CString::new(source)
        .map_err(|_| GpuError::Compile("the kernel source holds a NUL byte".into()))?;
    let prog = result::create_program(&src, None).map_err(|e| fail("nvrtcCreateProgram", e))?;
    // SAFETY: `prog` was just created and is destroyed once, below; the buffers are sized by
    // the sizes NVRTC reports.
    let built = unsafe {
        match result::compile_program(prog, &[target.option(), "--std=c++17".to_string()]) {
            Err(e) => {
                let log = result::get_program_log(prog)
                    .map(|l| {
                        let bytes: Vec<u8> = l.iter().map(|&c| c as u8).collect();
                        String::from_utf8_lossy(&bytes)
                            .trim_end_matches('\0')
                            .to_string()
                    })
                    .unwrap_or_default();
                Err(GpuError::Compile(format!(
                    "NVRTC {} for {}: {e}\n{log}",
                    target.nvrtc.0,
                    target.option()
                )))
            }
            Ok(()) => {
                let mut size = 0usize;
                type Size = unsafe fn(sys::nvrtcProgram, *mut usize) -> sys::nvrtcResult;
                type Get = unsafe fn(sys::nvrtcProgram, *mut std::ffi::c_char) -> sys::nvrtcResult;
                let (sized, got): (Size, Get) = match target.form {
                    Form::Cubin => (sys::nvrtcGetCUBINSize, sys::nvrtcGetCUBIN),
                    Form::Ptx => (sys::nvrtcGetPTXSize, sys::nvrtcGetPTX),
                };
                sized(prog, &mut size)
                    .result()
                    .map_err(|e| fail("reading the compiled size", e))
                    .and_then(|()| {
                        let mut out = vec![0u8; size];
                        got(prog, out.as_mut_ptr().cast())
                            .result()
                            .map_err(|e| fail("reading the compiled module", e))?;
                        if target.form == Form::Ptx && out.last() != Some(&0) {
                            out.push(0);
                        }
                        Ok(out)
                    })
            }
        }
    };
    // SAFETY: `prog` is live and destroyed only here.
    let _ = unsafe { result::destroy_program(prog) };
    built
}

/// Compiles `source` to PTX text for `compute_XX` of `capability`.
#[cfg(test)]
pub(crate) fn to_ptx(source: &str, capability: (i32, i32)) -> Result<String, GpuError> {
    let target = Target {
        arch: capability.0 * 10 + capability.1,
        form: Form::Ptx,
        nvrtc: nvrtc_version()?,
    };
    let bytes = compile(source, &target)?;
    Ok(String::from_utf8_lossy(&bytes)
        .trim_end_matches('\0')
        .to_string())
}

/// The CUDA driver's version as `(major, minor)`, `(0, 0)` when it cannot say.
pub(crate) fn driver_version() -> (i32, i32) {
    let mut v = 0;
    // SAFETY: the driver library was found loadable by `device::open`; one out-parameter.
    let ok = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) }
        .result()
        .is_ok();
    if ok {
        (v / 1000, (v % 1000) / 10)
    } else {
        (0, 0)
    }
}

/// What compiling and loading the kernels took, for reports (`bench/gpu.sh`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompileStats {
    /// The target, `sm_90 cubin` or `compute_90 ptx`.
    pub target: String,
    /// Modules compiled by NVRTC.
    pub compiled: usize,
    /// Modules read from the disk cache.
    pub cached: usize,
    /// Modules whose machine code the driver rejected, loaded from PTX instead.
    pub ptx_fallbacks: usize,
    /// Wall seconds spent compiling and loading.
    pub seconds: f64,
    /// The disk cache's folder (`None`: caching off).
    pub cache_dir: Option<std::path::PathBuf>,
}

/// Why the driver would not load a module, in words that say what to do.
fn load_error(e: DriverError, target: &Target) -> GpuError {
    let (dmaj, dmin) = driver_version();
    let (nmaj, nmin) = target.nvrtc;
    if e.0 == cudarc::driver::sys::CUresult::CUDA_ERROR_UNSUPPORTED_PTX_VERSION {
        return GpuError::Compile(unsupported_ptx_message((dmaj, dmin), target.nvrtc));
    }
    GpuError::Driver(format!(
        "loading the kernels compiled by NVRTC {nmaj}.{nmin} for {} (driver CUDA \
         {dmaj}.{dmin}): {e}",
        target.option()
    ))
}

/// What CUDA_ERROR_UNSUPPORTED_PTX_VERSION means and what to do about it.
pub(crate) fn unsupported_ptx_message(driver: (i32, i32), nvrtc: (i32, i32)) -> String {
    let (dmaj, dmin) = driver;
    let (nmaj, nmin) = nvrtc;
    format!(
        "the CUDA driver (CUDA {dmaj}.{dmin}) rejects code from NVRTC {nmaj}.{nmin} \
         (CUDA_ERROR_UNSUPPORTED_PTX_VERSION): the NVRTC found is newer than the driver. Put \
         an NVRTC no newer than CUDA {dmaj}.{dmin} first on LD_LIBRARY_PATH (for example \
         pip's nvidia-cuda-nvrtc-cu{dmaj}), or update the driver"
    )
}

/// Compiled modules of one device: kept in memory for later batches, and on disk
/// ([`DiskCache`]) for later starts.
pub(crate) struct Cache {
    ctx: Arc<CudaContext>,
    capability: (i32, i32),
    target: Option<Target>,
    disk: DiskCache,
    common: HashMap<&'static str, Arc<Common>>,
    tiled: HashMap<(&'static str, usize, usize), Arc<Tiled>>,
    stats: CompileStats,
}

/// One module to build: its source and what goes where once loaded.
enum Want {
    Common(&'static str),
    /// Precision, padded dimension, activation, and whether clustered fused kernels are in.
    Tiled(&'static str, usize, Activation, bool),
}

/// The entry points of a tile module, in the order `Tiled` takes them.
fn tiled_names(clusters: bool) -> Vec<String> {
    let mut names: Vec<String> = ["forward_k", "test_k", "jvp_k", "grad_k", "hvp_k", "fused_k"]
        .map(String::from)
        .to_vec();
    if clusters {
        names.extend(CLUSTERS.iter().map(|cl| format!("fused_c{cl}_k")));
    }
    names
}

impl Want {
    fn source(&self) -> String {
        match self {
            Want::Common(t) => common_source(t),
            Want::Tiled(t, d, a, c) => tiled_source(t, *d, *a, *c),
        }
    }

    fn names(&self) -> Vec<String> {
        match self {
            Want::Common(_) => ["reduce_train_k", "step_k", "run_sum_k"]
                .map(String::from)
                .to_vec(),
            Want::Tiled(.., c) => tiled_names(*c),
        }
    }
}

impl Cache {
    pub fn new(ctx: Arc<CudaContext>, capability: (i32, i32)) -> Cache {
        let disk = DiskCache::from_env();
        let stats = CompileStats {
            cache_dir: disk.dir().map(Path::to_path_buf),
            ..CompileStats::default()
        };
        Cache {
            ctx,
            capability,
            target: None,
            disk,
            common: HashMap::new(),
            tiled: HashMap::new(),
            stats,
        }
    }

    /// What compiling took so far.
    pub fn stats(&self) -> &CompileStats {
        &self.stats
    }

    fn target(&mut self) -> Result<Target, GpuError> {
        if let Some(t) = self.target {
            return Ok(t);
        }
        let t = choose_target(self.capability, &supported_archs()?, nvrtc_version()?)?;
        self.stats.target = match t.form {
            Form::Cubin => format!("sm_{} cubin", t.arch),
            Form::Ptx => format!("compute_{} ptx", t.arch),
        };
        self.target = Some(t);
        Ok(t)
    }

    fn load(&self, image: Vec<u8>, names: &[String]) -> Result<Vec<CudaFunction>, DriverError> {
        let module = self
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(image))?;
        names.iter().map(|n| module.load_function(n)).collect()
    }

    /// Builds every module of precision `T` that a batch with tile groups `groups` (padded
    /// dimension, activation) needs and that is not built yet: compiled in parallel (or read
    /// from the disk cache), then loaded. Machine code the driver rejects is replaced by PTX.
    pub fn prepare<T: GpuFloat>(&mut self, groups: &[(usize, Activation)]) -> Result<(), GpuError> {
        let mut wants = Vec::new();
        if !self.common.contains_key(T::CUDA) {
            wants.push(Want::Common(T::CUDA));
        }
        for &(d, a) in groups {
            let key = (T::CUDA, d, act_id(a));
            let dup = wants
                .iter()
                .any(|w| matches!(w, Want::Tiled(_, wd, wa, _) if *wd == d && *wa == a));
            if !self.tiled.contains_key(&key) && !dup {
                wants.push(Want::Tiled(T::CUDA, d, a, false));
            }
        }
        if wants.is_empty() {
            return Ok(());
        }
        let t0 = std::time::Instant::now();
        let target = self.target()?;
        for w in &mut wants {
            if let Want::Tiled(.., c) = w {
                *c = has_clusters(target.arch);
            }
        }
        let sources: Vec<String> = wants.iter().map(Want::source).collect();
        let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
        let built = build(&refs, &target, &self.disk, |s| compile(s, &target))?;
        for ((want, source), (image, origin)) in wants.iter().zip(&sources).zip(built) {
            match origin {
                Origin::Cache => self.stats.cached += 1,
                Origin::Compiled => self.stats.compiled += 1,
            }
            let names = want.names();
            let f = match self.load(image, &names) {
                Ok(f) => f,
                Err(e) if target.form == Form::Cubin => {
                    // Machine code the driver cannot take: PTX for the same architecture, which
                    // the driver compiles itself.
                    let ptx = Target {
                        form: Form::Ptx,
                        ..target
                    };
                    let image = build(&[source.as_str()], &ptx, &self.disk, |s| compile(s, &ptx))?
                        .pop()
                        .map(|(b, _)| b)
                        .unwrap_or_default();
                    self.stats.ptx_fallbacks += 1;
                    self.load(image, &names)
                        .map_err(|e2| match load_error(e2, &ptx) {
                            GpuError::Driver(why) => GpuError::Driver(format!(
                                "the driver rejected the cubin ({e}) and then the PTX: {why}"
                            )),
                            other => other,
                        })?
                }
                Err(e) => return Err(load_error(e, &target)),
            };
            let mut f = f.into_iter();
            let mut next = || f.next().expect("one function per name");
            match want {
                Want::Common(t) => {
                    let (reduce_train, step, run_sum) = (next(), next(), next());
                    self.common.insert(
                        t,
                        Arc::new(Common {
                            reduce_train,
                            step,
                            run_sum,
                        }),
                    );
                }
                Want::Tiled(t, d, a, c) => {
                    let (forward, test, jvp, grad, hvp) = (next(), next(), next(), next(), next());
                    let fused = next();
                    let clustered = if *c {
                        CLUSTERS.iter().map(|&cl| (cl, next())).collect()
                    } else {
                        Vec::new()
                    };
                    self.tiled.insert(
                        (t, *d, act_id(*a)),
                        Arc::new(Tiled {
                            forward,
                            test,
                            jvp,
                            grad,
                            hvp,
                            fused,
                            clustered,
                        }),
                    );
                }
            }
        }
        self.stats.seconds += t0.elapsed().as_secs_f64();
        Ok(())
    }

    /// The largest thread-block cluster the compiled fused kernels take (1 below sm_90).
    pub fn max_cluster(&mut self) -> Result<usize, GpuError> {
        let arch = self.target()?.arch;
        Ok(if has_clusters(arch) {
            CLUSTERS.iter().copied().max().unwrap_or(1)
        } else {
            1
        })
    }

    /// The per-run kernels for precision `T`.
    pub fn common<T: GpuFloat>(&mut self) -> Result<Arc<Common>, GpuError> {
        self.prepare::<T>(&[])?;
        Ok(self.common[T::CUDA].clone())
    }

    /// The tile kernels for precision `T`, padded dimension `d` and activation `a`.
    pub fn tiled<T: GpuFloat>(&mut self, d: usize, a: Activation) -> Result<Arc<Tiled>, GpuError> {
        self.prepare::<T>(&[(d, a)])?;
        Ok(self.tiled[&(T::CUDA, d, act_id(a))].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_gets_machine_code_when_nvrtc_knows_it_and_ptx_otherwise() {
        let archs = [75, 80, 86, 87, 89, 90, 100, 120];
        let t = choose_target((9, 0), &archs, (13, 0)).unwrap();
        assert_eq!((t.arch, t.form), (90, Form::Cubin));
        // A GPU newer than this NVRTC: PTX of the newest architecture below it.
        let t = choose_target((12, 1), &archs, (13, 0)).unwrap();
        assert_eq!((t.arch, t.form), (120, Form::Ptx));
        let t = choose_target((10, 3), &archs, (13, 0)).unwrap();
        assert_eq!((t.arch, t.form), (100, Form::Ptx));
        // A GPU older than anything this NVRTC compiles for.
        let e = choose_target((7, 0), &archs, (13, 0)).unwrap_err();
        assert!(e.to_string().contains("sm_70"), "{e}");
    }

    #[test]
    fn a_driver_older_than_nvrtc_is_explained() {
        let m = unsupported_ptx_message((12, 4), (13, 0));
        for part in [
            "CUDA 12.4",
            "NVRTC 13.0",
            "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
            "nvidia-cuda-nvrtc-cu12",
            "update the driver",
        ] {
            assert!(m.contains(part), "{part}: {m}");
        }
    }

    /// Every kernel compiles for Hopper to PTX and to a cubin, in both precisions and
    /// activations, at the smallest, a middle and the largest padded dimension. Needs NVRTC
    /// only (no GPU); `device::load_libraries` finds it on the loader's path, in a CUDA toolkit
    /// or in a Python wheel.
    #[test]
    #[ignore = "needs NVRTC (a CUDA toolkit, or pip's nvidia-cuda-nvrtc): run with --include-ignored"]
    fn kernels_compile_with_nvrtc() {
        let found = crate::device::load_libraries();
        assert!(found.nvrtc.is_some(), "NVRTC was not found: {found:?}");
        let version = nvrtc_version().expect("NVRTC answers");
        let archs = supported_archs().expect("NVRTC answers");
        assert!(archs.contains(&90), "{archs:?}");
        let cubin = Target {
            arch: 90,
            form: Form::Cubin,
            nvrtc: version,
        };
        for t in ["float", "double"] {
            let ptx = to_ptx(&common_source(t), (9, 0)).expect("per-run kernels compile");
            for name in ["reduce_train_k", "step_k", "run_sum_k"] {
                assert!(ptx.contains(name), "{t}: {name} in the PTX");
            }
            let elf = compile(&common_source(t), &cubin).expect("per-run kernels compile");
            assert_eq!(&elf[..4], b"\x7fELF", "{t}: a cubin is an ELF file");
            for d in [1, 5, 64, 256] {
                for a in [Activation::Relu, Activation::Gelu] {
                    let ptx = to_ptx(&tiled_source(t, d, a, true), (9, 0))
                        .unwrap_or_else(|e| panic!("{t} d={d} {a:?}: {e}"));
                    for name in tiled_names(true) {
                        assert!(ptx.contains(&name), "{t} d={d}: {name} in the PTX");
                    }
                    // The clustered kernels carry their cluster size, and use the cluster's
                    // barrier and distributed shared memory.
                    for part in [
                        ".explicitcluster",
                        ".reqnctapercluster 8",
                        "barrier.cluster",
                        "mapa",
                    ] {
                        assert!(ptx.contains(part), "{t} d={d}: {part} in the PTX");
                    }
                    // Below sm_90 there are none.
                    let old = to_ptx(&tiled_source(t, d, a, false), (8, 0))
                        .unwrap_or_else(|e| panic!("{t} d={d} {a:?} sm_80: {e}"));
                    assert!(!old.contains("fused_c2_k") && !old.contains("barrier.cluster"));
                }
            }
        }
        // The whole set of one precision compiles through the parallel, cached path.
        let tmp = tempfile::tempdir().expect("temp dir");
        let disk = DiskCache::at(tmp.path());
        let sources: Vec<String> = [1, 16, 64]
            .iter()
            .map(|&d| tiled_source("float", d, Activation::Relu, true))
            .collect();
        let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
        let first = build(&refs, &cubin, &disk, |s| compile(s, &cubin)).expect("compiles");
        let second = build(&refs, &cubin, &disk, |s| compile(s, &cubin)).expect("cached");
        assert!(first.iter().all(|(_, o)| *o == Origin::Compiled));
        assert!(second.iter().all(|(_, o)| *o == Origin::Cache));
        assert_eq!(first[2].0, second[2].0);
        // A compile error comes back with NVRTC's log.
        let e = compile("this is not CUDA", &cubin).unwrap_err().to_string();
        assert!(e.contains("error"), "{e}");
    }
}
