"""Train a two-layer ReLU network with plain numpy gradient descent at a large step size, then
measure it with shatter: at the edge of stability the sharpness settles near 2/eta, and the
flatness bound on the weighted variation norm holds.

    python3 -m venv .venv && .venv/bin/pip install ./crates/shatter-py
    .venv/bin/python examples/numpy_edge_of_stability.py
"""

import numpy as np

import shatter

rng = np.random.default_rng(0)
n, d, K, eta, epochs = 64, 1, 128, 0.4, 4000
X = rng.uniform(-1, 1, size=(n, d))
y = np.sin(3 * X[:, 0]) + 0.3 * rng.normal(size=n)

W = rng.normal(size=(K, d))
b = rng.normal(size=K) * 0.5
v = rng.normal(size=K) / np.sqrt(K)
beta = 0.0

for epoch in range(epochs):  # full-batch GD on 1/(2n) sum (f(x_i) - y_i)^2
    z = X @ W.T + b
    a = np.maximum(z, 0.0)
    r = (a @ v + beta - y) / n
    gz = (r[:, None] * (z > 0)) * v
    W -= eta * (gz.T @ X)
    b -= eta * gz.sum(axis=0)
    v -= eta * (a.T @ r)
    beta -= eta * r.sum()

m = shatter.measure(W, b, v, beta, X, y)
print(f"train loss        {m.train_loss:.5f}")
print(f"sharpness         {m.sharpness:.5f} +- {m.sharpness_err:.1e}   (2/eta = {2 / eta:.5f})")
print(f"|f|_Vg            {m.vg_norm:.5f} <= bound {m.vg_bound:.5f}: {m.bound_holds}")
print(f"dead neurons      {int(m.dead.sum())} of {K}; median activation rate {np.median(m.activation_rate):.3f}")
