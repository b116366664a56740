//! One module per subcommand: each resolves its settings, calls the libraries and prints.

pub mod bench;
pub mod construct;
pub mod export;
pub mod inspect;
pub mod merge;
pub mod report;
pub mod reproduce;
pub mod runs;
pub mod sensing;
pub mod slurm;
pub mod sweep;
pub mod theory;
pub mod train;

use std::fmt;

/// An error in what the user asked for (exit code 2), with an optional hint.
#[derive(Debug)]
pub struct UsageError {
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// A usage error without a hint.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError {
        message: message.into(),
        hint: None,
    }
    .into()
}

/// A usage error with a hint.
pub fn usage_hint(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    UsageError {
        message: message.into(),
        hint: Some(hint.into()),
    }
    .into()
}

/// A failure (exit code 1) with a hint on what to do about it.
#[derive(Debug)]
pub struct FailureHint {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for FailureHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FailureHint {}

/// A failure with a hint.
pub fn failure_hint(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    FailureHint {
        message: message.into(),
        hint: hint.into(),
    }
    .into()
}

/// A Slurm job waited for (`shatter slurm submit --wait`) that did not succeed: the command
/// exits with the job's exit code (`code`, at least 1), with a hint on where to look.
#[derive(Debug)]
pub struct JobExit {
    pub message: String,
    pub hint: String,
    pub code: i32,
}

impl fmt::Display for JobExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JobExit {}

/// A command stopped by Ctrl-C (exit code 130) after keeping what it had finished, with a hint
/// on how to go on.
#[derive(Debug)]
pub struct Interrupted {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Interrupted {}

/// An interruption with a hint.
pub fn interrupted(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    Interrupted {
        message: message.into(),
        hint: hint.into(),
    }
    .into()
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Runs `f` on a rayon pool of `threads` workers (0: one per core).
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    Ok(pool.install(f))
}

/// The number of worker threads `--threads` asks for (0: one per core).
pub fn cores(global: &crate::args::Global) -> usize {
    if global.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        global.threads
    }
}

/// A flag that Ctrl-C sets, for stopping cleanly between steps or runs.
pub fn stop_on_ctrl_c() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    // A second handler cannot be installed in one process; a failure here only loses Ctrl-C.
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
    stop
}

/// Opens `--device` as a batched trainer. CUDA missing is a failure (exit code 1: the
/// environment, not the arguments, is at fault) whose message starts with `--device cuda:N:`
/// and says what is missing.
pub fn open_device(
    device: shatter_lab::device::Device,
) -> anyhow::Result<Box<dyn shatter_lab::device::DeviceTrainer>> {
    device.open().map_err(|e| anyhow::anyhow!("--device {e}"))
}

/// Sets the size of the process-wide rayon pool (`--threads`, 0: one per core) for code that
/// runs outside `with_threads`: the batched path holds a device handle that need not be `Send`.
/// Only the first call in a process takes effect.
pub fn use_threads_globally(threads: usize) {
    // Fails only when the pool is already built, which leaves the first setting in place.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
}

/// The device line after a batched sweep: gradient steps, training seconds and steps per second
/// summed over runs (`None` when the device ran nothing).
pub fn device_throughput(report: &shatter_lab::sweep::SweepReport, device: &str) -> Option<String> {
    (report.device_steps > 0 && report.device_train_seconds > 0.0).then(|| {
        format!(
            "{device}: {} GD steps in {:.2} s of batched training ({:.3e} steps/s summed over runs)",
            report.device_steps,
            report.device_train_seconds,
            report.device_steps as f64 / report.device_train_seconds
        )
    })
}
