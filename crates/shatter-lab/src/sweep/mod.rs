//! Sweeps: an experiment spec expanded into runs (`spec`), the scheduler that runs the points
//! not yet in a store, several at once, and stores each as it finishes (`schedule`), and its
//! batched twin that packs them into batches for one device (`batched`).

mod batched;
mod schedule;
mod spec;

pub use batched::{run_sweep_batched, split_for_device, Batching, DeviceSplit, DEFAULT_BATCH_RUNS};
pub use schedule::{run_sweep, Parallelism, Progress, SweepError, SweepReport, QUEUE_PER_JOB};
pub use spec::{Axis, Keep, Point, Shard, SweepSpec, SweepSpecError, WIDTH_PER_N};
