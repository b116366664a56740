// The batched kernels of shatter's CUDA backend, compiled by NVRTC at start-up. Every kernel
// serves many runs at once: a run's sizes and offsets come from its row of `meta` (see
// `pack.rs`), and a launch walks a list of tiles `(run, start)` that covers all runs of one
// instantiation (precision T, padded input dimension D, activation ACT).
//
// Layouts (per run, at its offsets): inputs sample-major with the dimension padded to D with
// zeros; parameters `[Wt (D x K), b (K), v (K), beta]`, the padded rows of Wt zero and kept
// zero (their gradients vanish because the inputs' padding is zero). Every reduction runs in a
// fixed order, so results do not depend on scheduling.

#define META 16
#define M_N 0
#define M_K 1
#define M_XOFF 2
#define M_SOFF 3
#define M_POFF 4
#define M_NT 5
#define M_TXOFF 6
#define M_TSOFF 7
#define M_BIAS 8
#define M_LOSS 9
#define M_PLEN 10

#define THREADS 256
#define WARPS (THREADS / 32)

typedef long long i64;

// ---------------------------------------------------------------------------------------------
// Activations: value, slope and curvature (ReLU: slope 0 at 0, curvature 0; GELU exact, with
// the clamp of the CPU kernels so that +-inf give the limits).

__device__ __forceinline__ float phi_cdf(float z) { return normcdff(z); }
__device__ __forceinline__ double phi_cdf(double z) { return normcdf(z); }
__device__ __forceinline__ float expo(float z) { return expf(z); }
__device__ __forceinline__ double expo(double z) { return exp(z); }
__device__ __forceinline__ float log1pe(float z) { return log1pf(z); }
__device__ __forceinline__ double log1pe(double z) { return log1p(z); }

template <typename T, int ACT>
__device__ __forceinline__ void act(T z, T &s0, T &s1, T &s2) {
    if (ACT == 0) {
        s0 = z > T(0) ? z : T(0);
        s1 = z > T(0) ? T(1) : T(0);
        s2 = T(0);
    } else {
        T cdf = phi_cdf(z);
        T above = z < T(-64) ? T(-64) : z;
        T within = above > T(64) ? T(64) : above;
        T pdf = T(0.3989422804014327) * expo(T(-0.5) * within * within);
        s0 = above * cdf;
        s1 = cdf + within * pdf;
        s2 = pdf * (T(2) - within * within);
    }
}

// ---------------------------------------------------------------------------------------------
// Losses: value, first and second derivative in f (0 square 1/2 r^2, 1 mse r^2, 2 logistic).

template <typename T>
__device__ __forceinline__ T sigmoid(T t) {
    if (t >= T(0)) return T(1) / (T(1) + expo(-t));
    T e = expo(t);
    return e / (T(1) + e);
}

template <typename T>
__device__ __forceinline__ void loss_terms(int kind, T f, T y, T &l, T &d1, T &d2) {
    if (kind == 0) {
        T r = f - y;
        l = T(0.5) * r * r;
        d1 = r;
        d2 = T(1);
    } else if (kind == 1) {
        T r = f - y;
        l = r * r;
        d1 = T(2) * r;
        d2 = T(2);
    } else {
        T t = -(y * f);
        l = t > T(0) ? t + log1pe(expo(-t)) : log1pe(expo(t));
        d1 = -y * sigmoid(t);
        T p = sigmoid(y * f);
        d2 = p * (T(1) - p);
    }
}

// The sum over a warp by butterfly exchanges (the host emulator has its own, with one exchange
// and the same additions in the same order).
#ifndef SHATTER_HOST
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
#endif

// Samples per tile of the sample kernels, and per shared-memory chunk of the neuron kernels.
// Loops over the input dimension unroll fully up to 64 (weights stay in registers); beyond, by
// 8 (they spill to local memory, and compilation stays quick).
template <int D> struct Tiles {
    static const int SAMPLES = D <= 16 ? 32 : (D <= 64 ? 8 : 4);
    static const int UNROLL = D <= 64 ? D : 8;
    static const int CHUNK = (2048 / D) < 1 ? 1 : ((2048 / D) > 128 ? 128 : (2048 / D));
    // The fused kernel's forward tiles: fewer samples, so that it fits in about 120 registers
    // (f32, D <= 5, sm_90; 170 in f64), two blocks to an SM, without spills.
    static const int FUSED_SAMPLES = SAMPLES < 8 ? SAMPLES : 8;
};

// ---------------------------------------------------------------------------------------------
// Sample kernels: a block computes, for SAMPLES samples of one run, a sum over all neurons.
// MODE 0 (train forward): f, then E1 = l'/n, E2 = l''/n, LT = l.
// MODE 1 (test forward): LT = (f - y)^2 / 2 on the test set.
// MODE 2 (Jacobian-vector product along DIR): Q = E2 * (J dir).
template <typename T, int D, int ACT, int MODE>
__device__ void sample_tile(const i64 *__restrict__ meta, const int *__restrict__ tiles,
                            const T *__restrict__ X, const T *__restrict__ Y,
                            const T *__restrict__ P, const T *__restrict__ DIR,
                            T *__restrict__ E1, T *__restrict__ E2, T *__restrict__ OUT,
                            const int *__restrict__ on) {
    const int S = Tiles<D>::SAMPLES;
    __shared__ T xs[S * D];
    __shared__ T part[WARPS][S];
    const int r = tiles[2 * blockIdx.x];
    const int i0 = tiles[2 * blockIdx.x + 1];
    if (!on[r]) return;
    const i64 *m = meta + (i64)r * META;
    const int n = (int)(MODE == 1 ? m[M_NT] : m[M_N]);
    const int K = (int)m[M_K];
    const i64 xoff = MODE == 1 ? m[M_TXOFF] : m[M_XOFF];
    const i64 soff = MODE == 1 ? m[M_TSOFF] : m[M_SOFF];
    const T *p = P + m[M_POFF];
    const T *dir = DIR + m[M_POFF];
    // The padding samples of a last, partial tile are zero and never written back; looping over
    // all S keeps the accumulators in registers.
    const int count = min(S, n - i0);
    for (int t = threadIdx.x; t < S * D; t += THREADS) {
        xs[t] = t < count * D ? X[xoff + (i64)i0 * D + t] : T(0);
    }
    __syncthreads();
    T acc[S];
#pragma unroll
    for (int s = 0; s < S; ++s) acc[s] = T(0);
    for (int k = threadIdx.x; k < K; k += THREADS) {
        T w[D];
#pragma unroll (Tiles<D>::UNROLL)
        for (int j = 0; j < D; ++j) w[j] = p[(i64)j * K + k];
        const T b = p[(i64)D * K + k];
        const T v = p[(i64)D * K + K + k];
        if (MODE == 2) {
            T dw[D];
#pragma unroll (Tiles<D>::UNROLL)
            for (int j = 0; j < D; ++j) dw[j] = dir[(i64)j * K + k];
            const T db = dir[(i64)D * K + k];
            const T dv = dir[(i64)D * K + K + k];
#pragma unroll
            for (int s = 0; s < S; ++s) {
                T z = b, u = db;
#pragma unroll (Tiles<D>::UNROLL)
                for (int j = 0; j < D; ++j) {
                    z += w[j] * xs[s * D + j];
                    u += dw[j] * xs[s * D + j];
                }
                T s0, s1, s2;
                act<T, ACT>(z, s0, s1, s2);
                acc[s] += dv * s0 + v * s1 * u;
            }
        } else {
#pragma unroll
            for (int s = 0; s < S; ++s) {
                T z = b;
#pragma unroll (Tiles<D>::UNROLL)
                for (int j = 0; j < D; ++j) z += w[j] * xs[s * D + j];
                T s0, s1, s2;
                act<T, ACT>(z, s0, s1, s2);
                acc[s] += v * s0;
            }
        }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int s = 0; s < S; ++s) {
        T v = warp_sum(acc[s]);
        if (lane == 0) part[warp][s] = v;
    }
    __syncthreads();
    const int s = threadIdx.x;
    if (s < count) {
        T sum = T(0);
        for (int w = 0; w < WARPS; ++w) sum += part[w][s];
        const i64 at = soff + i0 + s;
        const T beta = p[(i64)D * K + 2 * K];
        if (MODE == 0) {
            const T f = sum + beta;
            T l, d1, d2;
            loss_terms<T>((int)m[M_LOSS], f, Y[at], l, d1, d2);
            const T inv_n = T(1) / T(n);
            E1[at] = d1 * inv_n;
            E2[at] = d2 * inv_n;
            OUT[at] = l;
        } else if (MODE == 1) {
            const T r = sum + beta - Y[at];
            OUT[at] = T(0.5) * r * r;
        } else {
            const T dbeta = dir[(i64)D * K + 2 * K];
            OUT[at] = E2[at] * (sum + dbeta);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Neuron kernels: a thread owns one neuron of one run and sums over all its samples, which the
// block stages through shared memory in chunks.
// MODE 0 (gradient): G = dL/dtheta for Wt, b, v (beta by `reduce_train`).
// MODE 1 (Hessian-vector product along DIR, with Q from the sample kernel): G = H dir.
template <typename T, int D, int ACT, int MODE>
__device__ void neuron_tile(const i64 *__restrict__ meta, const int *__restrict__ tiles,
                            const T *__restrict__ X, const T *__restrict__ P,
                            const T *__restrict__ DIR, const T *__restrict__ E1,
                            const T *__restrict__ Q, T *__restrict__ G,
                            const int *__restrict__ on) {
    const int C = Tiles<D>::CHUNK;
    __shared__ T xs[C * D];
    __shared__ T es[C];
    __shared__ T qs[C];
    const int r = tiles[2 * blockIdx.x];
    const int k0 = tiles[2 * blockIdx.x + 1];
    if (!on[r]) return;
    const i64 *m = meta + (i64)r * META;
    const int n = (int)m[M_N];
    const int K = (int)m[M_K];
    const bool bias = m[M_BIAS] != 0;
    const i64 xoff = m[M_XOFF], soff = m[M_SOFF];
    const T *p = P + m[M_POFF];
    const T *dir = DIR + m[M_POFF];
    T *g = G + m[M_POFF];
    const int k = k0 + threadIdx.x;
    const bool mine = k < K;
    T w[D], dw[D], gw[D];
    T b = T(0), v = T(0), db = T(0), dv = T(0), gb = T(0), gv = T(0);
#pragma unroll (Tiles<D>::UNROLL)
    for (int j = 0; j < D; ++j) {
        w[j] = mine ? p[(i64)j * K + k] : T(0);
        dw[j] = (MODE == 1 && mine) ? dir[(i64)j * K + k] : T(0);
        gw[j] = T(0);
    }
    if (mine) {
        b = p[(i64)D * K + k];
        v = p[(i64)D * K + K + k];
        if (MODE == 1) {
            db = bias ? dir[(i64)D * K + k] : T(0);
            dv = dir[(i64)D * K + K + k];
        }
    }
    for (int i0 = 0; i0 < n; i0 += C) {
        const int count = min(C, n - i0);
        __syncthreads();
        for (int t = threadIdx.x; t < C * D; t += THREADS) {
            xs[t] = t < count * D ? X[xoff + (i64)i0 * D + t] : T(0);
        }
        for (int t = threadIdx.x; t < C; t += THREADS) {
            es[t] = t < count ? E1[soff + i0 + t] : T(0);
            qs[t] = (MODE == 1 && t < count) ? Q[soff + i0 + t] : T(0);
        }
        __syncthreads();
        if (!mine) continue;
        for (int s = 0; s < count; ++s) {
            T z = b, u = db;
#pragma unroll (Tiles<D>::UNROLL)
            for (int j = 0; j < D; ++j) {
                z += w[j] * xs[s * D + j];
                if (MODE == 1) u += dw[j] * xs[s * D + j];
            }
            T s0, s1, s2;
            act<T, ACT>(z, s0, s1, s2);
            const T e = es[s];
            T coef;
            if (MODE == 0) {
                coef = e * v * s1;
                gv += e * s0;
            } else {
                const T q = qs[s];
                coef = (q * v + e * dv) * s1;
                if (ACT != 0) coef += e * v * s2 * u;
                gv += q * s0 + e * s1 * u;
            }
            gb += coef;
#pragma unroll (Tiles<D>::UNROLL)
            for (int j = 0; j < D; ++j) gw[j] += coef * xs[s * D + j];
        }
    }
    if (!mine) return;
#pragma unroll (Tiles<D>::UNROLL)
    for (int j = 0; j < D; ++j) g[(i64)j * K + k] = gw[j];
    g[(i64)D * K + k] = bias ? gb : T(0);
    g[(i64)D * K + K + k] = gv;
}

// ---------------------------------------------------------------------------------------------
// Per-run reductions and the update, shared by every D and activation.

template <int NT = THREADS>
__device__ double block_sum(double v, double *scratch) {
    scratch[threadIdx.x] = v;
    __syncthreads();
    for (int o = NT / 2; o > 0; o >>= 1) {
        if (threadIdx.x < o) scratch[threadIdx.x] += scratch[threadIdx.x + o];
        __syncthreads();
    }
    double s = scratch[0];
    __syncthreads();
    return s;
}

// The end of an epoch's reductions for run `r` (one thread): records the loss `lv` and gradient
// norm `gn`, the clipping factor, and applies the divergence rules (see `reduce_train`).
__device__ void judge(int r, double lv, double gn, int *__restrict__ on,
                      int *__restrict__ diverged_at, double *__restrict__ loss,
                      double *__restrict__ gnorm, double *__restrict__ scale,
                      const double *__restrict__ hyper, double *__restrict__ loss0,
                      int *__restrict__ since, double factor, int window, int epoch) {
    const double clip = hyper[4 * r + 2];
    loss[r] = lv;
    gnorm[r] = gn;
    scale[r] = (clip >= 0.0 && isfinite(gn)) ? fmin(1.0, clip / (gn + 1e-6)) : 1.0;
    if (!(isfinite(lv) && isfinite(gn))) {
        diverged_at[r] = epoch;
        on[r] = 0;
    } else {
        if (epoch == 0) loss0[r] = lv;
        if (lv > factor * loss0[r]) {
            if (since[r] < 0) since[r] = epoch;
            if (epoch + 1 - since[r] >= window) {
                diverged_at[r] = epoch;
                on[r] = 0;
            }
        } else {
            since[r] = -1;
        }
    }
}

// One block per run: the loss, the gradient's beta entry and norm, the clipping factor, and
// divergence by the rules of shatter_core::train::Divergence: a non-finite loss or gradient
// norm, or a loss above `factor` times the run's epoch-0 loss (`loss0`) at every epoch of the
// last `window` (`since`: the epoch the current streak began, or -1), stops the run at `epoch`.
// The host applies the rule's last-epoch clause.
template <typename T>
__device__ void reduce_train(const i64 *__restrict__ meta, const T *__restrict__ LT,
                             const T *__restrict__ E1, T *__restrict__ G, int *__restrict__ on,
                             int *__restrict__ diverged_at, double *__restrict__ loss,
                             double *__restrict__ gnorm, double *__restrict__ scale,
                             const double *__restrict__ hyper, double *__restrict__ loss0,
                             int *__restrict__ since, double factor, int window, int epoch) {
    __shared__ double scratch[THREADS];
    const int r = blockIdx.x;
    if (!on[r]) return;
    const i64 *m = meta + (i64)r * META;
    const int n = (int)m[M_N];
    const i64 soff = m[M_SOFF], plen = m[M_PLEN];
    T *g = G + m[M_POFF];
    double l = 0.0, e = 0.0;
    for (int i = threadIdx.x; i < n; i += THREADS) {
        l += (double)LT[soff + i];
        e += (double)E1[soff + i];
    }
    l = block_sum(l, scratch);
    e = block_sum(e, scratch);
    if (threadIdx.x == 0) g[plen - 1] = (T)e;
    __syncthreads();
    double sq = 0.0;
    for (i64 t = threadIdx.x; t < plen; t += THREADS) {
        const double x = (double)g[t];
        sq += x * x;
    }
    sq = block_sum(sq, scratch);
    if (threadIdx.x == 0) judge(r, l / n, sqrt(sq), on, diverged_at, loss, gnorm, scale, hyper, loss0, since, factor, window, epoch);
}

// One thread per parameter: clipping, weight decay and momentum in PyTorch's order; the b block
// stays zero without biases.
template <typename T>
__device__ void step(const i64 *__restrict__ meta, const int *__restrict__ tiles,
                     T *__restrict__ P, const T *__restrict__ G, T *__restrict__ V,
                     const double *__restrict__ hyper, const double *__restrict__ scale,
                     const int *__restrict__ on) {
    const int r = tiles[2 * blockIdx.x];
    const i64 t = (i64)tiles[2 * blockIdx.x + 1] + threadIdx.x;
    if (!on[r]) return;
    const i64 *m = meta + (i64)r * META;
    if (t >= m[M_PLEN]) return;
    const i64 at = m[M_POFF] + t;
    const i64 K = m[M_K];
    const i64 boff = m[M_PLEN] - 1 - 2 * K;
    if (m[M_BIAS] == 0 && t >= boff && t < boff + K) {
        P[at] = T(0);
        return;
    }
    const T eta = (T)hyper[4 * r], lambda = (T)hyper[4 * r + 1], mu = (T)hyper[4 * r + 3];
    const double sc = scale[r];
    T g = G[at];
    if (sc < 1.0) g = g * (T)sc;
    T p = P[at];
    if (hyper[4 * r + 3] == 0.0) {
        p -= eta * (g + lambda * p);
    } else {
        const T vel = mu * V[at] + g + lambda * p;
        V[at] = vel;
        p -= eta * vel;
    }
    P[at] = p;
}

// One block per run with `on` set: OUT[r] = sum of SRC over the run's samples (the test set's
// when `test` is 1).
template <typename T>
__device__ void run_sum(const i64 *__restrict__ meta, const T *__restrict__ SRC, int test,
                        double *__restrict__ out, const int *__restrict__ on) {
    __shared__ double scratch[THREADS];
    const int r = blockIdx.x;
    if (!on[r]) return;
    const i64 *m = meta + (i64)r * META;
    const int n = (int)(test ? m[M_NT] : m[M_N]);
    const i64 off = test ? m[M_TSOFF] : m[M_SOFF];
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += THREADS) s += (double)SRC[off + i];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) out[r] = s;
}

// ---------------------------------------------------------------------------------------------
// Thread-block clusters (sm_90 and newer): the block's rank in its cluster, a barrier over every
// thread of the cluster that orders memory (release on arrival, acquire on leaving), and the
// address of a shared variable in another block of the cluster. Shared arrays of the fused
// kernel are declared with SHARED so that the host emulator (shim.h, which defines
// SHATTER_HOST and its own versions of these) can give each block of a cluster its own.
#ifndef SHATTER_HOST
#define SHARED(T, name, count) __shared__ T name[count]
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ int cluster_rank() {
    unsigned r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
    return (int)r;
}
__device__ __forceinline__ void cluster_sync() {
    asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}
template <typename T>
__device__ __forceinline__ T *cluster_peer(T *p, int rank) {
    unsigned long long to;
    asm volatile("mapa.u64 %0, %1, %2;" : "=l"(to) : "l"((unsigned long long)p), "r"(rank));
    return (T *)to;
}
#else
// Before sm_90 a cluster is one block (the host launches no larger ones there).
__device__ __forceinline__ int cluster_rank() { return 0; }
__device__ __forceinline__ void cluster_sync() { __syncthreads(); }
template <typename T>
__device__ __forceinline__ T *cluster_peer(T *p, int) { return p; }
#endif
#endif

// A barrier over the run's threads: the block's, or the cluster's when CL blocks share a run.
template <int CL>
__device__ __forceinline__ void run_sync() {
    if (CL == 1) {
        __syncthreads();
    } else {
        cluster_sync();
    }
}

// ---------------------------------------------------------------------------------------------
// The fused kernel: CL blocks (a cluster; one block when CL is 1) train one run for a whole
// record interval, epochs `from` to `to` (the update of the previous epoch first, unless
// `step_first` is 0), with no launch in between: the update, the forward pass, the gradient,
// the reductions and the divergence rules of the kernels above, in the same formulas, each
// reduction in a fixed order. A block has NT threads (512 in f32, 256 in f64: under 128 and 255
// registers); the thread `t` of the block of rank `q` owns the neurons
// k = q NT + t + j NT CL, and only it reads and writes their parameters, velocity and gradient
// (which stay in the run's global buffers, in L1/L2). Per sample, each block sums the output
// over its own neurons into shared memory, and the cluster adds the blocks' sums in rank order
// (through distributed shared memory, in chunks of FB samples); the gradient's squared norm is
// added the same way, and the block of rank 0 judges the epoch. It leaves what the host reads at
// a record epoch as the separate kernels do: the scalars, `E1`, `E2`, `LT` and `G` of epoch `to`
// (or of the epoch the run diverged at, where it stops). With CL = 1 every sum is the same
// arithmetic in the same order as in the separate kernels' fused predecessor.
template <typename T, int D, int ACT, int NT, int CL>
__device__ void fused(const i64 *__restrict__ meta, const int *__restrict__ runs,
                      const T *__restrict__ X, const T *__restrict__ Y, T *__restrict__ P,
                      T *__restrict__ G, T *__restrict__ V, T *__restrict__ E1,
                      T *__restrict__ E2, T *__restrict__ LT, int *__restrict__ on,
                      int *__restrict__ diverged_at, double *__restrict__ loss,
                      double *__restrict__ gnorm, double *__restrict__ scale,
                      const double *__restrict__ hyper, double *__restrict__ loss0,
                      int *__restrict__ since, double factor, int window, int from, int to,
                      int step_first) {
    const int S = Tiles<D>::FUSED_SAMPLES;
    const int C = Tiles<D>::CHUNK;
    // Samples per chunk of the forward pass's cluster-wide sums (a multiple of S).
    const int FB = 1024;
    SHARED(T, xs, (S > C ? S : C) * D);
    SHARED(T, part, (NT / 32) * S);
    SHARED(T, es, C);
    SHARED(T, fsum, FB);
    SHARED(double, scratch, NT);
    SHARED(double, bsq, 1);
    const int rank = CL == 1 ? 0 : cluster_rank();
    const int r = runs[blockIdx.x / CL];
    // The same for every block of the cluster: `on` changes only after the first barrier.
    if (!on[r]) return;
    const i64 *m = meta + (i64)r * META;
    const int n = (int)m[M_N];
    const int K = (int)m[M_K];
    const bool bias = m[M_BIAS] != 0;
    const int kind = (int)m[M_LOSS];
    const i64 xoff = m[M_XOFF], soff = m[M_SOFF], plen = m[M_PLEN];
    T *p = P + m[M_POFF];
    T *g = G + m[M_POFF];
    T *vel = V + m[M_POFF];
    const T eta = (T)hyper[4 * r], lambda = (T)hyper[4 * r + 1], mu = (T)hyper[4 * r + 3];
    const bool heavy = hyper[4 * r + 3] != 0.0;
    const T inv_n = T(1) / T(n);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    // This thread's first neuron, and the step to its next.
    const int first = rank * NT + (int)threadIdx.x, stride = NT * CL;
    for (int epoch = from; epoch <= to; ++epoch) {
        // The update with the previous epoch's gradient (`step`, for this thread's neurons).
        if (epoch > from || step_first) {
            const double sc = scale[r];
            for (int k = first; k < K; k += stride) {
                for (int j = 0; j < D + 2; ++j) {
                    const i64 at = (i64)j * K + k;
                    if (j == D && !bias) {
                        p[at] = T(0);
                        continue;
                    }
                    T gr = g[at];
                    if (sc < 1.0) gr = gr * (T)sc;
                    T q = p[at];
                    if (!heavy) {
                        q -= eta * (gr + lambda * q);
                    } else {
                        const T u = mu * vel[at] + gr + lambda * q;
                        vel[at] = u;
                        q -= eta * u;
                    }
                    p[at] = q;
                }
            }
            if (rank == 0 && threadIdx.x == 0) {
                const i64 at = plen - 1;
                T gr = g[at];
                if (sc < 1.0) gr = gr * (T)sc;
                T q = p[at];
                if (!heavy) {
                    q -= eta * (gr + lambda * q);
                } else {
                    const T u = mu * vel[at] + gr + lambda * q;
                    vel[at] = u;
                    q -= eta * u;
                }
                p[at] = q;
            }
            // Every block reads the updated beta.
            run_sync<CL>();
        }
        const T beta = p[plen - 1];
        // Forward pass (`sample_tile`, MODE 0) over tiles of S samples, in chunks of FB: each
        // block's sums over its neurons into `fsum`, then the cluster's total per sample.
        for (int c0 = 0; c0 < n; c0 += FB) {
            const int cn = min(FB, n - c0);
            for (int i0 = c0; i0 < c0 + cn; i0 += S) {
                const int count = min(S, n - i0);
                for (int t = threadIdx.x; t < S * D; t += NT) {
                    xs[t] = t < count * D ? X[xoff + (i64)i0 * D + t] : T(0);
                }
                __syncthreads();
                T acc[S];
#pragma unroll
                for (int s = 0; s < S; ++s) acc[s] = T(0);
                for (int k = first; k < K; k += stride) {
                    T w[D];
#pragma unroll (Tiles<D>::UNROLL)
                    for (int j = 0; j < D; ++j) w[j] = p[(i64)j * K + k];
                    const T b = p[(i64)D * K + k];
                    const T v = p[(i64)D * K + K + k];
#pragma unroll
                    for (int s = 0; s < S; ++s) {
                        T z = b;
#pragma unroll (Tiles<D>::UNROLL)
                        for (int j = 0; j < D; ++j) z += w[j] * xs[s * D + j];
                        T s0, s1, s2;
                        act<T, ACT>(z, s0, s1, s2);
                        acc[s] += v * s0;
                    }
                }
#pragma unroll
                for (int s = 0; s < S; ++s) {
                    T v = warp_sum(acc[s]);
                    if (lane == 0) part[warp * S + s] = v;
                }
                __syncthreads();
                const int s = threadIdx.x;
                if (s < count) {
                    T sum = T(0);
                    for (int w = 0; w < (NT / 32); ++w) sum += part[w * S + s];
                    fsum[i0 - c0 + s] = sum;
                }
                __syncthreads();
            }
            // Every block's sums are in place; the blocks share the chunk's samples.
            if (CL > 1) cluster_sync();
            for (int i = first; i < cn; i += stride) {
                T sum = fsum[i];
                if (CL > 1) {
                    sum = *cluster_peer(&fsum[i], 0);
                    for (int q = 1; q < CL; ++q) sum += *cluster_peer(&fsum[i], q);
                }
                const i64 at = soff + c0 + i;
                T l, d1, d2;
                loss_terms<T>(kind, sum + beta, Y[at], l, d1, d2);
                E1[at] = d1 * inv_n;
                E2[at] = d2 * inv_n;
                LT[at] = l;
            }
            // The chunk's E1 is visible to every block, and `fsum` free for the next chunk.
            run_sync<CL>();
        }
        // Gradient (`neuron_tile`, MODE 0): neurons in rounds of NT CL, samples in chunks of C
        // staged in shared memory; the squares of the gradient summed on the way.
        double sq = 0.0;
        for (int k0 = 0; k0 < K; k0 += stride) {
            // A block with none of this round's neurons (the last round of a cluster) skips it.
            if (k0 + rank * NT >= K) break;
            const int k = k0 + first;
            const bool mine = k < K;
            T w[D], gw[D];
            T b = T(0), v = T(0), gb = T(0), gv = T(0);
#pragma unroll (Tiles<D>::UNROLL)
            for (int j = 0; j < D; ++j) {
                w[j] = mine ? p[(i64)j * K + k] : T(0);
                gw[j] = T(0);
            }
            if (mine) {
                b = p[(i64)D * K + k];
                v = p[(i64)D * K + K + k];
            }
            for (int i0 = 0; i0 < n; i0 += C) {
                const int count = min(C, n - i0);
                __syncthreads();
                for (int t = threadIdx.x; t < C * D; t += NT) {
                    xs[t] = t < count * D ? X[xoff + (i64)i0 * D + t] : T(0);
                }
                for (int t = threadIdx.x; t < C; t += NT) {
                    es[t] = t < count ? E1[soff + i0 + t] : T(0);
                }
                __syncthreads();
                if (!mine) continue;
                for (int s = 0; s < count; ++s) {
                    T z = b;
#pragma unroll (Tiles<D>::UNROLL)
                    for (int j = 0; j < D; ++j) z += w[j] * xs[s * D + j];
                    T s0, s1, s2;
                    act<T, ACT>(z, s0, s1, s2);
                    const T e = es[s];
                    const T coef = e * v * s1;
                    gv += e * s0;
                    gb += coef;
#pragma unroll (Tiles<D>::UNROLL)
                    for (int j = 0; j < D; ++j) gw[j] += coef * xs[s * D + j];
                }
            }
            if (mine) {
#pragma unroll (Tiles<D>::UNROLL)
                for (int j = 0; j < D; ++j) {
                    g[(i64)j * K + k] = gw[j];
                    sq += (double)gw[j] * (double)gw[j];
                }
                if (!bias) gb = T(0);
                g[(i64)D * K + k] = gb;
                g[(i64)D * K + K + k] = gv;
                sq += (double)gb * (double)gb + (double)gv * (double)gv;
            }
        }
        // Reductions (`reduce_train`): the loss and the beta entry (rank 0), the norm (every
        // block's share, added in rank order), the rules.
        double l = 0.0, e = 0.0;
        if (rank == 0) {
            for (int i = threadIdx.x; i < n; i += NT) {
                l += (double)LT[soff + i];
                e += (double)E1[soff + i];
            }
            l = block_sum<NT>(l, scratch);
            e = block_sum<NT>(e, scratch);
        }
        sq = block_sum<NT>(sq, scratch);
        if (threadIdx.x == 0) bsq[0] = sq;
        run_sync<CL>();
        if (rank == 0 && threadIdx.x == 0) {
            double total = bsq[0];
            if (CL > 1) {
                total = *cluster_peer(&bsq[0], 0);
                for (int q = 1; q < CL; ++q) total += *cluster_peer(&bsq[0], q);
            }
            const T gbeta = (T)e;
            g[plen - 1] = gbeta;
            total += (double)gbeta * (double)gbeta;
            judge(r, l / n, sqrt(total), on, diverged_at, loss, gnorm, scale, hyper, loss0, since,
                  factor, window, epoch);
        }
        // Rank 0's verdict (and clipping factor) is visible to every block; no block reads
        // another's shared memory after this barrier, so any may leave.
        run_sync<CL>();
        if (((volatile int *)on)[r] == 0) return;
    }
}
