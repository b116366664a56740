//! The CUDA source of every kernel instantiation a batch needs, compiled by NVRTC at run time
//! and cached per device: one module of per-run kernels per precision, one module of tile
//! kernels per (precision, padded dimension, activation).

use crate::GpuError;
use cudarc::driver::{CudaContext, CudaFunction, DeviceRepr, ValidAsZeroBits};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};
use shatter_core::{Activation, Float};
use std::collections::HashMap;
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

/// Source of the tile kernels for CUDA type `t`, padded dimension `d` and activation `a`.
pub(crate) fn tiled_source(t: &str, d: usize, a: Activation) -> String {
    let a = act_id(a);
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
"#
    )
}

/// NVRTC options for compute capability `(major, minor)`.
pub(crate) fn options(capability: (i32, i32)) -> CompileOptions {
    CompileOptions {
        options: vec![format!(
            "--gpu-architecture=compute_{}{}",
            capability.0, capability.1
        )],
        ..CompileOptions::default()
    }
}

/// Compiles `source` to PTX text.
pub(crate) fn to_ptx(source: &str, capability: (i32, i32)) -> Result<String, GpuError> {
    compile_ptx_with_opts(source, options(capability))
        .map(|p| p.to_src())
        .map_err(|e| GpuError::Compile(e.to_string()))
}

/// Compiled modules of one device, built on first use.
pub(crate) struct Cache {
    ctx: Arc<CudaContext>,
    capability: (i32, i32),
    common: HashMap<&'static str, Arc<Common>>,
    tiled: HashMap<(&'static str, usize, usize), Arc<Tiled>>,
}

impl Cache {
    pub fn new(ctx: Arc<CudaContext>, capability: (i32, i32)) -> Cache {
        Cache {
            ctx,
            capability,
            common: HashMap::new(),
            tiled: HashMap::new(),
        }
    }

    fn load(&self, source: &str, names: &[&str]) -> Result<Vec<CudaFunction>, GpuError> {
        let ptx = to_ptx(source, self.capability)?;
        let module = self
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
            .map_err(|e| GpuError::Driver(format!("loading the compiled kernels: {e}")))?;
        names
            .iter()
            .map(|n| {
                module
                    .load_function(n)
                    .map_err(|e| GpuError::Driver(format!("kernel {n}: {e}")))
            })
            .collect()
    }

    /// The per-run kernels for precision `T`.
    pub fn common<T: GpuFloat>(&mut self) -> Result<Arc<Common>, GpuError> {
        if let Some(c) = self.common.get(T::CUDA) {
            return Ok(c.clone());
        }
        let mut f = self.load(
            &common_source(T::CUDA),
            &["reduce_train_k", "step_k", "run_sum_k"],
        )?;
        let c = Arc::new(Common {
            run_sum: f.pop().expect("three kernels"),
            step: f.pop().expect("three kernels"),
            reduce_train: f.pop().expect("three kernels"),
        });
        self.common.insert(T::CUDA, c.clone());
        Ok(c)
    }

    /// The tile kernels for precision `T`, padded dimension `d` and activation `a`.
    pub fn tiled<T: GpuFloat>(&mut self, d: usize, a: Activation) -> Result<Arc<Tiled>, GpuError> {
        let key = (T::CUDA, d, act_id(a));
        if let Some(t) = self.tiled.get(&key) {
            return Ok(t.clone());
        }
        let mut f = self.load(
            &tiled_source(T::CUDA, d, a),
            &["forward_k", "test_k", "jvp_k", "grad_k", "hvp_k"],
        )?;
        let t = Arc::new(Tiled {
            hvp: f.pop().expect("five kernels"),
            grad: f.pop().expect("five kernels"),
            jvp: f.pop().expect("five kernels"),
            test: f.pop().expect("five kernels"),
            forward: f.pop().expect("five kernels"),
        });
        self.tiled.insert(key, t.clone());
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether NVRTC can be loaded here; the compile test needs it, not a GPU.
    fn nvrtc_present() -> bool {
        // SAFETY: only tries to dlopen the library by name.
        unsafe { cudarc::nvrtc::sys::is_culib_present() }
    }

    /// Every kernel compiles for Hopper in both precisions and activations, at the smallest,
    /// a middle and the largest padded dimension. Needs NVRTC only (no GPU).
    #[test]
    #[ignore = "needs NVRTC: put the CUDA toolkit's lib64 (or pip's nvidia/cuda_nvrtc/lib) on LD_LIBRARY_PATH and run with --include-ignored"]
    fn kernels_compile_with_nvrtc() {
        assert!(
            nvrtc_present(),
            "NVRTC (libnvrtc.so) was not found on the library path"
        );
        for t in ["float", "double"] {
            let ptx = to_ptx(&common_source(t), (9, 0)).expect("per-run kernels compile");
            for name in ["reduce_train_k", "step_k", "run_sum_k"] {
                assert!(ptx.contains(name), "{t}: {name} in the PTX");
            }
            for d in [1, 5, 64, 256] {
                for a in [Activation::Relu, Activation::Gelu] {
                    let ptx = to_ptx(&tiled_source(t, d, a), (9, 0))
                        .unwrap_or_else(|e| panic!("{t} d={d} {a:?}: {e}"));
                    for name in ["forward_k", "test_k", "jvp_k", "grad_k", "hvp_k"] {
                        assert!(ptx.contains(name), "{t} d={d}: {name} in the PTX");
                    }
                }
            }
        }
    }
}
