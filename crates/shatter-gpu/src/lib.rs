//! shatter-gpu: the CUDA backend. A [`CudaTrainer`] trains a whole batch of runs (any mix of
//! seeds, step sizes, decays, `n`, `d` and `K`) together in batched kernels, and measures their
//! sharpness with batched Hessian-vector products driving one Lanczos per run.
//!
//! The CUDA driver and NVRTC are loaded at run time (`cudarc` with dynamic loading) and the
//! kernels are compiled at start-up, so the project builds and runs without CUDA: there
//! [`CudaTrainer::new`] returns [`GpuError::Unavailable`] with the reason.
//!
//! The environment it reads:
//! - `SHATTER_CUDA_CACHE`: the folder of compiled kernels (default
//!   `$XDG_CACHE_HOME/shatter/cuda` or `~/.cache/shatter/cuda`; `off` compiles every time);
//! - `SHATTER_CUDA_FUSED=0`: train epoch by epoch in separate kernels instead of the fused
//!   kernel that trains whole record intervals;
//! - `SHATTER_CUDA_CLUSTERS=0`: train every run in one block of the fused kernel, instead of
//!   splitting the largest over a thread-block cluster (sm_90 and newer);
//! - `SHATTER_CUDA_SYNC=1`: synchronise after every kernel launch, so that a fault is reported
//!   by the kernel that caused it (slow; for debugging);
//! - `LD_LIBRARY_PATH`, `CUDA_PATH`, `CUDA_HOME`, `VIRTUAL_ENV`, `CONDA_PREFIX`, `PYTHONPATH`:
//!   where the driver and NVRTC are looked for ([`load_libraries`]).

// Kernel launches and raw device memory are unsafe by nature; the unsafe blocks are confined
// to `device.rs` and each states what it relies on.
#![allow(unsafe_code)]

mod compile;
mod device;
mod disk;
mod emulator;
mod lockstep;
mod pack;
mod trainer;

pub use compile::{CompileStats, GpuFloat};
pub use device::{load_libraries, probe, CudaTrainer, DeviceInfo, Libraries};

/// What can go wrong on the GPU.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    /// No usable CUDA here: no driver library, no NVRTC, no device of that ordinal.
    #[error("CUDA is not available: {0}")]
    Unavailable(String),
    /// Compiling the kernels with NVRTC failed (a bug in shatter, or an unsupported NVRTC).
    #[error("compiling the CUDA kernels failed: {0}")]
    Compile(String),
    /// A driver call failed (out of memory, a kernel fault).
    #[error("CUDA driver error: {0}")]
    Driver(String),
}

/// The largest input dimension the kernels are built for.
pub const MAX_D: usize = 256;

/// Why the GPU cannot train a run of `shape` on `n` samples with `cfg` (`None` when it can): it
/// trains full-batch gradient descent (with clipping, decay and momentum) for `d <= MAX_D`;
/// mini-batches and mixup stay on the CPU.
pub fn unsupported(
    shape: &shatter_core::Shape,
    n: usize,
    cfg: &shatter_core::train::TrainConfig,
) -> Option<String> {
    if cfg.batch_size.is_some_and(|b| b < n) {
        return Some("batch_size (mini-batch SGD) runs on the CPU only".into());
    }
    if cfg.mixup_alpha.is_some() {
        return Some("mixup_alpha (mixup) runs on the CPU only".into());
    }
    if shape.d > MAX_D {
        return Some(format!(
            "d = {} is above the {MAX_D} the CUDA kernels are built for",
            shape.d
        ));
    }
    None
}
