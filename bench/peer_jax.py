"""The same full-batch GD step and sharpness estimate as `shatter bench`, written the way a
researcher would in JAX (jit + lax.scan, autodiff for the gradient and the Hessian-vector
product). Prints one JSON line per shape. Used for BENCHMARKS.md; run with
`python3 bench/peer_jax.py --shapes 10,512,2048` on the same machine, in the same session, as
`shatter bench` (which runs it itself with `--peers`).
"""
import json
import sys
import time

import jax
import jax.numpy as jnp


def make(d, n, k, seed=0):
    key = jax.random.PRNGKey(seed)
    kx, kw, kb, kv, kbeta, ky = jax.random.split(key, 6)
    x = jax.random.normal(kx, (n, d))
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True) * jax.random.uniform(ky, (n, 1)) ** (1.0 / d)
    y = x[:, 0] + jax.random.normal(ky, (n,))
    a1, a2 = 1.0 / jnp.sqrt(d), 1.0 / jnp.sqrt(k)
    params = (
        jax.random.uniform(kw, (k, d), minval=-a1, maxval=a1),
        jax.random.uniform(kb, (k,), minval=-a1, maxval=a1),
        jax.random.uniform(kv, (k,), minval=-a2, maxval=a2),
        jax.random.uniform(kbeta, (), minval=-a2, maxval=a2),
    )
    return params, x.astype(jnp.float32), y.astype(jnp.float32)


def loss(params, x, y):
    w, b, v, beta = params
    f = jax.nn.relu(x @ w.T + b) @ v + beta
    return 0.5 * jnp.mean((f - y) ** 2)


def step(params, x, y, lr=0.01, clip=50.0):
    g = jax.grad(loss)(params, x, y)
    norm = jnp.sqrt(sum(jnp.sum(t * t) for t in jax.tree_util.tree_leaves(g)))
    scale = jnp.minimum(1.0, clip / (norm + 1e-6))
    return jax.tree_util.tree_map(lambda p, t: p - lr * scale * t, params, g)


def run_steps(params, x, y, steps):
    def body(p, _):
        return step(p, x, y), None

    return jax.lax.scan(body, params, None, length=steps)[0]


def hvp(params, x, y, vec):
    return jax.jvp(lambda p: jax.grad(loss)(p, x, y), (params,), (vec,))[1]


def sharpness(params, x, y, iters=20):
    """Top Hessian eigenvalue by `iters` Hessian-vector products (power iteration)."""
    vec = jax.tree_util.tree_map(jnp.ones_like, params)

    def body(carry, _):
        v, _ = carry
        hv = hvp(params, x, y, v)
        norm = jnp.sqrt(sum(jnp.sum(t * t) for t in jax.tree_util.tree_leaves(hv)))
        lam = sum(jnp.sum(a * b) for a, b in zip(jax.tree_util.tree_leaves(v), jax.tree_util.tree_leaves(hv)))
        return (jax.tree_util.tree_map(lambda t: t / norm, hv), lam), None

    (v, lam), _ = jax.lax.scan(body, (vec, 0.0), None, length=iters)
    return lam


def timed(f, min_seconds=2.0):
    f()  # compile
    reps, total = 0, 0.0
    while total < min_seconds:
        t = time.perf_counter()
        f()
        total += time.perf_counter() - t
        reps += 1
    return total / reps


def main():
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="10,512,2048;1,30,1000", help="d,n,K;d,n,K;...")
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    for shape in args.shapes.split(";"):
        d, n, k = (int(s) for s in shape.split(","))
        params, x, y = make(d, n, k)
        steps = 200
        run = jax.jit(run_steps, static_argnums=3)
        per_scan = timed(lambda: jax.block_until_ready(run(params, x, y, steps)), args.seconds)
        sharp = jax.jit(sharpness)
        per_sharp = timed(lambda: jax.block_until_ready(sharp(params, x, y)), args.seconds / 2)
        hv = jax.jit(hvp)
        per_hvp = timed(lambda: jax.block_until_ready(hv(params, x, y, params)), args.seconds / 2)
        flops = 4 * n * k * d + 6 * n * k
        print(json.dumps({
            "peer": f"jax {jax.__version__} (jit + lax.scan, {jax.devices()[0].platform})",
            "d": d, "n": n, "width": k,
            "seconds_per_gd_step": per_scan / steps,
            "gflops_gd_step": flops / (per_scan / steps) / 1e9,
            "seconds_per_hvp": per_hvp,
            "seconds_per_sharpness_20_hvp": per_sharp,
        }))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
