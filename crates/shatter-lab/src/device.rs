//! Where runs train: the `--device` setting (`cpu`, `cuda`, `cuda:N`) and opening it as a
//! batched trainer. The CPU trains one run per call of `shatter_core::train::train` (the
//! sweep scheduler runs several at once); a CUDA device gets whole batches of runs through
//! [`BatchTrainer::train_batch`] (`crate::run::execute_batch`). The device is not part of a
//! run's spec or id: the same config and seed are the same run wherever they train.

use shatter_core::batch::{BatchTrainer, CpuBatch};
use shatter_core::train::TrainConfig;
use shatter_core::{Precision, Shape};
use std::fmt;
use std::str::FromStr;

/// A device to train on, as `--device` spells it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Device {
    /// The CPU (the default): runs train on the rayon pool, each with `train`.
    #[default]
    Cpu,
    /// CUDA device with this ordinal (`cuda` is `cuda:0`).
    Cuda(usize),
}

/// `--device` text that names no device.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown device {text:?}; expected cpu, cuda or cuda:N (N a device ordinal such as 0)")]
pub struct DeviceParseError {
    /// What was given.
    pub text: String,
}

impl FromStr for Device {
    type Err = DeviceParseError;

    /// Parses `cpu`, `cuda` (ordinal 0) or `cuda:N`; case-insensitive, surrounding blanks
    /// ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let err = || DeviceParseError {
            text: s.to_string(),
        };
        match t.as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => {
                let ordinal = t.strip_prefix("cuda:").ok_or_else(err)?;
                if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err());
                }
                ordinal.parse().map(Device::Cuda).map_err(|_| err())
            }
        }
    }
}

impl fmt::Display for Device {
    /// `cpu` or `cuda:N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// A device could not be opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The GPU crate could not open the device (no driver, no NVRTC, no such ordinal, kernels
    /// that do not compile); the message says which.
    #[error("{device}: {source}")]
    Gpu {
        /// The device asked for.
        device: Device,
        /// Why it could not be opened.
        source: shatter_gpu::GpuError,
    },
}

/// A batched trainer for both precisions, so that a sweep mixing `f32` and `f64` runs needs
/// one device handle. Every type that is a [`BatchTrainer`] for `f32` and `f64` is one.
pub trait DeviceTrainer {
    /// The device as recorded with results (`cpu`, `cuda:0 (NVIDIA H100 80GB HBM3)`).
    fn device(&self) -> String;

    /// Why this trainer cannot train a run of `shape` on `n` samples with `cfg` in
    /// `precision`, or `None` when it can ([`BatchTrainer::unsupported`]).
    fn unsupported(
        &self,
        precision: Precision,
        shape: &Shape,
        n: usize,
        cfg: &TrainConfig,
    ) -> Option<String>;

    /// The `f32` trainer.
    fn f32(&mut self) -> &mut dyn BatchTrainer<f32>;

    /// The `f64` trainer.
    fn f64(&mut self) -> &mut dyn BatchTrainer<f64>;
}

impl<T: BatchTrainer<f32> + BatchTrainer<f64>> DeviceTrainer for T {
    fn device(&self) -> String {
        <T as BatchTrainer<f32>>::device(self)
    }

    fn unsupported(
        &self,
        precision: Precision,
        shape: &Shape,
        n: usize,
        cfg: &TrainConfig,
    ) -> Option<String> {
        match precision {
            Precision::F32 => <T as BatchTrainer<f32>>::unsupported(self, shape, n, cfg),
            Precision::F64 => <T as BatchTrainer<f64>>::unsupported(self, shape, n, cfg),
        }
    }

    fn f32(&mut self) -> &mut dyn BatchTrainer<f32> {
        self
    }

    fn f64(&mut self) -> &mut dyn BatchTrainer<f64> {
        self
    }
}

impl Device {
    /// Opens the device as a batched trainer: [`CpuBatch`] for the CPU, a
    /// `shatter_gpu::CudaTrainer` for CUDA (which loads the driver and NVRTC and compiles the
    /// kernels: up to a few seconds).
    ///
    /// # Errors
    /// [`DeviceError::Gpu`] when CUDA is not usable here; its message says what is missing.
    pub fn open(self) -> Result<Box<dyn DeviceTrainer>, DeviceError> {
        match self {
            Device::Cpu => Ok(Box::new(CpuBatch)),
            Device::Cuda(ordinal) => shatter_gpu::CudaTrainer::new(ordinal)
                .map(|t| Box::new(t) as Box<dyn DeviceTrainer>)
                .map_err(|source| DeviceError::Gpu {
                    device: self,
                    source,
                }),
        }
    }

    /// Whether this is the CPU.
    pub fn is_cpu(self) -> bool {
        self == Device::Cpu
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print_back() {
        for (text, device, shown) in [
            ("cpu", Device::Cpu, "cpu"),
            ("CPU", Device::Cpu, "cpu"),
            ("cuda", Device::Cuda(0), "cuda:0"),
            ("cuda:0", Device::Cuda(0), "cuda:0"),
            (" cuda:3 ", Device::Cuda(3), "cuda:3"),
        ] {
            let parsed: Device = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(parsed, device, "{text:?}");
            assert_eq!(parsed.to_string(), shown, "{text:?}");
        }
    }

    #[test]
    fn bad_devices_are_named_in_the_error() {
        for text in [
            "", "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda0", "cuda:1:2", "cpu:0",
        ] {
            let err = text.parse::<Device>().expect_err(text).to_string();
            assert!(
                err.contains(&format!("{text:?}")) && err.contains("cuda:N"),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn the_cpu_opens_as_a_trainer_for_both_precisions() {
        let mut t = Device::Cpu.open().expect("the CPU is always there");
        assert_eq!(t.device(), "cpu");
        assert_eq!(t.f32().device(), "cpu");
        assert_eq!(t.f64().device(), "cpu");
    }

    #[test]
    fn cuda_without_a_gpu_is_a_clear_error() {
        match Device::Cuda(0).open() {
            Ok(t) => {
                // A GPU machine: the label names the device.
                assert!(t.device().starts_with("cuda:0"), "{}", t.device());
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with("cuda:0: ") && msg.contains("CUDA"), "{msg}");
            }
        }
    }
}
