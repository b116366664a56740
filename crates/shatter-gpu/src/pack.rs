//! Packing a batch of runs into the flat device buffers the kernels read (`kernels.cu`): each
//! run's offsets in a `meta` row, its inputs padded to one of the compiled dimensions, its
//! parameters in the padded layout, and the tile lists that cover every run of a kernel
//! instantiation. Pure host code, tested without a GPU.

use shatter_core::batch::BatchRun;
use shatter_core::{Activation, Float, Loss, Network};

/// Input dimensions the kernels are instantiated for; a run's `d` is padded up to the next.
pub(crate) const DIMS: &[usize] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 24, 32, 40, 48, 64, 96, 128, 192,
    256,
];

/// Threads per block of every kernel (`THREADS` in `kernels.cu`).
pub(crate) const THREADS: usize = 256;

/// Entries per run in `meta` (`META` in `kernels.cu`, and the order of its `M_*` fields).
pub(crate) const META: usize = 16;

/// The smallest compiled dimension at least `d`.
pub(crate) fn padded_dim(d: usize) -> Option<usize> {
    DIMS.iter().copied().find(|&p| p >= d)
}

/// Samples per block of the sample kernels for padded dimension `dp` (`Tiles<D>::SAMPLES`).
pub(crate) fn samples_per_tile(dp: usize) -> usize {
    if dp <= 16 {
        32
    } else if dp <= 64 {
        8
    } else {
        4
    }
}

/// Where one run lives in the packed buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RunLayout {
    pub d: usize,
    pub dp: usize,
    pub k: usize,
    pub n: usize,
    pub nt: usize,
    pub bias: bool,
    pub activation: Activation,
    pub x_off: usize,
    pub s_off: usize,
    pub tx_off: usize,
    pub ts_off: usize,
    pub p_off: usize,
    pub plen: usize,
}

impl RunLayout {
    /// The run's network shape (unpadded).
    pub fn shape(&self) -> shatter_core::Shape {
        shatter_core::Shape {
            d: self.d,
            width: self.k,
            bias: self.bias,
            activation: self.activation,
        }
    }

    /// The padded parameter offsets of the `b`, `v` and `beta` blocks.
    fn blocks(&self) -> (usize, usize, usize) {
        let b = self.dp * self.k;
        (b, b + self.k, b + 2 * self.k)
    }
}

/// Runs that share a kernel instantiation (padded dimension and activation), with their tiles as
/// `(run, start)` pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Group {
    pub dp: usize,
    pub activation: Activation,
    pub sample_tiles: Vec<i32>,
    pub test_tiles: Vec<i32>,
    pub neuron_tiles: Vec<i32>,
    /// The group's runs, one block each of the fused kernel, the most work first (so the
    /// longest blocks start first).
    pub members: Vec<i32>,
}

/// The whole batch, ready to copy to the device.
#[derive(Clone, Debug)]
pub(crate) struct Packed<T> {
    pub runs: Vec<RunLayout>,
    pub groups: Vec<Group>,
    pub meta: Vec<i64>,
    /// Per run: `lr, weight_decay, clip (-1: none), momentum`.
    pub hyper: Vec<f64>,
    pub x: Vec<T>,
    pub y: Vec<T>,
    pub xt: Vec<T>,
    pub yt: Vec<T>,
    pub params: Vec<T>,
    /// `(run, first parameter)` blocks of `THREADS` parameters.
    pub step_tiles: Vec<i32>,
}

fn loss_kind(loss: Loss) -> i64 {
    match loss {
        Loss::Square => 0,
        Loss::Mse => 1,
        Loss::Logistic => 2,
    }
}

fn tiles(r: usize, len: usize, per: usize, out: &mut Vec<i32>) {
    for start in (0..len).step_by(per) {
        out.push(r as i32);
        out.push(start as i32);
    }
}

impl<T: Float> Packed<T> {
    /// Packs `runs`. Every run must have `d <= 256` (checked by `unsupported`).
    pub fn new(runs: &[BatchRun<'_, T>]) -> Packed<T> {
        let mut p = Packed {
            runs: Vec::with_capacity(runs.len()),
            groups: Vec::new(),
            meta: Vec::with_capacity(runs.len() * META),
            hyper: Vec::with_capacity(runs.len() * 4),
            x: Vec::new(),
            y: Vec::new(),
            xt: Vec::new(),
            yt: Vec::new(),
            params: Vec::new(),
            step_tiles: Vec::new(),
        };
        for (r, run) in runs.iter().enumerate() {
            let shape = run.net.shape;
            let dp = padded_dim(shape.d).expect("d checked by unsupported()");
            let (n, nt) = (run.data.n, run.test.map_or(0, |t| t.n));
            let k = shape.width;
            let layout = RunLayout {
                d: shape.d,
                dp,
                k,
                n,
                nt,
                bias: shape.bias,
                activation: shape.activation,
                x_off: p.x.len(),
                s_off: p.y.len(),
                tx_off: p.xt.len(),
                ts_off: p.yt.len(),
                p_off: p.params.len(),
                plen: dp * k + 2 * k + 1,
            };
            push_padded(&run.data.x, shape.d, dp, &mut p.x);
            p.y.extend_from_slice(&run.data.y);
            if let Some(t) = run.test {
                push_padded(&t.x, shape.d, dp, &mut p.xt);
                p.yt.extend_from_slice(&t.y);
            }
            p.params.resize(layout.p_off + layout.plen, T::zero());
            write_params(&layout, &run.net.params, &mut p.params[layout.p_off..]);
            p.meta.extend_from_slice(&[
                n as i64,
                k as i64,
                layout.x_off as i64,
                layout.s_off as i64,
                layout.p_off as i64,
                nt as i64,
                layout.tx_off as i64,
                layout.ts_off as i64,
                shape.bias as i64,
                loss_kind(run.cfg.loss),
                layout.plen as i64,
                0,
                0,
                0,
                0,
                0,
            ]);
            p.hyper.extend_from_slice(&[
                run.cfg.lr,
                run.cfg.weight_decay,
                run.cfg.clip.unwrap_or(-1.0),
                run.cfg.momentum,
            ]);
            tiles(r, layout.plen, THREADS, &mut p.step_tiles);
            let g = match p
                .groups
                .iter()
                .position(|g| g.dp == dp && g.activation == shape.activation)
            {
                Some(g) => g,
                None => {
                    p.groups.push(Group {
                        dp,
                        activation: shape.activation,
                        sample_tiles: Vec::new(),
                        test_tiles: Vec::new(),
                        neuron_tiles: Vec::new(),
                        members: Vec::new(),
                    });
                    p.groups.len() - 1
                }
            };
            let group = &mut p.groups[g];
            tiles(r, n, samples_per_tile(dp), &mut group.sample_tiles);
            tiles(r, nt, samples_per_tile(dp), &mut group.test_tiles);
            tiles(r, k, THREADS, &mut group.neuron_tiles);
            group.members.push(r as i32);
            p.runs.push(layout);
        }
        for g in &mut p.groups {
            let work = |r: &i32| {
                let l = &p.runs[*r as usize];
                l.n * l.k * (l.dp + 2)
            };
            g.members.sort_by_key(|r| std::cmp::Reverse(work(r)));
        }
        // Buffers must not be empty for the device allocator.
        for buf in [&mut p.x, &mut p.y, &mut p.xt, &mut p.yt] {
            if buf.is_empty() {
                buf.push(T::zero());
            }
        }
        p
    }

    /// Total padded parameters.
    pub fn param_len(&self) -> usize {
        self.params.len()
    }

    /// Total training samples.
    pub fn sample_len(&self) -> usize {
        self.y.len()
    }

    /// Total test samples (at least 1: buffers are never empty).
    pub fn test_len(&self) -> usize {
        self.yt.len()
    }

    /// Copies run `r`'s parameters out of the packed vector `all` into `net`.
    pub fn read_params(&self, r: usize, all: &[T], net: &mut Network<T>) {
        let l = &self.runs[r];
        let src = &all[l.p_off..l.p_off + l.plen];
        let (b, v, beta) = l.blocks();
        let k = l.k;
        let dst = &mut net.params;
        dst[..l.d * k].copy_from_slice(&src[..l.d * k]);
        dst[l.d * k..l.d * k + k].copy_from_slice(&src[b..b + k]);
        dst[l.d * k + k..l.d * k + 2 * k].copy_from_slice(&src[v..v + k]);
        dst[l.d * k + 2 * k] = src[beta];
    }

    /// Writes a vector in the flat layout of run `r`'s network into its padded block of `all`.
    #[cfg(test)]
    pub fn write_flat(&self, r: usize, flat: &[T], all: &mut [T]) {
        let l = &self.runs[r];
        write_params(l, flat, &mut all[l.p_off..l.p_off + l.plen]);
    }

    /// Writes the compact direction `x` (on the trainable parameters, `f64`) of run `r` into
    /// its padded block of `all`.
    pub fn expand(&self, r: usize, x: &[f64], all: &mut [T]) {
        let l = &self.runs[r];
        let dst = &mut all[l.p_off..l.p_off + l.plen];
        let (b, v, beta) = l.blocks();
        let k = l.k;
        for (t, o) in dst[..l.d * k].iter_mut().zip(&x[..l.d * k]) {
            *t = T::of(*o);
        }
        dst[l.d * k..b].fill(T::zero());
        let mut at = l.d * k;
        if l.bias {
            for (t, o) in dst[b..b + k].iter_mut().zip(&x[at..at + k]) {
                *t = T::of(*o);
            }
            at += k;
        } else {
            dst[b..b + k].fill(T::zero());
        }
        for (t, o) in dst[v..v + k].iter_mut().zip(&x[at..at + k]) {
            *t = T::of(*o);
        }
        dst[beta] = T::of(x[at + k]);
    }

    /// Reads run `r`'s padded block of `all` into the compact vector `y`, with `beta` (the last
    /// entry) given separately.
    pub fn compress(&self, r: usize, all: &[T], beta_entry: f64, y: &mut [f64]) {
        let l = &self.runs[r];
        let src = &all[l.p_off..l.p_off + l.plen];
        let (b, v, _) = l.blocks();
        let k = l.k;
        for (o, t) in y[..l.d * k].iter_mut().zip(&src[..l.d * k]) {
            *o = t.to64();
        }
        let mut at = l.d * k;
        if l.bias {
            for (o, t) in y[at..at + k].iter_mut().zip(&src[b..b + k]) {
                *o = t.to64();
            }
            at += k;
        }
        for (o, t) in y[at..at + k].iter_mut().zip(&src[v..v + k]) {
            *o = t.to64();
        }
        y[at + k] = beta_entry;
    }
}

/// Cluster sizes of the fused kernel the device can launch (`fused_cN_k`, sm_90 and newer).
pub(crate) const CLUSTERS: &[usize] = &[2, 4, 8];

/// How long one block of the fused kernel takes for a run of layout `l` in a cluster of `cl`
/// blocks of `threads` threads, in (sample, neuron, coordinate) passes of its slowest thread:
/// every thread loops over all samples for each of its neurons.
fn block_work(l: &RunLayout, threads: usize, cl: usize) -> usize {
    l.n.max(1) * l.k.div_ceil(threads * cl).max(1) * (l.dp + 2)
}

/// The number of blocks (a thread-block cluster of 1, 2, 4 or 8) that trains each run of `runs`
/// in the fused kernel, so that the batch finishes as early as the device allows. The batch
/// takes at least as long as its slowest block, and at least its whole work spread over the
/// `capacity` blocks the device holds at once. Starting from one block each, the run whose
/// block is slowest doubles its cluster while its block is slower than that spread-out share,
/// doubling shortens it (it has neurons beyond its blocks' threads), and the cluster stays
/// within `max_cluster` (1 where the device has no clusters) and within `capacity`; then the
/// next slowest, and so on. The plan stops at the first run that should not split: splitting a
/// faster one would not make the batch faster.
pub(crate) fn cluster_sizes(
    runs: &[RunLayout],
    threads: usize,
    capacity: usize,
    max_cluster: usize,
) -> Vec<usize> {
    let mut sizes = vec![1; runs.len()];
    // The slowest block first (the lowest index among equals), and the batch's whole work,
    // both kept up to date as runs split.
    let mut slowest_first: std::collections::BinaryHeap<(usize, std::cmp::Reverse<usize>)> = runs
        .iter()
        .enumerate()
        .map(|(r, l)| (block_work(l, threads, 1), std::cmp::Reverse(r)))
        .collect();
    let mut total: usize = runs.iter().map(|l| block_work(l, threads, 1)).sum();
    while let Some((slowest, std::cmp::Reverse(r))) = slowest_first.pop() {
        let (l, cl) = (&runs[r], sizes[r]);
        let share = total.div_ceil(capacity.max(1));
        let split = block_work(l, threads, 2 * cl);
        if slowest <= share || 2 * cl > max_cluster.min(capacity) || split >= slowest {
            break;
        }
        sizes[r] = 2 * cl;
        total = total - cl * slowest + 2 * cl * split;
        slowest_first.push((split, std::cmp::Reverse(r)));
    }
    sizes
}

impl Group {
    /// The group's runs by cluster size (`sizes[r]` blocks for run `r`), each list in the
    /// group's order, the sizes ascending.
    pub fn by_cluster(&self, sizes: &[usize]) -> Vec<(usize, Vec<i32>)> {
        let mut out: Vec<(usize, Vec<i32>)> = Vec::new();
        for cl in std::iter::once(1).chain(CLUSTERS.iter().copied()) {
            let runs: Vec<i32> = self
                .members
                .iter()
                .copied()
                .filter(|&r| sizes[r as usize] == cl)
                .collect();
            if !runs.is_empty() {
                out.push((cl, runs));
            }
        }
        out
    }
}

fn push_padded<T: Float>(x: &[T], d: usize, dp: usize, out: &mut Vec<T>) {
    for row in x.chunks_exact(d) {
        out.extend_from_slice(row);
        out.extend(std::iter::repeat_n(T::zero(), dp - d));
    }
}

/// Writes a vector in the flat layout of `Network` (`[Wt (d x K), b, v, beta]`) into a run's
/// padded block `dst`; the padding rows stay as they are (zero).
fn write_params<T: Float>(l: &RunLayout, flat: &[T], dst: &mut [T]) {
    let (b, v, beta) = l.blocks();
    let (d, k) = (l.d, l.k);
    dst[..d * k].copy_from_slice(&flat[..d * k]);
    dst[b..b + k].copy_from_slice(&flat[d * k..d * k + k]);
    dst[v..v + k].copy_from_slice(&flat[d * k + k..d * k + 2 * k]);
    dst[beta] = flat[d * k + 2 * k];
}

#[cfg(test)]
mod tests {
    use super::*;
    use shatter_core::hessian::lanczos::LanczosOptions;
    use shatter_core::train::TrainConfig;
    use shatter_core::{Dataset, Shape};

    fn cfg() -> TrainConfig {
        TrainConfig {
            epochs: 1,
            lr: 0.1,
            weight_decay: 0.0,
            clip: None,
            momentum: 0.0,
            batch_size: None,
            loss: Loss::Square,
            sharpness_every: 0,
            test_every: 0,
            log_every: 1,
            lanczos: LanczosOptions::default(),
            mixup_alpha: None,
            seed: 0,
        }
    }

    fn data(n: usize, d: usize) -> Dataset<f64> {
        Dataset {
            n,
            d,
            x: (0..n * d).map(|i| i as f64 + 0.5).collect(),
            y: (0..n).map(|i| -(i as f64)).collect(),
        }
    }

    fn layout(n: usize, k: usize, dp: usize) -> RunLayout {
        RunLayout {
            d: dp,
            dp,
            k,
            n,
            nt: 0,
            bias: true,
            activation: Activation::Relu,
            x_off: 0,
            s_off: 0,
            tx_off: 0,
            ts_off: 0,
            p_off: 0,
            plen: dp * k + 2 * k + 1,
        }
    }

    #[test]
    fn the_slowest_runs_split_into_clusters_while_they_bound_the_batch() {
        // Cod's largest run (n = 512, K = 2048) beside small ones, 512 threads a block: it
        // takes 4 blocks (one neuron a thread); 8 would not shorten its block.
        let runs = [
            layout(512, 2048, 5),
            layout(32, 128, 5),
            layout(128, 512, 5),
        ];
        assert_eq!(cluster_sizes(&runs, 512, 132, 8), vec![4, 1, 1]);
        // No clusters on the device: one block each.
        assert_eq!(cluster_sizes(&runs, 512, 132, 1), vec![1, 1, 1]);
        // A cluster never exceeds the blocks the device holds at once.
        assert_eq!(cluster_sizes(&runs, 512, 3, 8), vec![2, 1, 1]);
        assert_eq!(cluster_sizes(&runs, 512, 1, 8), vec![1, 1, 1]);
        // Eight equal runs on eight blocks' room: their total work bounds the batch, so none
        // splits; with room for sixteen, each takes two.
        let eight = vec![layout(512, 2048, 5); 8];
        assert_eq!(cluster_sizes(&eight, 512, 8, 8), vec![1; 8]);
        assert_eq!(cluster_sizes(&eight, 512, 16, 8), vec![2; 8]);
        // Two equal large runs split alike; the cap on the cluster size holds.
        let twins = [layout(1024, 8192, 3), layout(1024, 8192, 3)];
        assert_eq!(cluster_sizes(&twins, 256, 100, 8), vec![8, 8]);
        assert_eq!(cluster_sizes(&twins, 256, 100, 4), vec![4, 4]);
        // The plan stops at the first run that cannot split: the small run stays whole.
        let mixed = [layout(64, 256, 3), layout(40, 600, 3)];
        assert_eq!(cluster_sizes(&mixed, 256, 10, 8), vec![1, 4]);
        assert!(cluster_sizes(&[], 256, 10, 8).is_empty());
    }

    #[test]
    fn a_group_lists_its_runs_by_cluster_size_in_its_order() {
        let g = Group {
            dp: 3,
            activation: Activation::Relu,
            sample_tiles: Vec::new(),
            test_tiles: Vec::new(),
            neuron_tiles: Vec::new(),
            members: vec![3, 0, 2, 1],
        };
        assert_eq!(
            g.by_cluster(&[1, 4, 4, 1]),
            vec![(1, vec![3, 0]), (4, vec![2, 1])]
        );
    }

    #[test]
    fn every_dimension_pads_to_a_compiled_one() {
        for d in 1..=256 {
            let p = padded_dim(d).expect("d <= 256");
            assert!(p >= d && DIMS.contains(&p));
        }
        assert_eq!(padded_dim(257), None);
        assert_eq!(padded_dim(17), Some(20));
    }

    #[test]
    fn packing_round_trips_parameters_and_directions() {
        let shapes = [(3, 7, 40, true), (17, 5, 3, false), (3, 300, 33, true)];
        let mut nets: Vec<Network<f64>> = shapes
            .iter()
            .enumerate()
            .map(|(s, &(d, width, _, bias))| {
                let shape = Shape {
                    d,
                    width,
                    bias,
                    activation: Activation::Relu,
                };
                Network::init(shape, s as u64, 1.0)
            })
            .collect();
        let sets: Vec<Dataset<f64>> = shapes.iter().map(|&(d, _, n, _)| data(n, d)).collect();
        let test = data(5, 3);
        let c = cfg();
        let originals = nets.clone();
        let runs: Vec<BatchRun<'_, f64>> = nets
            .iter_mut()
            .zip(&sets)
            .enumerate()
            .map(|(r, (net, data))| BatchRun {
                net,
                data,
                test: (r != 1).then_some(&test),
                cfg: &c,
            })
            .collect();
        let p = Packed::new(&runs);
        drop(runs);
        // Two groups: padded d 3 (runs 0 and 2) and 20 (run 1).
        assert_eq!(p.groups.len(), 2);
        assert_eq!(p.groups[0].dp, 3);
        assert_eq!(p.groups[1].dp, 20);
        // Sample tiles of 32 cover 40 + 33 samples: 2 + 2 tiles.
        assert_eq!(p.groups[0].sample_tiles, vec![0, 0, 0, 32, 2, 0, 2, 32]);
        assert_eq!(p.groups[0].neuron_tiles, vec![0, 0, 2, 0, 2, 256]);
        assert_eq!(p.groups[1].test_tiles, Vec::<i32>::new());
        // Inputs are padded with zeros.
        let l1 = &p.runs[1];
        assert_eq!(&p.x[l1.x_off..l1.x_off + 17], &sets[1].x[..17]);
        assert!(p.x[l1.x_off + 17..l1.x_off + 20].iter().all(|&v| v == 0.0));
        for (r, original) in originals.iter().enumerate() {
            let mut back = Network::zeros(original.shape);
            p.read_params(r, &p.params, &mut back);
            assert_eq!(&back, original, "run {r}");
            // A compact direction survives expand then compress.
            let dim = original.shape.trainable();
            let x: Vec<f64> = (0..dim).map(|i| (i as f64).sin()).collect();
            let mut all = vec![f64::NAN; p.param_len()];
            p.expand(r, &x, &mut all);
            let mut y = vec![0.0; dim];
            p.compress(r, &all, x[dim - 1], &mut y);
            assert_eq!(x, y, "run {r}");
            let l = &p.runs[r];
            let block = &all[l.p_off..l.p_off + l.plen];
            assert!(block.iter().all(|v| v.is_finite()), "run {r} fully written");
        }
        // Step tiles cover every parameter of every run.
        let covered: usize = p
            .step_tiles
            .chunks(2)
            .map(|t| THREADS.min(p.runs[t[0] as usize].plen - t[1] as usize))
            .sum();
        assert_eq!(covered, p.runs.iter().map(|l| l.plen).sum::<usize>());
        assert_eq!(p.meta.len(), META * 3);
        assert_eq!(p.hyper[2], -1.0);
    }
}
