"""The same full-batch GD step and Hessian-vector product as `shatter bench`, written the way a
researcher would in PyTorch on the CPU: autograd for the gradient, `torch.func.jvp` of
`torch.func.grad` for the Hessian-vector product, a manual clipped update. Eager mode (what a
plain script runs). Prints one JSON line per shape; `shatter bench --peers` runs it in the same
session as its own timings.

    python3 bench/peer_torch.py --shapes 5,512,2048 --threads 1 --seconds 2
"""
import argparse
import json
import sys
import time

import torch
from torch.func import grad, jvp


def make(d, n, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    r = torch.rand(n, 1, generator=g) ** (1.0 / d)
    x = x / x.norm(dim=1, keepdim=True) * r
    y = x[:, 0] + torch.randn(n, generator=g)
    a1, a2 = 1.0 / d ** 0.5, 1.0 / k ** 0.5
    params = (
        (torch.rand(k, d, generator=g) * 2 - 1) * a1,
        (torch.rand(k, generator=g) * 2 - 1) * a1,
        (torch.rand(k, generator=g) * 2 - 1) * a2,
        (torch.rand((), generator=g) * 2 - 1) * a2,
    )
    return params, x, y


def loss(params, x, y):
    w, b, v, beta = params
    f = torch.relu(x @ w.T + b) @ v + beta
    return 0.5 * torch.mean((f - y) ** 2)


def step(params, x, y, lr=0.01, clip=50.0):
    ps = [p.detach().requires_grad_(True) for p in params]
    gs = torch.autograd.grad(loss(ps, x, y), ps)
    norm = torch.sqrt(sum((t * t).sum() for t in gs))
    scale = torch.clamp(clip / (norm + 1e-6), max=1.0)
    return tuple((p - lr * scale * t).detach() for p, t in zip(ps, gs))


def hvp(params, x, y, vec):
    return jvp(lambda p: grad(loss)(p, x, y), (params,), (vec,))[1]


def timed(f, min_seconds):
    f()
    reps, total = 0, 0.0
    while total < min_seconds:
        t = time.perf_counter()
        f()
        total += time.perf_counter() - t
        reps += 1
    return total / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="10,512,2048", help="d,n,K;d,n,K;...")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads, 0 for the default")
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    for shape in args.shapes.split(";"):
        d, n, k = (int(s) for s in shape.split(","))
        params, x, y = make(d, n, k)
        steps = 50

        def run():
            p = params
            for _ in range(steps):
                p = step(p, x, y)
            return p

        per_run = timed(run, args.seconds)
        per_hvp = timed(lambda: hvp(params, x, y, params), args.seconds / 2)
        flops = 4 * n * k * d + 6 * n * k
        print(json.dumps({
            "peer": f"pytorch {torch.__version__} (eager, CPU, {torch.get_num_threads()} threads)",
            "d": d, "n": n, "width": k,
            "seconds_per_gd_step": per_run / steps,
            "gflops_gd_step": flops / (per_run / steps) / 1e9,
            "seconds_per_hvp": per_hvp,
        }))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
