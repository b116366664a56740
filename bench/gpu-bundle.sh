#!/usr/bin/env bash
# Builds what a GPU machine without a Rust toolchain needs to check and benchmark the CUDA
# backend: the release `shatter` binary and the shatter-gpu test binaries (parity tests, kernel
# compile test), copied into DIR (default .gpu-bundle, ignored by git). Then, on the GPU
# machine, in a checkout with DIR beside it: `bench/gpu.sh DIR OUT`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.gpu-bundle}
mkdir -p "$dir"
cargo build --release -p shatter-cli
cp target/release/shatter "$dir/"
cargo test --release -p shatter-gpu --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])' |
  while read -r exe; do cp "$exe" "$dir/test-$(basename "$exe")"; done
# Debug info makes the binaries large; the device machine's transfer limit is 64 MiB in all.
command -v strip >/dev/null && strip "$dir"/*
ls -la "$dir"
