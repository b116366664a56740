//! Seeded random streams. A run draws everything random from one seed; each purpose (data,
//! initialisation, test set, batches, probes) gets its own ChaCha stream so that changing, for
//! example, the number of Lanczos probes never changes the data or the initial weights.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a random stream is used for; each gets an independent ChaCha stream of the run's seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// Training inputs.
    Inputs = 1,
    /// The target function's own randomness (teacher network, direction `w`, directions `u_j`).
    Target = 2,
    /// Label noise.
    Noise = 3,
    /// Initial weights.
    Init = 4,
    /// The test set (inputs and nothing else: test labels are noiseless).
    Test = 5,
    /// Mini-batch order.
    Batches = 6,
    /// Lanczos starting vectors and Hutchinson probes.
    Probes = 7,
    /// Subspace bases and other geometry of the input distribution.
    Geometry = 8,
    /// Mixup weights and partners.
    Mixup = 9,
    /// Test inputs outside the training support (a shell around the unit ball).
    OutOfSupport = 10,
}

/// A ChaCha8 generator for `seed` and `stream`: portable, reproducible on every platform.
pub fn stream(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}
