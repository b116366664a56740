"""The curse-of-dimensionality sweep (`shatter reproduce cod --scale paper`: d = 1..5,
n = 32..512, K = 4n, 5 seeds, eta = 0.2 without decay and eta = 0.01 with decay 0.1, clipping at
50, the 1/(2n) square loss, 20000 epochs: 250 runs) written the way a researcher would in
PyTorch: one run at a time, `torch.optim.SGD` with `weight_decay`, `clip_grad_norm_`.

Two modes: `eager` (the plain loop) and `graph` (each run's step captured once as a CUDA graph
and replayed). Each (d, n) shape is timed for `--steps` steps after a warm-up, and the sweep's
wall time is extrapolated from those rates (running it whole takes minutes to hours). Prints
one JSON object. Run on the same machine, in the same session, as
`shatter reproduce cod --scale paper --device cuda`:

    python3 bench/peer_torch_cod.py --mode eager
    python3 bench/peer_torch_cod.py --mode graph
"""
import argparse
import json
import time

import torch


def make_run(d, n, seed, device):
    g = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    x = x / x.norm(dim=1, keepdim=True) * torch.rand(n, 1, generator=g) ** (1.0 / d)
    u = torch.randn(d, generator=g)
    y = x @ (u / u.norm()) + torch.randn(n, generator=g)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(d, 4 * n), torch.nn.ReLU(), torch.nn.Linear(4 * n, 1)
    ).to(device)
    return model, x.to(device), y.to(device)


def time_shape(d, n, lr, wd, steps, mode, device):
    model, x, y = make_run(d, n, 0, device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=wd)

    def step():
        opt.zero_grad(set_to_none=False)
        loss = 0.5 * ((model(x).squeeze(1) - y) ** 2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 50.0)
        opt.step()
        return loss

    if mode == "graph":
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        run = graph.replay
    else:
        run = step
    for _ in range(20):
        run()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        run()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["eager", "graph"], default="eager")
    ap.add_argument("--steps", type=int, default=500, help="timed steps per shape")
    ap.add_argument("--epochs", type=int, default=20000)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    device = torch.device("cuda")
    shapes = []
    total = 0.0
    for d in range(1, 6):
        for n in [32, 64, 128, 256, 512]:
            for lr, wd in [(0.2, 0.0), (0.01, 0.1)]:
                s = time_shape(d, n, lr, wd, args.steps, args.mode, device)
                shapes.append({"d": d, "n": n, "lr": lr, "seconds_per_step": s})
                total += s * args.epochs * args.seeds
    runs = 5 * 5 * 2 * args.seeds
    print(
        json.dumps(
            {
                "peer": "pytorch-" + args.mode,
                "torch": torch.__version__,
                "device": torch.cuda.get_device_name(0),
                "runs": runs,
                "epochs": args.epochs,
                "extrapolated_sweep_seconds": total,
                "steps_per_second_summed": runs * args.epochs / total,
                "shapes": shapes,
            }
        )
    )


if __name__ == "__main__":
    main()
