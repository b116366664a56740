// Runs the CUDA kernels of kernels.cu on the host, for tests on machines without a GPU: a block
// is 256 (or up to 1024) std::threads meeting at a std::barrier for __syncthreads, blocks run one after another
// (so function-local statics serve as shared memory), and warp shuffles go through a
// block-wide exchange. Slow, and exact: the same arithmetic in the same order as on a device.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>
#include <algorithm>
#include <array>

struct uint3_ { unsigned x, y, z; };
inline thread_local uint3_ threadIdx;
inline uint3_ blockIdx;
inline std::barrier<> *g_barrier = nullptr;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(x)

inline void __syncthreads() { g_barrier->arrive_and_wait(); }

template <typename T>
T __shfl_xor_sync(unsigned, T v, int o) {
    static T buf[1024];
    buf[threadIdx.x] = v;
    __syncthreads();
    T r = buf[(threadIdx.x & ~31u) | ((threadIdx.x & 31u) ^ (unsigned)o)];
    __syncthreads();
    return r;
}

using std::min;
using std::isfinite;
inline float normcdff(float z) { return 0.5f * std::erfc(-z * 0.70710678118654752f); }
inline double normcdf(double z) { return 0.5 * std::erfc(-z * 0.70710678118654752); }

// Runs `body` as `blocks` blocks of `size` threads (at most 1024).
inline void launch(int blocks, const std::function<void()> &body, unsigned size = 256) {
    for (int b = 0; b < blocks; ++b) {
        blockIdx = {(unsigned)b, 0, 0};
        std::barrier<> bar(size);
        g_barrier = &bar;
        std::vector<std::thread> threads;
        threads.reserve(size);
        for (unsigned t = 0; t < size; ++t) {
            threads.emplace_back([t, &body] {
                threadIdx = {t, 0, 0};
                body();
            });
        }
        for (auto &th : threads) th.join();
    }
}
