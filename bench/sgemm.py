"""The machine's fp32 limit as BENCHMARKS.md uses it: numpy's sgemm (OpenBLAS) on 2048 x 2048
matrices, best of 5, on the threads OpenBLAS is given (`OPENBLAS_NUM_THREADS`). Prints one
JSON line; `shatter bench --peers` runs it per core and on every core.
"""
import json
import os
import time

import numpy as np

n = 2048
rng = np.random.default_rng(0)
a = rng.random((n, n), dtype=np.float32)
b = rng.random((n, n), dtype=np.float32)
a @ b
best = min(
    (lambda t: (a @ b, time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(5)
)
print(json.dumps({
    "peer": f"numpy {np.__version__} sgemm {n}x{n}",
    "threads": os.environ.get("OPENBLAS_NUM_THREADS", "all"),
    "gflops": 2 * n ** 3 / best / 1e9,
}))
