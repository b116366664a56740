//! Fused forward pass, loss, gradient and Hessian-vector product of the two-layer network
//! (SCIENCE.md section 3, symbols as there: `z_ik = w_k . x_i + b_k`, `a_ik = s(z_ik)`).
//!
//! Work is split into fixed chunks of [`CHUNK`] neurons. Each chunk computes its partial network
//! outputs and, after the per-sample reduction, the gradient of its own neurons; partial outputs
//! are summed over chunks in chunk order. The split does not depend on the thread count, so
//! results are bit-identical for any number of threads. Chunks run on the current rayon pool.
//! All scratch lives in a [`Workspace`] sized once per shape: a step allocates nothing.
//!
//! The inner loops are written over fixed tiles of 16 neurons so that the compiler keeps them in
//! vector registers (blocks of samples share each weight load; the weight gradient is a small
//! `X^T C` product with its accumulators in registers); `multiversion` compiles AVX-512 and AVX2 variants and picks one at
//! run time. Sums are never reassociated by the compiler, and every reduction is done in an
//! explicit order, so every variant gives the same bits.

// The kernels index fixed-size tiles and per-sample arrays side by side on purpose: the explicit
// indexed loops are what the compiler turns into vector code.
#![allow(clippy::needless_range_loop)]

use crate::data::Dataset;
use crate::float::Float;
use crate::loss::Loss;
use crate::model::{Activation, Network, Shape};
use multiversion::multiversion;
use rayon::prelude::*;

/// Neurons per chunk: the unit of parallel work and of the fixed reduction order.
pub const CHUNK: usize = 256;
/// Below this many multiply-adds per pass (`n K d`), chunks run on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 16;

/// An activation known at compile time, so the kernels are specialised per activation.
pub(crate) trait Act: Copy + Send + Sync + 'static {
    const CURVED: bool;
    /// `s(z)`.
    fn value<F: Float>(z: F) -> F;
    /// `(s(z), s'(z), s''(z))`, sharing work between them (GELU's `Phi` and `phi`); the kernels
    /// take the parts they need and the rest is never computed.
    fn derivatives<F: Float>(z: F) -> (F, F, F);
    /// One pair's share of the backward pass: `(gv + e s(z), ev s'(z))`, the `v`-gradient sum
    /// after the pair (one multiply-add, `e.mul_add(s(z), gv)`) and the pair's coefficient for
    /// the `b` and `W` sums (`ev = e v_k`).
    #[inline(always)]
    fn backward_terms<F: Float>(z: F, e: F, ev: F, gv: F) -> (F, F) {
        let (s0, s1, _) = Self::derivatives(z);
        (e.mul_add(s0, gv), ev * s1)
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Relu;
#[derive(Clone, Copy)]
pub(crate) struct Gelu;

impl Act for Relu {
    const CURVED: bool = false;
    #[inline(always)]
    fn value<F: Float>(z: F) -> F {
        if z > F::zero() {
            z
        } else {
            F::zero()
        }
    }
    #[inline(always)]
    fn derivatives<F: Float>(z: F) -> (F, F, F) {
        if z > F::zero() {
            (z, F::one(), F::zero())
        } else {
            (F::zero(), F::zero(), F::zero())
        }
    }
    /// The default's values with a select instead of the multiplications by 0 and 1 (one masked
    /// multiply-add and one masked multiply under AVX-512): `ev * 1` is `ev`, and an inactive
    /// pair adds `+0` where the default adds `e * 0` or `ev * 0`, `+0` or `-0`, to sums that
    /// start at `+0` and so are never `-0`; the bits are the same whenever `ev` is finite.
    #[inline(always)]
    fn backward_terms<F: Float>(z: F, e: F, ev: F, gv: F) -> (F, F) {
        if z > F::zero() {
            (e.mul_add(z, gv), ev)
        } else {
            (gv, F::zero())
        }
    }
}

impl Act for Gelu {
    const CURVED: bool = true;
    #[inline(always)]
    fn value<F: Float>(z: F) -> F {
        Activation::Gelu.value(z)
    }
    #[inline(always)]
    fn derivatives<F: Float>(z: F) -> (F, F, F) {
        Activation::Gelu.derivatives(z)
    }
}

/// Scratch of one chunk of neurons `[k0, k0 + c)`.
#[derive(Clone, Debug)]
struct Chunk<F> {
    k0: usize,
    c: usize,
    /// Pre-activations `z_ik`, `capacity x c`.
    z: Vec<F>,
    /// Directional pre-activations `dw_k . x_i + db_k` of the last Hessian-vector product.
    u: Vec<F>,
    /// Partial outputs (or partial Jacobian-vector products) of this chunk, per sample.
    part: Vec<F>,
    /// Gradient (or product) blocks of this chunk: `Wt` rows (`d x c`), `b`, `v`.
    gw: Vec<F>,
    gb: Vec<F>,
    gv: Vec<F>,
    /// Per-sample lane accumulators of partial outputs (`capacity x LANES`).
    lanes: Vec<F>,
    /// Coefficients of one tile for the `X^T C` product (`capacity x LANES`).
    coef: Vec<F>,
}

/// Reusable scratch for the kernels, sized for a shape and at most `capacity` samples.
///
/// Holds, after [`forward`], the pre-activations, outputs and loss derivatives at the network it
/// was given; [`hvp`] and [`backward`] use them and are valid only for that same network and data.
#[derive(Clone, Debug)]
pub struct Workspace<F> {
    shape: Shape,
    capacity: usize,
    n: usize,
    chunks: Vec<Chunk<F>>,
    f: Vec<F>,
    e1: Vec<F>,
    e2: Vec<F>,
    q: Vec<F>,
    loss: Loss,
    ready: bool,
}

impl<F: Float> Workspace<F> {
    /// Scratch for `shape` and up to `capacity` samples: about `2 capacity K + 3 K d` values.
    pub fn new(shape: Shape, capacity: usize) -> Self {
        let mut chunks = Vec::new();
        let mut k0 = 0;
        while k0 < shape.width {
            let c = CHUNK.min(shape.width - k0);
            chunks.push(Chunk {
                k0,
                c,
                z: vec![F::zero(); capacity * c],
                u: vec![F::zero(); capacity * c],
                part: vec![F::zero(); capacity],
                gw: vec![F::zero(); shape.d * c],
                gb: vec![F::zero(); c],
                gv: vec![F::zero(); c],
                lanes: vec![F::zero(); capacity * LANES],
                coef: vec![F::zero(); capacity * LANES],
            });
            k0 += c;
        }
        Workspace {
            shape,
            capacity,
            n: 0,
            chunks,
            f: vec![F::zero(); capacity],
            e1: vec![F::zero(); capacity],
            e2: vec![F::zero(); capacity],
            q: vec![F::zero(); capacity],
            loss: Loss::Square,
            ready: false,
        }
    }

    /// The shape this workspace was sized for.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The largest number of samples it takes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Network outputs `f(x_i)` of the last [`forward`] (its `n` samples).
    pub fn outputs(&self) -> &[F] {
        &self.f[..self.n]
    }

    /// Pre-activations of neuron `k` at sample `i` from the last [`forward`].
    pub fn preactivation(&self, i: usize, k: usize) -> F {
        let ch = &self.chunks[k / CHUNK];
        ch.z[i * ch.c + (k - ch.k0)]
    }
}

fn parallel(shape: &Shape, n: usize) -> bool {
    n * shape.width * shape.d.max(1) >= PARALLEL_MIN_WORK && shape.width > CHUNK
}

fn for_each_chunk<F: Float>(
    chunks: &mut [Chunk<F>],
    par: bool,
    op: impl Fn(&mut Chunk<F>) + Send + Sync,
) {
    if par {
        chunks.par_iter_mut().for_each(op);
    } else {
        chunks.iter_mut().for_each(op);
    }
}

/// Forward pass over `data`: stores pre-activations and outputs in `ws`, and returns the loss
/// `L = 1/n sum_i l(f(x_i), y_i)` (accumulated in `f64`). Costs `2 n K d + 2 n K` flops.
///
/// Panics if `data` has more samples than `ws` was sized for or the shapes disagree (a caller bug,
/// never user input: configs are checked before they reach the kernels).
pub fn forward<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    loss: Loss,
    ws: &mut Workspace<F>,
) -> f64 {
    forward_pass(net, data, loss, ws, true)
}

/// The forward pass over every chunk, storing the pre-activations (`forward_chunk`, and `ws`
/// is then ready for [`backward`] and [`hvp`]) or streaming them (`streaming_forward_chunk`,
/// same outputs bit for bit); then the per-sample reduction.
fn forward_pass<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    loss: Loss,
    ws: &mut Workspace<F>,
    store: bool,
) -> f64 {
    let s = net.shape;
    assert!(
        data.n <= ws.capacity && data.d == s.d && ws.shape == s,
        "workspace does not fit"
    );
    let n = data.n;
    ws.n = n;
    ws.loss = loss;
    let par = parallel(&s, n);
    let (x, wt, b, v) = (&data.x[..], net.wt(), net.b(), net.v());
    let (d, width) = (s.d, s.width);
    match (s.activation, store) {
        (Activation::Relu, true) => for_each_chunk(&mut ws.chunks, par, |ch| {
            forward_chunk::<F, Relu>(x, n, d, wt, width, b, v, ch)
        }),
        (Activation::Gelu, true) => for_each_chunk(&mut ws.chunks, par, |ch| {
            forward_chunk::<F, Gelu>(x, n, d, wt, width, b, v, ch)
        }),
        (Activation::Relu, false) => for_each_chunk(&mut ws.chunks, par, |ch| {
            streaming_forward_chunk::<F, Relu>(x, n, d, wt, width, b, v, ch)
        }),
        (Activation::Gelu, false) => for_each_chunk(&mut ws.chunks, par, |ch| {
            streaming_forward_chunk::<F, Gelu>(x, n, d, wt, width, b, v, ch)
        }),
    }
    ws.ready = store;
    reduce_outputs(net, data, loss, ws)
}

/// Sums the chunks' partial outputs in chunk order into `f(x_i)`, stores the loss derivatives
/// `l'_i / n` and `l''_i / n`, and returns the loss (accumulated in `f64`).
fn reduce_outputs<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    loss: Loss,
    ws: &mut Workspace<F>,
) -> f64 {
    let n = ws.n;
    let beta = net.beta();
    let inv_n = F::one() / F::of(n as f64);
    let mut total = 0.0f64;
    for i in 0..n {
        let mut f = beta;
        for ch in &ws.chunks {
            f += ch.part[i];
        }
        ws.f[i] = f;
        let y = data.y[i];
        total += loss.value(f, y).to64();
        ws.e1[i] = loss.d1(f, y) * inv_n;
        ws.e2[i] = loss.d2(f, y) * inv_n;
    }
    total / n as f64
}

/// Gradient of the loss at the network and data of the last [`forward`], written into `grad`
/// (flat layout of [`Network`]). Costs `2 n K d + 6 n K` flops; allocates nothing.
pub fn backward<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    ws: &mut Workspace<F>,
    grad: &mut [F],
) {
    let s = net.shape;
    assert!(
        ws.ready && grad.len() == s.len(),
        "backward needs a forward at the same network"
    );
    let n = ws.n;
    let par = parallel(&s, n);
    let (x, v, e1) = (&data.x[..], net.v(), &ws.e1[..n]);
    match s.activation {
        Activation::Relu => for_each_chunk(&mut ws.chunks, par, |ch| {
            backward_chunk::<F, Relu>(x, n, s.d, v, e1, ch)
        }),
        Activation::Gelu => for_each_chunk(&mut ws.chunks, par, |ch| {
            backward_chunk::<F, Gelu>(x, n, s.d, v, e1, ch)
        }),
    }
    gather_gradient(&s, &ws.chunks, e1, grad);
}

/// Writes the chunks' gradient blocks and `d/d beta = sum_i l'_i / n` into `grad`, projected
/// onto the trainable parameters.
fn gather_gradient<F: Float>(s: &Shape, chunks: &[Chunk<F>], e1: &[F], grad: &mut [F]) {
    scatter(s, chunks, grad);
    let mut gbeta = F::zero();
    for &e in e1 {
        gbeta += e;
    }
    grad[s.beta_offset()] = gbeta;
    s.project(grad);
}

/// Loss and gradient in one call: [`forward`] then [`backward`].
pub fn loss_and_gradient<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    loss: Loss,
    ws: &mut Workspace<F>,
    grad: &mut [F],
) -> f64 {
    let l = forward(net, data, loss, ws);
    backward(net, data, ws, grad);
    l
}

/// Calls `$f::<F, A, D>($args)` with the compile-time `D` equal to the runtime `$d`
/// (`1..=FUSED_MAX_D`), so each streaming kernel's loops over the input dimension are unrolled
/// and its per-dimension registers fixed.
macro_rules! with_const_d {
    ($d:expr, $f:ident::<$F:ty, $A:ty>($($arg:expr),*)) => {
        with_const_d!(@arms $d, $f, $F, $A, ($($arg),*), 1 2 3 4 5 6 7 8 9 10 11 12)
    };
    (@arms $d:expr, $f:ident, $F:ty, $A:ty, $args:tt, $($n:literal)*) => {
        match $d {
            $($n => with_const_d!(@call $f, $F, $A, $n, $args),)*
            d => unreachable!("d = {d} is above FUSED_MAX_D"),
        }
    };
    (@call $f:ident, $F:ty, $A:ty, $n:literal, ($($arg:expr),*)) => {
        $f::<$F, $A, $n>($($arg),*)
    };
}

/// Loss and gradient with the same bits as [`loss_and_gradient`], in two streaming passes that
/// never store the pre-activations: the forward pass keeps each block of `z_ik` in registers,
/// and the backward pass recomputes it (`d` multiply-adds per pair, cheaper than reading
/// `n K` stored values back from L2 or memory) with the weight-gradient accumulators of a
/// 16-neuron tile in registers. Every sum runs in the order of the storing kernels, so the
/// result is identical bit for bit (a test checks it). Input dimensions above
/// [`FUSED_MAX_D`] take [`loss_and_gradient`].
///
/// Afterwards `ws` holds the outputs but no pre-activations: [`hvp`] and [`backward`] need a
/// new [`forward`] first (they panic otherwise).
pub fn loss_and_gradient_fused<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    loss: Loss,
    ws: &mut Workspace<F>,
    grad: &mut [F],
) -> f64 {
    let s = net.shape;
    // Streaming is faster at every size now, the smallest problems included (BENCHMARKS.md);
    // both paths give the same bits.
    if s.d > FUSED_MAX_D || s.d == 0 {
        return loss_and_gradient(net, data, loss, ws, grad);
    }
    streaming_loss_and_gradient(net, data, loss, ws, grad)
}

/// The streaming passes of [`loss_and_gradient_fused`], whatever the size (`1 <= d <=
/// FUSED_MAX_D`).
fn streaming_loss_and_gradient<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    loss: Loss,
    ws: &mut Workspace<F>,
    grad: &mut [F],
) -> f64 {
    let s = net.shape;
    assert!(grad.len() == s.len(), "gradient buffer does not fit");
    let total = forward_pass(net, data, loss, ws, false);
    let n = data.n;
    let par = parallel(&s, n);
    let (x, wt, b, v) = (&data.x[..], net.wt(), net.b(), net.v());
    let e1 = &ws.e1[..n];
    match s.activation {
        Activation::Relu => for_each_chunk(&mut ws.chunks, par, |ch| {
            with_const_d!(
                s.d,
                recomputing_backward_chunk::<F, Relu>(x, n, wt, s.width, b, v, e1, ch)
            )
        }),
        Activation::Gelu => for_each_chunk(&mut ws.chunks, par, |ch| {
            with_const_d!(
                s.d,
                recomputing_backward_chunk::<F, Gelu>(x, n, wt, s.width, b, v, e1, ch)
            )
        }),
    }
    gather_gradient(&s, &ws.chunks, e1, grad);
    total
}

/// Writes `H dir` into `out`, where `H` is the Hessian of the training loss at the network and
/// data of the last [`forward`] (SCIENCE.md section 3: `1/n J^T diag(l'') J + 1/n sum_i l'_i
/// Hess f(x_i)`). About the cost of one gradient (`4 n K d + 12 n K` flops); allocates nothing.
/// With biases off, the `b` block of `dir` is ignored and that of `out` is zero.
///
/// Problems the streaming gradient takes (`1 <= d <=` [`FUSED_MAX_D`]) recompute the
/// pre-activations and their directional derivatives in registers instead of reading them from
/// `ws` ([`streaming_hvp`]), with the same bits.
pub fn hvp<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    ws: &mut Workspace<F>,
    dir: &[F],
    out: &mut [F],
) {
    let s = net.shape;
    assert!(
        ws.ready && dir.len() == s.len() && out.len() == s.len(),
        "hvp needs a forward at the same network"
    );
    if s.d <= FUSED_MAX_D && s.d > 0 {
        streaming_hvp(net, data, ws, dir, out);
    } else {
        stored_hvp(net, data, ws, dir, out);
    }
}

/// [`hvp`] from the pre-activations the last [`forward`] stored in `ws`.
fn stored_hvp<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    ws: &mut Workspace<F>,
    dir: &[F],
    out: &mut [F],
) {
    let s = net.shape;
    let n = ws.n;
    let par = parallel(&s, n);
    let x = &data.x[..];
    let (v, dwt) = (net.v(), &dir[..s.b_offset()]);
    let zero_db = [F::zero(); CHUNK];
    let db_full = &dir[s.b_offset()..s.v_offset()];
    let dv = &dir[s.v_offset()..s.beta_offset()];
    let dbeta = dir[s.beta_offset()];
    let bias = s.bias;
    match s.activation {
        Activation::Relu => for_each_chunk(&mut ws.chunks, par, |ch| {
            let db = if bias {
                &db_full[ch.k0..ch.k0 + ch.c]
            } else {
                &zero_db[..ch.c]
            };
            jvp_chunk::<F, Relu>(x, n, s.d, dwt, s.width, db, v, dv, ch)
        }),
        Activation::Gelu => for_each_chunk(&mut ws.chunks, par, |ch| {
            let db = if bias {
                &db_full[ch.k0..ch.k0 + ch.c]
            } else {
                &zero_db[..ch.c]
            };
            jvp_chunk::<F, Gelu>(x, n, s.d, dwt, s.width, db, v, dv, ch)
        }),
    }
    let obeta = directional_curvature(ws, n, dbeta);
    let (q, e1) = (&ws.q[..n], &ws.e1[..n]);
    match s.activation {
        Activation::Relu => for_each_chunk(&mut ws.chunks, par, |ch| {
            hvp_back_chunk::<F, Relu>(x, n, s.d, v, dv, q, e1, ch)
        }),
        Activation::Gelu => for_each_chunk(&mut ws.chunks, par, |ch| {
            hvp_back_chunk::<F, Gelu>(x, n, s.d, v, dv, q, e1, ch)
        }),
    }
    scatter(&s, &ws.chunks, out);
    out[s.beta_offset()] = obeta;
    s.project(out);
}

/// `q_i = l''_i (J dir)_i` from the chunks' partial Jacobian-vector products (added in chunk
/// order after `dbeta`) into `ws.q`; returns the product's `beta` entry, `sum_i q_i`.
fn directional_curvature<F: Float>(ws: &mut Workspace<F>, n: usize, dbeta: F) -> F {
    let mut obeta = F::zero();
    for i in 0..n {
        let mut jv = dbeta;
        for ch in &ws.chunks {
            jv += ch.part[i];
        }
        ws.q[i] = ws.e2[i] * jv;
        obeta += ws.q[i];
    }
    obeta
}

/// [`hvp`] in two streaming passes with the bits of [`stored_hvp`]: the Jacobian-vector pass
/// keeps each block of pre-activations `z` and directional pre-activations `u = dW x + db` in
/// registers, and the backward pass recomputes both (`2 d` multiply-adds per pair) with the
/// product's weight rows of a 16-neuron tile in registers. Reads `ws.e1` and `ws.e2` of the last
/// [`forward`], not its pre-activations, and leaves `ws.u` untouched.
fn streaming_hvp<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    ws: &mut Workspace<F>,
    dir: &[F],
    out: &mut [F],
) {
    let s = net.shape;
    let n = ws.n;
    let par = parallel(&s, n);
    let x = &data.x[..];
    let (wt, b, v) = (net.wt(), net.b(), net.v());
    let dwt = &dir[..s.b_offset()];
    let zeros = vec![F::zero(); s.width];
    let db = if s.bias {
        &dir[s.b_offset()..s.v_offset()]
    } else {
        &zeros[..]
    };
    let dv = &dir[s.v_offset()..s.beta_offset()];
    let dbeta = dir[s.beta_offset()];
    let k = s.width;
    let tiles = StreamTiles {
        wt,
        dwt,
        b,
        db,
        v,
        dv,
        width: k,
    };
    match s.activation {
        Activation::Relu => for_each_chunk(&mut ws.chunks, par, |ch| {
            streaming_jvp_chunk::<F, Relu>(x, n, s.d, &tiles, ch)
        }),
        Activation::Gelu => for_each_chunk(&mut ws.chunks, par, |ch| {
            streaming_jvp_chunk::<F, Gelu>(x, n, s.d, &tiles, ch)
        }),
    }
    let obeta = directional_curvature(ws, n, dbeta);
    let (q, e1) = (&ws.q[..n], &ws.e1[..n]);
    match s.activation {
        Activation::Relu => for_each_chunk(&mut ws.chunks, par, |ch| {
            with_const_d!(
                s.d,
                streaming_hvp_back_chunk::<F, Relu>(x, n, &tiles, q, e1, ch)
            )
        }),
        Activation::Gelu => for_each_chunk(&mut ws.chunks, par, |ch| {
            with_const_d!(
                s.d,
                streaming_hvp_back_chunk::<F, Gelu>(x, n, &tiles, q, e1, ch)
            )
        }),
    }
    scatter(&s, &ws.chunks, out);
    out[s.beta_offset()] = obeta;
    s.project(out);
}

/// The network's and the direction's parameter blocks the streaming product reads.
struct StreamTiles<'a, F> {
    wt: &'a [F],
    dwt: &'a [F],
    b: &'a [F],
    db: &'a [F],
    v: &'a [F],
    dv: &'a [F],
    width: usize,
}

/// Network outputs at every input of `data` (labels unused), written into `out`.
pub fn predict_into<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    ws: &mut Workspace<F>,
    out: &mut [F],
) {
    forward(net, data, Loss::Square, ws);
    out[..data.n].copy_from_slice(&ws.f[..data.n]);
}

/// Mean squared difference `1/n sum (f(x_i) - y_i)^2` over `data` (for test sets).
pub fn mean_squared_error<F: Float>(
    net: &Network<F>,
    data: &Dataset<F>,
    ws: &mut Workspace<F>,
) -> f64 {
    2.0 * forward(net, data, Loss::Square, ws)
}

fn scatter<F: Float>(s: &Shape, chunks: &[Chunk<F>], out: &mut [F]) {
    let (k, d) = (s.width, s.d);
    for ch in chunks {
        for j in 0..d {
            out[j * k + ch.k0..j * k + ch.k0 + ch.c]
                .copy_from_slice(&ch.gw[j * ch.c..(j + 1) * ch.c]);
        }
        out[s.b_offset() + ch.k0..s.b_offset() + ch.k0 + ch.c].copy_from_slice(&ch.gb);
        out[s.v_offset() + ch.k0..s.v_offset() + ch.k0 + ch.c].copy_from_slice(&ch.gv);
    }
}

/// Lanes of a neuron tile: one AVX-512 register of `f32` (two of `f64`).
const LANES: usize = 16;
/// Samples per register block in the affine passes.
const SAMPLE_BLOCK: usize = 8;

/// A tile of `len <= LANES` values from `src`, zero-padded; a fixed-size copy for full tiles
/// (a variable-length copy would be a `memcpy` call in the innermost loop).
#[inline(always)]
fn load_tile<F: Float>(src: &[F], len: usize) -> [F; LANES] {
    if len == LANES {
        *<&[F; LANES]>::try_from(&src[..LANES]).expect("a full tile")
    } else {
        let mut t = [F::zero(); LANES];
        t[..len].copy_from_slice(&src[..len]);
        t
    }
}

/// Stores the first `len` values of a tile into `dst`.
#[inline(always)]
fn store_tile<F: Float>(dst: &mut [F], tile: &[F; LANES], len: usize) {
    if len == LANES {
        *<&mut [F; LANES]>::try_from(&mut dst[..LANES]).expect("a full tile") = *tile;
    } else {
        dst[..len].copy_from_slice(&tile[..len]);
    }
}

/// Computes `out[i][l] = init[l] + sum_j x[i][j] * wt[j * width + col + l]` for the tile of
/// neurons `col..col + len` (`len <= LANES`) and every sample, writing `out[i * c + t0 + l]`.
/// Blocks of [`SAMPLE_BLOCK`] samples share each load of a weight row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn affine_tiles<F: Float>(
    x: &[F],
    n: usize,
    d: usize,
    wt: &[F],
    width: usize,
    col: usize,
    init: &[F],
    out: &mut [F],
    c: usize,
    t0: usize,
) {
    let len = init.len();
    let mut base = [F::zero(); LANES];
    base[..len].copy_from_slice(init);
    let mut i0 = 0;
    if len == LANES {
        while i0 + SAMPLE_BLOCK <= n {
            let mut acc = [base; SAMPLE_BLOCK];
            for j in 0..d {
                let w: &[F; LANES] = wt[j * width + col..j * width + col + LANES]
                    .try_into()
                    .expect("a full tile");
                for (ib, a) in acc.iter_mut().enumerate() {
                    let xv = x[(i0 + ib) * d + j];
                    for l in 0..LANES {
                        a[l] = xv.mul_add(w[l], a[l]);
                    }
                }
            }
            for (ib, a) in acc.iter().enumerate() {
                let i = i0 + ib;
                store_tile(&mut out[i * c + t0..], a, LANES);
            }
            i0 += SAMPLE_BLOCK;
        }
    }
    for i in i0..n {
        let mut a = base;
        for j in 0..d {
            let xv = x[i * d + j];
            let w = &wt[j * width + col..j * width + col + len];
            for l in 0..len {
                a[l] = xv.mul_add(w[l], a[l]);
            }
        }
        out[i * c + t0..i * c + t0 + len].copy_from_slice(&a[..len]);
    }
}

/// `gw[j * c + t0 + l] = sum_i x[i][j] * coef[i * LANES + l]` for every `j`: the tile's block of
/// `X^T C`. Rows of `gw` are done [`ROW_BLOCK`]s at a time with their accumulators in registers;
/// the coefficient tile (`n x LANES`) stays in L1 for the usual `n`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn transpose_product<F: Float>(
    x: &[F],
    n: usize,
    d: usize,
    coef: &[F],
    gw: &mut [F],
    c: usize,
    t0: usize,
    len: usize,
) {
    let mut j0 = 0;
    while j0 + ROW_BLOCK <= d {
        rows_block::<F, ROW_BLOCK>(x, n, d, coef, gw, c, t0, len, j0);
        j0 += ROW_BLOCK;
    }
    while j0 + 2 <= d {
        rows_block::<F, 2>(x, n, d, coef, gw, c, t0, len, j0);
        j0 += 2;
    }
    if j0 < d {
        rows_block::<F, 1>(x, n, d, coef, gw, c, t0, len, j0);
    }
}

const ROW_BLOCK: usize = 6;

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows_block<F: Float, const R: usize>(
    x: &[F],
    n: usize,
    d: usize,
    coef: &[F],
    gw: &mut [F],
    c: usize,
    t0: usize,
    len: usize,
    j0: usize,
) {
    let mut acc = [[F::zero(); LANES]; R];
    for i in 0..n {
        let cv: &[F; LANES] = coef[i * LANES..(i + 1) * LANES]
            .try_into()
            .expect("a full tile");
        let xi = &x[i * d + j0..i * d + j0 + R];
        for r in 0..R {
            let xv = xi[r];
            for l in 0..LANES {
                acc[r][l] = xv.mul_add(cv[l], acc[r][l]);
            }
        }
    }
    for r in 0..R {
        let row = j0 + r;
        store_tile(&mut gw[row * c + t0..], &acc[r], len);
    }
}

/// Sums the lanes of each sample's partial output in a fixed order.
#[inline(always)]
fn fold_lanes<F: Float>(lanes: &[F], part: &mut [F], n: usize) {
    for i in 0..n {
        let l = &lanes[i * LANES..(i + 1) * LANES];
        let mut s = F::zero();
        for h in 0..LANES / 2 {
            s += l[h] + l[h + LANES / 2];
        }
        part[i] = s;
    }
}

#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma"))]
#[allow(clippy::too_many_arguments)]
fn forward_chunk<F: Float, A: Act>(
    x: &[F],
    n: usize,
    d: usize,
    wt: &[F],
    width: usize,
    b: &[F],
    v: &[F],
    ch: &mut Chunk<F>,
) {
    let (k0, c) = (ch.k0, ch.c);
    let (b, v) = (&b[k0..k0 + c], &v[k0..k0 + c]);
    ch.lanes[..n * LANES]
        .iter_mut()
        .for_each(|p| *p = F::zero());
    let mut t0 = 0;
    while t0 < c {
        let len = LANES.min(c - t0);
        let mut vt = [F::zero(); LANES];
        vt[..len].copy_from_slice(&v[t0..t0 + len]);
        affine_tiles(
            x,
            n,
            d,
            wt,
            width,
            k0 + t0,
            &b[t0..t0 + len],
            &mut ch.z,
            c,
            t0,
        );
        for i in 0..n {
            let z = load_tile(&ch.z[i * c + t0..], len);
            let p = &mut ch.lanes[i * LANES..(i + 1) * LANES];
            for l in 0..LANES {
                p[l] = vt[l].mul_add(A::value(z[l]), p[l]);
            }
        }
        t0 += len;
    }
    fold_lanes(&ch.lanes, &mut ch.part, n);
}

#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma"))]
fn backward_chunk<F: Float, A: Act>(
    x: &[F],
    n: usize,
    d: usize,
    v: &[F],
    e1: &[F],
    ch: &mut Chunk<F>,
) {
    let (k0, c) = (ch.k0, ch.c);
    let v = &v[k0..k0 + c];
    let mut t0 = 0;
    while t0 < c {
        let len = LANES.min(c - t0);
        let mut vt = [F::zero(); LANES];
        vt[..len].copy_from_slice(&v[t0..t0 + len]);
        let (mut gv, mut gb) = ([F::zero(); LANES], [F::zero(); LANES]);
        for i in 0..n {
            let e = e1[i];
            let z = load_tile(&ch.z[i * c + t0..], len);
            let cf = &mut ch.coef[i * LANES..(i + 1) * LANES];
            for l in 0..LANES {
                (gv[l], cf[l]) = A::backward_terms(z[l], e, e * vt[l], gv[l]);
                gb[l] += cf[l];
            }
        }
        ch.gv[t0..t0 + len].copy_from_slice(&gv[..len]);
        ch.gb[t0..t0 + len].copy_from_slice(&gb[..len]);
        transpose_product(x, n, d, &ch.coef, &mut ch.gw, c, t0, len);
        t0 += len;
    }
}

#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma"))]
#[allow(clippy::too_many_arguments)]
fn jvp_chunk<F: Float, A: Act>(
    x: &[F],
    n: usize,
    d: usize,
    dwt: &[F],
    width: usize,
    db: &[F],
    v: &[F],
    dv: &[F],
    ch: &mut Chunk<F>,
) {
    let (k0, c) = (ch.k0, ch.c);
    let (v, dv) = (&v[k0..k0 + c], &dv[k0..k0 + c]);
    ch.lanes[..n * LANES]
        .iter_mut()
        .for_each(|p| *p = F::zero());
    let mut t0 = 0;
    while t0 < c {
        let len = LANES.min(c - t0);
        let (mut vt, mut dvt) = ([F::zero(); LANES], [F::zero(); LANES]);
        vt[..len].copy_from_slice(&v[t0..t0 + len]);
        dvt[..len].copy_from_slice(&dv[t0..t0 + len]);
        affine_tiles(
            x,
            n,
            d,
            dwt,
            width,
            k0 + t0,
            &db[t0..t0 + len],
            &mut ch.u,
            c,
            t0,
        );
        for i in 0..n {
            let (z, u) = (
                load_tile(&ch.z[i * c + t0..], len),
                load_tile(&ch.u[i * c + t0..], len),
            );
            let p = &mut ch.lanes[i * LANES..(i + 1) * LANES];
            for l in 0..LANES {
                let (s0, s1, _) = A::derivatives(z[l]);
                p[l] += dvt[l] * s0 + vt[l] * s1 * u[l];
            }
        }
        t0 += len;
    }
    fold_lanes(&ch.lanes, &mut ch.part, n);
}

#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma"))]
#[allow(clippy::too_many_arguments)]
fn hvp_back_chunk<F: Float, A: Act>(
    x: &[F],
    n: usize,
    d: usize,
    v: &[F],
    dv: &[F],
    q: &[F],
    e1: &[F],
    ch: &mut Chunk<F>,
) {
    let (k0, c) = (ch.k0, ch.c);
    let (v, dv) = (&v[k0..k0 + c], &dv[k0..k0 + c]);
    let mut t0 = 0;
    while t0 < c {
        let len = LANES.min(c - t0);
        let (mut vt, mut dvt) = ([F::zero(); LANES], [F::zero(); LANES]);
        vt[..len].copy_from_slice(&v[t0..t0 + len]);
        dvt[..len].copy_from_slice(&dv[t0..t0 + len]);
        let (mut gv, mut gb) = ([F::zero(); LANES], [F::zero(); LANES]);
        for i in 0..n {
            let (qi, ei) = (q[i], e1[i]);
            let (z, u) = (
                load_tile(&ch.z[i * c + t0..], len),
                load_tile(&ch.u[i * c + t0..], len),
            );
            let cf = &mut ch.coef[i * LANES..(i + 1) * LANES];
            for l in 0..LANES {
                let (s0, s1, s2) = A::derivatives(z[l]);
                gv[l] += qi * s0 + ei * s1 * u[l];
                let mut coef = (qi * vt[l] + ei * dvt[l]) * s1;
                if A::CURVED {
                    coef += ei * vt[l] * s2 * u[l];
                }
                cf[l] = coef;
                gb[l] += coef;
            }
        }
        ch.gv[t0..t0 + len].copy_from_slice(&gv[..len]);
        ch.gb[t0..t0 + len].copy_from_slice(&gb[..len]);
        transpose_product(x, n, d, &ch.coef, &mut ch.gw, c, t0, len);
        t0 += len;
    }
}

/// The largest input dimension [`loss_and_gradient_fused`] streams: the weight-gradient
/// accumulators of a tile (`d` registers of 16 lanes) stay in registers up to here.
pub const FUSED_MAX_D: usize = 12;
/// Samples per register block in the streaming backward pass (their `z` tiles in registers).
const RECOMPUTE_BLOCK: usize = 4;
/// Whether the streaming gradient's backward pass recomputes `z` for blocks of 2 samples instead
/// of [`RECOMPUTE_BLOCK`] at input dimension `d`: with `2d + 4` accumulator and weight registers
/// the larger blocks run out of the 32 vector registers at these `d` (kernel probe on both
/// cores, best of 160 calls at n = 512, K = 2048: 0.51 against 0.55 ms at d = 10, 0.62 against
/// 0.70 at d = 12; blocks of 8 spill at every d). Samples are added in the same order either
/// way.
const fn pair_blocks(d: usize) -> bool {
    matches!(d, 6 | 8 | 10 | 12)
}
/// Whether [`TileSums::add_rows`] runs lanes outermost at input dimension `d`: the faster
/// order there, by the kernel probe's best of 160 calls at n = 512, K = 2048 on both cores (at
/// d = 4 it takes 0.21 ms against 0.30; BENCHMARKS.md).
const fn lanes_outer_rows(d: usize) -> bool {
    matches!(d, 4 | 7 | 8 | 12)
}

/// A tile of `len <= LANES` weights of row `j` (`wt[j * width + col..]`), zero-padded.
#[inline(always)]
fn weight_tile<F: Float>(wt: &[F], width: usize, j: usize, col: usize, len: usize) -> [F; LANES] {
    load_tile(&wt[j * width + col..], len)
}

/// Runs `$body` over samples `0..$n` in register blocks: `$i0` is a block's first sample and
/// `$r` its length, a constant, [`SAMPLE_BLOCK`] and then 4, 2 and 1 for the rest (one
/// accumulator chain for each of up to 7 left-over samples was latency-bound: 45% of the
/// forward pass at n = 30). Each sample's sums are its own, so the block sizes do not change a
/// bit.
macro_rules! in_sample_blocks {
    ($n:expr, |$i0:ident, $r:ident| $body:expr) => {{
        const _: () = assert!(SAMPLE_BLOCK == 8, "the tail blocks cover up to 7 samples");
        let n = $n;
        let mut $i0 = 0;
        while $i0 + SAMPLE_BLOCK <= n {
            const $r: usize = SAMPLE_BLOCK;
            $body;
            $i0 += $r;
        }
        if $i0 + 4 <= n {
            const $r: usize = 4;
            $body;
            $i0 += $r;
        }
        if $i0 + 2 <= n {
            const $r: usize = 2;
            $body;
            $i0 += $r;
        }
        if $i0 < n {
            const $r: usize = 1;
            $body;
        }
    }};
}

/// The forward pass of one chunk without storing `z`: blocks of [`SAMPLE_BLOCK`] samples keep
/// their lane accumulators in registers across every tile of the chunk (the chunk's weights,
/// `(d + 2) c` values, stay in L1). Each `z_ik` and each accumulator update is the same
/// operation in the same order as in `forward_chunk`, so `part` gets the same bits.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma"))]
#[allow(clippy::too_many_arguments)]
fn streaming_forward_chunk<F: Float, A: Act>(
    x: &[F],
    n: usize,
    d: usize,
    wt: &[F],
    width: usize,
    b: &[F],
    v: &[F],
    ch: &mut Chunk<F>,
) {
    in_sample_blocks!(n, |i0, R| streaming_forward_block::<F, A, R>(
        x, i0, d, wt, width, b, v, ch
    ));
    fold_lanes(&ch.lanes, &mut ch.part, n);
}

/// Samples `i0..i0 + R` of [`streaming_forward_chunk`], every loop over samples and lanes of
/// constant length so that the `R` accumulators stay in registers; writes their lanes into
/// `ch.lanes`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn streaming_forward_block<F: Float, A: Act, const R: usize>(
    x: &[F],
    i0: usize,
    d: usize,
    wt: &[F],
    width: usize,
    b: &[F],
    v: &[F],
    ch: &mut Chunk<F>,
) {
    let (k0, c) = (ch.k0, ch.c);
    let xs = &x[i0 * d..(i0 + R) * d];
    let mut p = [[F::zero(); LANES]; R];
    let mut t0 = 0;
    while t0 < c {
        let len = LANES.min(c - t0);
        let col = k0 + t0;
        let vt = load_tile(&v[col..], len);
        let mut acc = [load_tile(&b[col..], len); R];
        for j in 0..d {
            let w = weight_tile(wt, width, j, col, len);
            for r in 0..R {
                let xv = xs[r * d + j];
                for l in 0..LANES {
                    acc[r][l] = xv.mul_add(w[l], acc[r][l]);
                }
            }
        }
        // Lanes outermost: LLVM unrolls the short loop over samples and vectorises the lanes
        // (with samples outermost it vectorised across samples, with gathers and scatters).
        for l in 0..LANES {
            for r in 0..R {
                p[r][l] = vt[l].mul_add(A::value(acc[r][l]), p[r][l]);
            }
        }
        t0 += len;
    }
    store_lanes(ch, i0, &p);
}

/// Writes the lane accumulators `p` of samples `i0..i0 + R` into `ch.lanes`.
#[inline(always)]
fn store_lanes<F: Float, const R: usize>(ch: &mut Chunk<F>, i0: usize, p: &[[F; LANES]; R]) {
    let rows = &mut ch.lanes[i0 * LANES..(i0 + R) * LANES];
    for (dst, src) in rows.as_chunks_mut::<LANES>().0.iter_mut().zip(p) {
        *dst = *src;
    }
}

/// One chunk of the streaming backward pass at input dimension `D`: per tile, blocks of
/// [`RECOMPUTE_BLOCK`] samples recompute their `z` tiles, then each sample in order adds to
/// `g_v`, `g_b` and the `D` rows of `g_W` exactly as `backward_chunk` and `rows_block` do.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma"))]
#[allow(clippy::too_many_arguments)]
fn recomputing_backward_chunk<F: Float, A: Act, const D: usize>(
    x: &[F],
    n: usize,
    wt: &[F],
    width: usize,
    b: &[F],
    v: &[F],
    e1: &[F],
    ch: &mut Chunk<F>,
) {
    let (k0, c) = (ch.k0, ch.c);
    let xs = &x.as_chunks::<D>().0[..n];
    let mut t0 = 0;
    while t0 < c {
        let len = LANES.min(c - t0);
        let col = k0 + t0;
        let mut tile = GradTile::<F, D> {
            vt: load_tile(&v[col..], len),
            bt: load_tile(&b[col..], len),
            w: [[F::zero(); LANES]; D],
            sums: TileSums::zero(),
        };
        for (j, row) in tile.w.iter_mut().enumerate() {
            *row = weight_tile(wt, width, j, col, len);
        }
        let rest = if pair_blocks(D) {
            tile.add_blocks::<A, 2>(xs, e1)
        } else {
            tile.add_blocks::<A, RECOMPUTE_BLOCK>(xs, e1)
        };
        for i in rest..n {
            tile.add_samples::<A, 1>(&xs[i..i + 1], &e1[i..i + 1]);
        }
        tile.sums.store(ch, t0, len);
        t0 += len;
    }
}

/// The `v`, `b` and `D` weight-row accumulators of one 16-neuron tile in the streaming
/// gradient and product.
struct TileSums<F, const D: usize> {
    gv: [F; LANES],
    gb: [F; LANES],
    gw: [[F; LANES]; D],
}

impl<F: Float, const D: usize> TileSums<F, D> {
    fn zero() -> Self {
        TileSums {
            gv: [F::zero(); LANES],
            gb: [F::zero(); LANES],
            gw: [[F::zero(); LANES]; D],
        }
    }

    /// `gw[j][l] += x[j] cf[l]` (one multiply-add each): one sample's share of `X^T C`, in the
    /// order of `rows_block` per value. The same operations in either loop order: with rows
    /// outermost LLVM vectorises across the rows at D = 4, 7, 8 and 12 (gathers and scatters
    /// or 4-lane shuffles, 1.4-5x slower); with lanes outermost it does so across samples at
    /// some other D (measured with the LLVM of rustc 1.95, BENCHMARKS.md).
    #[inline(always)]
    fn add_rows(&mut self, x: &[F; D], cf: &[F; LANES]) {
        let gw = &mut self.gw;
        if lanes_outer_rows(D) {
            for l in 0..LANES {
                for j in 0..D {
                    gw[j][l] = x[j].mul_add(cf[l], gw[j][l]);
                }
            }
        } else {
            for j in 0..D {
                let xv = x[j];
                for l in 0..LANES {
                    gw[j][l] = xv.mul_add(cf[l], gw[j][l]);
                }
            }
        }
    }

    /// Writes the first `len` lanes into the chunk's blocks at tile offset `t0`.
    fn store(&self, ch: &mut Chunk<F>, t0: usize, len: usize) {
        let c = ch.c;
        store_tile(&mut ch.gv[t0..], &self.gv, len);
        store_tile(&mut ch.gb[t0..], &self.gb, len);
        for j in 0..D {
            store_tile(&mut ch.gw[j * c + t0..], &self.gw[j], len);
        }
    }
}

/// One 16-neuron tile of the streaming backward pass: its `v`, `b` and `D` weight rows, and
/// its gradient accumulators.
struct GradTile<F, const D: usize> {
    vt: [F; LANES],
    bt: [F; LANES],
    w: [[F; LANES]; D],
    sums: TileSums<F, D>,
}

impl<F: Float, const D: usize> GradTile<F, D> {
    /// Adds the samples of `rows` and `es` in blocks of `R` for as long as whole blocks fit;
    /// returns the first sample left.
    #[inline(always)]
    fn add_blocks<A: Act, const R: usize>(&mut self, rows: &[[F; D]], es: &[F]) -> usize {
        let mut i0 = 0;
        while i0 + R <= rows.len() {
            self.add_samples::<A, R>(&rows[i0..i0 + R], &es[i0..i0 + R]);
            i0 += R;
        }
        i0
    }

    /// Adds the samples of inputs `rows` and loss derivatives `es` in order, every loop of
    /// constant length.
    #[inline(always)]
    fn add_samples<A: Act, const R: usize>(&mut self, rows: &[[F; D]], es: &[F]) {
        let xs: &[F] = rows.as_flattened();
        let mut z = [self.bt; R];
        for j in 0..D {
            for r in 0..R {
                let xv = xs[r * D + j];
                for l in 0..LANES {
                    z[r][l] = xv.mul_add(self.w[j][l], z[r][l]);
                }
            }
        }
        for r in 0..R {
            let e = es[r];
            let mut cf = [F::zero(); LANES];
            for l in 0..LANES {
                (self.sums.gv[l], cf[l]) =
                    A::backward_terms(z[r][l], e, e * self.vt[l], self.sums.gv[l]);
                self.sums.gb[l] += cf[l];
            }
            self.sums.add_rows(&rows[r], &cf);
        }
    }
}

/// The Jacobian-vector pass of [`streaming_hvp`] for one chunk: blocks of [`SAMPLE_BLOCK`]
/// samples recompute their `z` and `u` tiles (the operations of `affine_tiles`, in its order)
/// and add `dv s(z) + v s'(z) u` to lane accumulators in registers across the chunk's tiles, as
/// `jvp_chunk` adds them, in the same order.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma"))]
fn streaming_jvp_chunk<F: Float, A: Act>(
    x: &[F],
    n: usize,
    d: usize,
    t: &StreamTiles<'_, F>,
    ch: &mut Chunk<F>,
) {
    in_sample_blocks!(n, |i0, R| streaming_jvp_block::<F, A, R>(x, i0, d, t, ch));
    fold_lanes(&ch.lanes, &mut ch.part, n);
}

/// Samples `i0..i0 + R` of [`streaming_jvp_chunk`].
#[inline(always)]
fn streaming_jvp_block<F: Float, A: Act, const R: usize>(
    x: &[F],
    i0: usize,
    d: usize,
    t: &StreamTiles<'_, F>,
    ch: &mut Chunk<F>,
) {
    let (k0, c, width) = (ch.k0, ch.c, t.width);
    let xs = &x[i0 * d..(i0 + R) * d];
    let mut p = [[F::zero(); LANES]; R];
    let mut t0 = 0;
    while t0 < c {
        let len = LANES.min(c - t0);
        let col = k0 + t0;
        let (vt, dvt) = (load_tile(&t.v[col..], len), load_tile(&t.dv[col..], len));
        let mut z = [load_tile(&t.b[col..], len); R];
        let mut u = [load_tile(&t.db[col..], len); R];
        for j in 0..d {
            let w = weight_tile(t.wt, width, j, col, len);
            let dw = weight_tile(t.dwt, width, j, col, len);
            for r in 0..R {
                let xv = xs[r * d + j];
                for l in 0..LANES {
                    z[r][l] = xv.mul_add(w[l], z[r][l]);
                    u[r][l] = xv.mul_add(dw[l], u[r][l]);
                }
            }
        }
        // Lanes outermost, as in `streaming_forward_block`.
        for l in 0..LANES {
            for r in 0..R {
                let (s0, s1, _) = A::derivatives(z[r][l]);
                p[r][l] += dvt[l] * s0 + vt[l] * s1 * u[r][l];
            }
        }
        t0 += len;
    }
    store_lanes(ch, i0, &p);
}

/// The backward pass of [`streaming_hvp`] for one chunk at input dimension `D`: per tile,
/// blocks of [`RECOMPUTE_BLOCK`] samples recompute `z` and `u`, then each sample in order adds
/// to the product's `v`, `b` and `D` weight rows exactly as `hvp_back_chunk` and `rows_block`
/// do.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx512dq", "x86_64+avx2+fma"))]
fn streaming_hvp_back_chunk<F: Float, A: Act, const D: usize>(
    x: &[F],
    n: usize,
    t: &StreamTiles<'_, F>,
    q: &[F],
    e1: &[F],
    ch: &mut Chunk<F>,
) {
    let (k0, c, width) = (ch.k0, ch.c, t.width);
    let xs = &x.as_chunks::<D>().0[..n];
    let mut t0 = 0;
    while t0 < c {
        let len = LANES.min(c - t0);
        let col = k0 + t0;
        let mut tile = HvpTile::<F, D> {
            vt: load_tile(&t.v[col..], len),
            dvt: load_tile(&t.dv[col..], len),
            bt: load_tile(&t.b[col..], len),
            dbt: load_tile(&t.db[col..], len),
            w: [[F::zero(); LANES]; D],
            dw: [[F::zero(); LANES]; D],
            sums: TileSums::zero(),
        };
        for j in 0..D {
            tile.w[j] = weight_tile(t.wt, width, j, col, len);
            tile.dw[j] = weight_tile(t.dwt, width, j, col, len);
        }
        let mut i0 = 0;
        while i0 + RECOMPUTE_BLOCK <= n {
            let at = i0..i0 + RECOMPUTE_BLOCK;
            tile.add_samples::<A, RECOMPUTE_BLOCK>(&xs[at.clone()], &q[at.clone()], &e1[at]);
            i0 += RECOMPUTE_BLOCK;
        }
        while i0 < n {
            tile.add_samples::<A, 1>(&xs[i0..i0 + 1], &q[i0..i0 + 1], &e1[i0..i0 + 1]);
            i0 += 1;
        }
        tile.sums.store(ch, t0, len);
        t0 += len;
    }
}

/// One 16-neuron tile of [`streaming_hvp_back_chunk`]: the network's and the direction's `v`,
/// `b` and `D` weight rows, and the product's accumulators.
struct HvpTile<F, const D: usize> {
    vt: [F; LANES],
    dvt: [F; LANES],
    bt: [F; LANES],
    dbt: [F; LANES],
    w: [[F; LANES]; D],
    dw: [[F; LANES]; D],
    sums: TileSums<F, D>,
}

impl<F: Float, const D: usize> HvpTile<F, D> {
    /// Adds the samples of inputs `rows`, curvature terms `qs` and loss derivatives `es` in order.
    #[inline(always)]
    fn add_samples<A: Act, const R: usize>(&mut self, rows: &[[F; D]], qs: &[F], es: &[F]) {
        let xs: &[F] = rows.as_flattened();
        let mut z = [self.bt; R];
        let mut u = [self.dbt; R];
        for j in 0..D {
            for r in 0..R {
                let xv = xs[r * D + j];
                for l in 0..LANES {
                    z[r][l] = xv.mul_add(self.w[j][l], z[r][l]);
                    u[r][l] = xv.mul_add(self.dw[j][l], u[r][l]);
                }
            }
        }
        for r in 0..R {
            let (qi, ei) = (qs[r], es[r]);
            let mut cf = [F::zero(); LANES];
            for l in 0..LANES {
                let (s0, s1, s2) = A::derivatives(z[r][l]);
                self.sums.gv[l] += qi * s0 + ei * s1 * u[r][l];
                let mut coef = (qi * self.vt[l] + ei * self.dvt[l]) * s1;
                if A::CURVED {
                    coef += ei * self.vt[l] * s2 * u[r][l];
                }
                cf[l] = coef;
                self.sums.gb[l] += coef;
            }
            self.sums.add_rows(&rows[r], &cf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A random small problem for one combination of options.
    struct Case {
        net: Network<f64>,
        data: Dataset<f64>,
        loss: Loss,
        label: String,
    }

    impl Case {
        fn grid(seed: u64, d: usize, width: usize, n: usize) -> Vec<Case> {
            let mut cases = Vec::new();
            for activation in [Activation::Relu, Activation::Gelu] {
                for bias in [true, false] {
                    for loss in [Loss::Square, Loss::Mse, Loss::Logistic] {
                        let shape = Shape {
                            d,
                            width,
                            bias,
                            activation,
                        };
                        let mut rng = ChaCha8Rng::seed_from_u64(seed);
                        let net = Network::init(shape, seed, 2.0);
                        let x: Vec<f64> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
                        let y: Vec<f64> = (0..n)
                            .map(|_| match loss {
                                Loss::Logistic => {
                                    if rng.random_bool(0.5) {
                                        1.0
                                    } else {
                                        -1.0
                                    }
                                }
                                _ => rng.random_range(-1.0..1.0),
                            })
                            .collect();
                        let label = format!("seed {seed}, {activation:?}, bias {bias}, {loss:?}, d {d}, K {width}, n {n}");
                        cases.push(Case {
                            net,
                            data: Dataset::new(d, x, y).unwrap(),
                            loss,
                            label,
                        });
                    }
                }
            }
            cases
        }

        fn gradient(&self) -> Vec<f64> {
            let mut ws = Workspace::new(self.net.shape, self.data.n);
            let mut g = vec![0.0; self.net.shape.len()];
            loss_and_gradient(&self.net, &self.data, self.loss, &mut ws, &mut g);
            g
        }

        fn hvp(&self, dir: &[f64]) -> Vec<f64> {
            let mut ws = Workspace::new(self.net.shape, self.data.n);
            forward(&self.net, &self.data, self.loss, &mut ws);
            let mut out = vec![0.0; dir.len()];
            hvp(&self.net, &self.data, &mut ws, dir, &mut out);
            out
        }

        fn shifted(&self, dir: &[f64], h: f64) -> Network<f64> {
            let mut net = self.net.clone();
            for (p, d) in net.params.iter_mut().zip(dir) {
                *p += h * d;
            }
            net.shape.project(&mut net.params);
            net
        }

        fn loss_at(&self, net: &Network<f64>) -> f64 {
            let mut ws = Workspace::new(net.shape, self.data.n);
            forward(net, &self.data, self.loss, &mut ws)
        }

        fn gradient_at(&self, net: &Network<f64>) -> Vec<f64> {
            let mut ws = Workspace::new(net.shape, self.data.n);
            let mut g = vec![0.0; net.shape.len()];
            loss_and_gradient(net, &self.data, self.loss, &mut ws, &mut g);
            g
        }

        fn central_difference_gradient(&self, h: f64) -> Vec<f64> {
            let p = self.net.shape.len();
            let mut g = vec![0.0; p];
            for t in 0..p {
                let mut e = vec![0.0; p];
                e[t] = 1.0;
                g[t] = (self.loss_at(&self.shifted(&e, h)) - self.loss_at(&self.shifted(&e, -h)))
                    / (2.0 * h);
            }
            self.net.shape.project(&mut g);
            g
        }

        fn central_difference_hvp(&self, dir: &[f64], h: f64) -> Vec<f64> {
            let plus = self.gradient_at(&self.shifted(dir, h));
            let minus = self.gradient_at(&self.shifted(dir, -h));
            plus.iter()
                .zip(&minus)
                .map(|(a, b)| (a - b) / (2.0 * h))
                .collect()
        }
    }

    fn assert_rel_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
        for (t, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (a - b).abs() <= tol * scale,
                "{what}: entry {t}: {a} vs {b} (scale {scale})"
            );
        }
    }

    fn random_direction(p: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..p).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    #[test]
    fn loss_matches_reference() {
        for case in Case::grid(17, 3, 7, 11) {
            let fast = case.loss_at(&case.net);
            let slow = reference::loss(&case.net, &case.data, case.loss);
            assert!(
                (fast - slow).abs() <= 1e-13 * slow.abs().max(1.0),
                "{}",
                case.label
            );
        }
    }

    #[test]
    fn gradient_matches_central_differences() {
        for case in Case::grid(17, 3, 7, 11) {
            assert_rel_close(
                &case.gradient(),
                &case.central_difference_gradient(1e-6),
                1e-6,
                &case.label,
            );
        }
    }

    #[test]
    fn gradient_matches_reference_across_chunks_and_tiles() {
        // 300 neurons: two chunks, the second with a ragged tile.
        for case in Case::grid(23, 4, 300, 9) {
            assert_rel_close(
                &case.gradient(),
                &reference::gradient(&case.net, &case.data, case.loss),
                1e-12,
                &case.label,
            );
        }
    }

    #[test]
    fn hvp_matches_central_differences_of_the_gradient() {
        for case in Case::grid(29, 3, 7, 11) {
            let dir = random_direction(case.net.shape.len(), 31);
            let mut want = case.central_difference_hvp(&dir, 1e-6);
            case.net.shape.project(&mut want);
            assert_rel_close(&case.hvp(&dir), &want, 1e-6, &case.label);
        }
    }

    #[test]
    fn hvp_matches_reference_across_chunks_and_tiles() {
        for case in Case::grid(37, 4, 300, 9) {
            let dir = random_direction(case.net.shape.len(), 41);
            assert_rel_close(
                &case.hvp(&dir),
                &reference::hvp(&case.net, &case.data, case.loss, &dir),
                1e-12,
                &case.label,
            );
        }
    }

    #[test]
    fn hvp_is_symmetric() {
        for case in Case::grid(43, 3, 9, 13) {
            let p = case.net.shape.len();
            let (a, b) = (random_direction(p, 1), random_direction(p, 2));
            let ha = case.hvp(&a);
            let hb = case.hvp(&b);
            let ab: f64 = ha.iter().zip(&b).map(|(x, y)| x * y).sum();
            let ba: f64 = hb.iter().zip(&a).map(|(x, y)| x * y).sum();
            assert!(
                (ab - ba).abs() <= 1e-12 * ab.abs().max(1.0),
                "{}: {ab} vs {ba}",
                case.label
            );
        }
    }

    #[test]
    fn results_do_not_depend_on_thread_count() {
        let shape = Shape {
            d: 10,
            width: 1000,
            bias: true,
            activation: Activation::Relu,
        };
        let net = Network::<f32>::init(shape, 3, 1.0);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let x: Vec<f32> = (0..64 * 10).map(|_| rng.random_range(-1.0..1.0)).collect();
        let y: Vec<f32> = (0..64).map(|_| rng.random_range(-1.0..1.0)).collect();
        let data = Dataset::new(10, x, y).unwrap();
        let dir: Vec<f32> = random_direction(shape.len(), 5)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut ws = Workspace::new(shape, 64);
                let mut g = vec![0.0f32; shape.len()];
                let l = loss_and_gradient(&net, &data, Loss::Square, &mut ws, &mut g);
                let mut h = vec![0.0f32; shape.len()];
                hvp(&net, &data, &mut ws, &dir, &mut h);
                let mut streamed = vec![0.0f32; shape.len()];
                streaming_loss_and_gradient(&net, &data, Loss::Square, &mut ws, &mut streamed);
                (
                    l.to_bits(),
                    g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    h.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    streamed.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                )
            })
        };
        assert_eq!(run(1), run(2), "seed 3: 1 and 2 threads differ");
    }

    /// The streaming kernels against the storing ones, bit for bit, in one precision.
    fn assert_fused_bits<F: Float>(case: &Case) {
        let shape = case.net.shape;
        let net = Network::<F> {
            shape,
            params: case.net.params.iter().map(|&p| F::of(p)).collect(),
        };
        let data = Dataset::new(
            case.data.d,
            case.data.x.iter().map(|&v| F::of(v)).collect(),
            case.data.y.iter().map(|&v| F::of(v)).collect(),
        )
        .unwrap();
        let mut ws = Workspace::new(shape, data.n);
        let mut want = vec![F::zero(); shape.len()];
        let l_want = loss_and_gradient(&net, &data, case.loss, &mut ws, &mut want);
        let f_want: Vec<F> = ws.outputs().to_vec();
        // A workspace dirtied by a different network first, as in training.
        let mut other = net.clone();
        other.params.iter_mut().for_each(|p| *p = *p * F::of(0.5));
        let mut ws2 = Workspace::new(shape, data.n);
        let mut got = vec![F::zero(); shape.len()];
        let streamed = if shape.d <= FUSED_MAX_D {
            streaming_loss_and_gradient
        } else {
            loss_and_gradient_fused
        };
        streamed(&other, &data, case.loss, &mut ws2, &mut got);
        let l_got = streamed(&net, &data, case.loss, &mut ws2, &mut got);
        assert_eq!(l_got.to_bits(), l_want.to_bits(), "{}: loss", case.label);
        assert!(
            ws2.outputs()
                .iter()
                .zip(&f_want)
                .all(|(a, b)| a.to64().to_bits() == b.to64().to_bits()),
            "{}: outputs",
            case.label
        );
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                a.to64().to_bits(),
                b.to64().to_bits(),
                "{}: gradient entry {i}: {} against {}",
                case.label,
                a.to64(),
                b.to64()
            );
        }
    }

    /// `(d, K, n)` for the streaming kernels' tests: every input dimension they take, partial
    /// tiles (K = 37), several chunks (K = 300 > CHUNK), sample counts off the register blocks
    /// (n = 1, 13).
    const STREAMING_SHAPES: &[(usize, usize, usize)] = &[
        (1, 37, 13),
        (2, 300, 13),
        (3, 16, 1),
        (4, 48, 9),
        (5, 300, 21),
        (6, 37, 8),
        (7, 20, 5),
        (8, 64, 17),
        (9, 33, 12),
        (10, 300, 19),
        (11, 16, 4),
        (12, 40, 11),
    ];

    #[test]
    fn streaming_gradient_has_the_bits_of_the_storing_one() {
        // Every activation, bias setting and loss, in both precisions, at every shape of
        // STREAMING_SHAPES and at d above FUSED_MAX_D.
        for &(d, width, n) in STREAMING_SHAPES.iter().chain(&[(13, 40, 11)]) {
            for case in Case::grid(d as u64 + 40, d, width, n) {
                assert_fused_bits::<f64>(&case);
                assert_fused_bits::<f32>(&case);
            }
        }
    }

    /// The streaming Hessian-vector product against the one from stored pre-activations, bit
    /// for bit, along a random direction, in precision `F`.
    fn assert_streaming_hvp_bits<F: Float>(case: &Case, seed: u64) {
        let shape = case.net.shape;
        let net: Network<F> = case.net.cast();
        let data: Dataset<F> = case.data.cast();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dir: Vec<F> = (0..shape.len())
            .map(|_| F::of(rng.random_range(-1.0..1.0)))
            .collect();
        let mut ws = Workspace::new(shape, data.n);
        forward(&net, &data, case.loss, &mut ws);
        let (mut want, mut got) = (vec![F::zero(); shape.len()], vec![F::zero(); shape.len()]);
        stored_hvp(&net, &data, &mut ws, &dir, &mut want);
        // Chunks dirtied by the stored product first: the streaming one overwrites them.
        streaming_hvp(&net, &data, &mut ws, &dir, &mut got);
        for (t, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                a.to64().to_bits(),
                b.to64().to_bits(),
                "{}: Hv entry {t}: {a:?} vs {b:?}",
                case.label
            );
        }
        assert!(want.iter().any(|v| *v != F::zero()), "{}", case.label);
    }

    #[test]
    fn streaming_hvp_has_the_bits_of_the_stored_one() {
        // Every activation, bias setting and loss, in both precisions, at every shape of
        // STREAMING_SHAPES.
        for &(d, width, n) in STREAMING_SHAPES {
            for case in Case::grid(d as u64 + 70, d, width, n) {
                assert_streaming_hvp_bits::<f64>(&case, d as u64);
                assert_streaming_hvp_bits::<f32>(&case, d as u64);
            }
        }
    }

    #[test]
    #[should_panic(expected = "backward needs a forward")]
    fn streaming_gradient_leaves_no_pre_activations_for_hvp() {
        let case = &Case::grid(1, 3, 20, 10)[0];
        let mut ws = Workspace::new(case.net.shape, case.data.n);
        let mut g = vec![0.0; case.net.shape.len()];
        streaming_loss_and_gradient(&case.net, &case.data, case.loss, &mut ws, &mut g);
        backward(&case.net, &case.data, &mut ws, &mut g);
    }

    #[test]
    fn relu_rescaling_changes_no_prediction() {
        let shape = Shape {
            d: 3,
            width: 5,
            bias: true,
            activation: Activation::Relu,
        };
        let net = Network::<f64>::init(shape, 8, 1.0);
        let mut scaled = net.clone();
        let c = 3.5;
        for k in 0..5 {
            for j in 0..3 {
                scaled.params[j * 5 + k] *= c;
            }
            scaled.params[shape.b_offset() + k] *= c;
            scaled.params[shape.v_offset() + k] /= c;
        }
        for x in [[0.1, -0.3, 0.8], [0.9, 0.2, -0.4]] {
            assert!(
                (net.predict(&x) - scaled.predict(&x)).abs() < 1e-12,
                "seed 8"
            );
        }
    }
}
