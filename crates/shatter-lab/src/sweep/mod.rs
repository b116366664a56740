//! Sweeps: an experiment spec expanded into runs (`spec`), and the scheduler that runs the
//! points not yet in a store, several at once, and stores each as it finishes (`schedule`).

mod schedule;
mod spec;

pub use schedule::{run_sweep, Parallelism, Progress, SweepError, SweepReport};
pub use spec::{Axis, Keep, Point, Shard, SweepSpec, SweepSpecError, WIDTH_PER_N};
