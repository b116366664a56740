//! Finding the device and holding its context.

use crate::compile::Cache;
use crate::GpuError;
use cudarc::driver::{CudaContext, CudaStream};
use std::sync::Arc;

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
}

impl DeviceInfo {
    /// As recorded with results: `cuda:0 (NVIDIA H100 80GB HBM3)`.
    pub fn label(&self) -> String {
        format!("cuda:{} ({})", self.ordinal, self.name)
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
    // SAFETY: these only try to dlopen the libraries by name and drop them again.
    let driver = unsafe { cudarc::driver::sys::is_culib_present() };
    if !driver {
        return Err(GpuError::Unavailable(
            "the CUDA driver library (libcuda.so) was not found; --device cuda needs an NVIDIA \
             GPU with its driver installed (use --device cpu here)"
                .into(),
        ));
    }
    let nvrtc = unsafe { cudarc::nvrtc::sys::is_culib_present() };
    if !nvrtc {
        return Err(GpuError::Unavailable(
            "NVRTC (libnvrtc.so) was not found; install the CUDA toolkit or put the directory \
             holding libnvrtc.so on LD_LIBRARY_PATH"
                .into(),
        ));
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
