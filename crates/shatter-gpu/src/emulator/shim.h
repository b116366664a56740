// Runs the CUDA kernels of kernels.cu on the host, for tests on machines without a GPU: a block
// is 256 (or up to 1024) std::threads meeting at a std::barrier for __syncthreads; the blocks of
// a thread-block cluster run at the same time and clusters one after another, and warp sums go
// through a block-wide exchange. Slow, and exact: the same arithmetic in the same order as
// on a device.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>

struct uint3_ { unsigned x, y, z; };
#define SHATTER_HOST 1
// Per thread: its index, its block's index, barrier, shared memory and warp-sum buffer,
// and its cluster's barrier, its rank there and the shared memory of every block of it.
inline thread_local uint3_ threadIdx;
inline thread_local uint3_ blockIdx;
inline thread_local std::barrier<> *g_barrier = nullptr;
inline thread_local std::barrier<> *g_cluster = nullptr;
inline thread_local int g_rank = 0;
inline thread_local unsigned char *g_arena = nullptr;
inline thread_local std::size_t g_used = 0;
inline thread_local unsigned char *const *g_arenas = nullptr;
inline thread_local double *g_shuffle = nullptr;
// Shared memory per block for arrays declared with SHARED (the fused kernel).
constexpr std::size_t ARENA_BYTES = 96 * 1024;

#define __global__
#define __device__
#define __forceinline__ inline
// Blocks launched one at a time may keep shared arrays in function-local statics.
#define __shared__ static
#define __launch_bounds__(x)

inline void __syncthreads() { g_barrier->arrive_and_wait(); }

// SHARED arrays: carved, in declaration order, from the block's own arena, so that every thread
// of a block gets the same address and blocks of one cluster running at once do not collide.
template <typename T>
T *host_shared(std::size_t count) {
    g_used = (g_used + 15) & ~std::size_t(15);
    T *at = reinterpret_cast<T *>(g_arena + g_used);
    g_used += count * sizeof(T);
    if (g_used > ARENA_BYTES) {
        std::fprintf(stderr, "the emulator's shared memory (%zu bytes) is too small\n", ARENA_BYTES);
        std::abort();
    }
    return at;
}
#define SHARED(T, name, count) T *name = host_shared<T>(count)

inline int cluster_rank() { return g_rank; }
inline void cluster_sync() { g_cluster->arrive_and_wait(); }
template <typename T>
T *cluster_peer(T *p, int rank) {
    return reinterpret_cast<T *>(g_arenas[rank] + (reinterpret_cast<unsigned char *>(p) - g_arena));
}

// warp_sum of kernels.cu: every lane publishes its value once, then replays the butterfly
// (`v += shfl_xor(v, o)` for o = 16, 8, 4, 2, 1) for its own lane: the same additions in the
// same order as the device, with two barriers instead of ten.
template <typename T>
T warp_sum(T v) {
    T *buf = reinterpret_cast<T *>(g_shuffle);
    buf[threadIdx.x] = v;
    __syncthreads();
    T lanes[32];
    const unsigned base = threadIdx.x & ~31u;
    for (unsigned l = 0; l < 32; ++l) lanes[l] = buf[base + l];
    __syncthreads();
    for (int o = 16; o > 0; o >>= 1) {
        T next[32];
        for (unsigned l = 0; l < 32; ++l) next[l] = lanes[l] + lanes[l ^ (unsigned)o];
        for (unsigned l = 0; l < 32; ++l) lanes[l] = next[l];
    }
    return lanes[threadIdx.x & 31u];
}

using std::min;
using std::isfinite;
inline float normcdff(float z) { return 0.5f * std::erfc(-z * 0.70710678118654752f); }
inline double normcdf(double z) { return 0.5 * std::erfc(-z * 0.70710678118654752); }

// Runs `body` as `blocks` blocks of `size` threads (at most 1024) in clusters of `cluster`
// blocks: the blocks of one cluster at the same time (each with its own barrier and shared
// memory, all meeting at the cluster's barrier), one cluster after another.
inline void launch_clusters(int blocks, int cluster, const std::function<void()> &body, unsigned size) {
    for (int c0 = 0; c0 < blocks; c0 += cluster) {
        std::barrier<> whole((std::ptrdiff_t)cluster * size);
        std::vector<std::unique_ptr<std::barrier<>>> bars;
        std::vector<std::vector<unsigned char>> arenas(cluster, std::vector<unsigned char>(ARENA_BYTES));
        std::vector<std::vector<double>> shuffles(cluster, std::vector<double>(1024));
        std::vector<unsigned char *> bases;
        for (int q = 0; q < cluster; ++q) {
            bars.push_back(std::make_unique<std::barrier<>>(size));
            bases.push_back(arenas[q].data());
        }
        std::vector<std::thread> threads;
        threads.reserve((std::size_t)cluster * size);
        for (int q = 0; q < cluster; ++q) {
            for (unsigned t = 0; t < size; ++t) {
                threads.emplace_back([&, q, t] {
                    threadIdx = {t, 0, 0};
                    blockIdx = {(unsigned)(c0 + q), 0, 0};
                    g_barrier = bars[q].get();
                    g_cluster = &whole;
                    g_rank = q;
                    g_arena = bases[q];
                    g_used = 0;
                    g_arenas = bases.data();
                    g_shuffle = shuffles[q].data();
                    body();
                });
            }
        }
        for (auto &th : threads) th.join();
    }
}

// Runs `body` as `blocks` blocks of `size` threads, one after another.
inline void launch(int blocks, const std::function<void()> &body, unsigned size = 256) {
    launch_clusters(blocks, 1, body, size);
}
