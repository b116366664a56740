#!/usr/bin/env bash
# The CUDA backend's checks and benchmarks (BENCHMARKS.md records their output), on a machine
# with an NVIDIA GPU, PyTorch and the CUDA toolkit. BUNDLE comes from bench/gpu-bundle.sh;
# everything is written to OUT.
#   1. the shatter-gpu tests with the GPU-only ones included (CPU-GPU parity, kernel compile);
#   2. `shatter reproduce cod --scale paper --device cuda` and the shattering experiment at
#      paper scale, timed;
#   3. the same cod workload as a PyTorch loop, eager and with CUDA graphs.
set -euo pipefail
bundle=$(cd "$1" && pwd)
out=$(mkdir -p "$2" && cd "$2" && pwd)
cd "$(dirname "$0")/.."
for lib in /usr/local/cuda/lib64 /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu; do
  [ -d "$lib" ] && export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
for t in "$bundle"/test-*; do
  "$t" --include-ignored --test-threads 1 2>&1 | tee -a "$out/tests.txt"
done
for id in cod shattering; do
  start=$(date +%s.%N)
  "$bundle/shatter" reproduce "$id" --scale paper --device cuda --out "$out/reproduce" 2>&1 |
    tee "$out/reproduce-$id.txt"
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "wall_seconds %.2f\n", b - a }' | tee -a "$out/reproduce-$id.txt"
done
for mode in graph eager; do
  python3 bench/peer_torch_cod.py --mode "$mode" | tee "$out/torch-$mode.json"
done
