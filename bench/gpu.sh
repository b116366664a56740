#!/usr/bin/env bash
# The CUDA backend's checks and benchmarks (BENCHMARKS.md records their output), on a machine
# with an NVIDIA GPU: `bench/gpu.sh BUNDLE OUT`, BUNDLE from bench/gpu-bundle.sh. Every stage
# runs under a time limit; its exit code is recorded and the next stage runs whatever it gave.
# OUT receives at most six small files (each stage's output is cut to its last STAGE_BYTES):
#   summary.txt    one line per stage: name, exit code (124: timed out), seconds
#   env.txt        GPU, driver, library search path, the libraries shatter loaded
#   tests.txt      the shatter-gpu test binaries with the GPU-only tests included
#   sanitizer.txt  one small parity test under compute-sanitizer (memcheck), synchronised
#   reproduce.txt  `shatter reproduce cod|shattering --scale paper --device cuda`, timed: cod
#                  with an empty kernel cache, warm, with one block per run instead of
#                  thread-block clusters for the largest runs, and with the per-epoch kernels
#                  (the result trees go to a temporary folder that is deleted)
#   torch.txt      the same cod workload as a PyTorch loop, CUDA graphs and eager
# Exits 0 when every stage passed, 1 otherwise.
# Settings (environment): STAGE_TIMEOUT (seconds, default 1800; TESTS_TIMEOUT,
# SANITIZER_TIMEOUT, REPRODUCE_TIMEOUT, TORCH_TIMEOUT override it per stage), STAGE_BYTES
# (default 65536), NVIDIA_SMI, COMPUTE_SANITIZER, PYTHON (the commands, default nvidia-smi,
# compute-sanitizer, python3).
set -u
if [ $# -ne 2 ]; then
  echo "usage: bench/gpu.sh BUNDLE OUT" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
bundle=$(cd "$1" 2>/dev/null && pwd) || { echo "no bundle folder $1" >&2; exit 2; }
mkdir -p "$2" || exit 2
out=$(cd "$2" && pwd)
rm -f "$out"/summary.txt "$out"/env.txt "$out"/tests.txt "$out"/sanitizer.txt \
  "$out"/reproduce.txt "$out"/torch.txt
work=$(mktemp -d "${TMPDIR:-/tmp}/shatter-gpu-bench.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT

limit=${STAGE_TIMEOUT:-1800}
bytes=${STAGE_BYTES:-65536}
smi=${NVIDIA_SMI:-nvidia-smi}
sanitizer=${COMPUTE_SANITIZER:-compute-sanitizer}
python=${PYTHON:-python3}
failed=0

# stage NAME FILE SECONDS COMMAND...: runs COMMAND with stdout and stderr to a scratch file
# under a time limit (TERM, then KILL 30 s later), appends the last $bytes of it to FILE under a
# header, and records the exit code in summary.txt.
stage() {
  local name=$1 file=$2 seconds=$3
  shift 3
  local log="$work/$name.log" start end rc
  start=$(date +%s.%N)
  # The stages are shell functions: a child bash runs them (exported below), so that the time
  # limit takes the whole process group.
  timeout --kill-after=30 "$seconds" bash -c '"$@"' "$name" "$@" >"$log" 2>&1 </dev/null
  rc=$?
  end=$(date +%s.%N)
  local took
  took=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
  {
    echo "=== $name: exit $rc after $took s (limit $seconds s)"
    if [ "$(wc -c <"$log")" -gt "$bytes" ]; then
      echo "[... cut to the last $bytes bytes ...]"
    fi
    tail -c "$bytes" "$log"
    echo
  } >>"$out/$file"
  printf '%-22s exit %-4s %10s s\n' "$name" "$rc" "$took" >>"$out/summary.txt"
  [ "$rc" -eq 0 ] || failed=1
  return 0
}

# The library search path: what the caller set comes first, then where containers mount the
# driver, then the CUDA toolkit, then NVRTC from NVIDIA's Python wheels (CUDA 13, then 12).
# Appended in that order, so the first match is the most specific one.
add_lib() { [ -d "$1" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$1"; return 0; }
add_lib /usr/local/nvidia/lib64
add_lib "${CUDA_HOME:-/usr/local/cuda}/lib64"
if command -v "$python" >/dev/null 2>&1; then
  while read -r site; do
    add_lib "$site/nvidia/cu13/lib"
    add_lib "$site/nvidia/cuda_nvrtc/lib"
  done < <(timeout 60 "$python" -c 'import site, sys
for p in site.getsitepackages() + [site.getusersitepackages()] + sys.path:
    print(p)' 2>/dev/null | awk '!seen[$0]++')
fi
export LD_LIBRARY_PATH

# The test binaries of the bundle, into the array `tests`.
list_tests() {
  tests=()
  local t
  for t in "$bundle"/test-*; do
    [ -x "$t" ] && tests+=("$t")
  done
  return 0
}

env_report() {
  list_tests
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "SHATTER_CUDA_CACHE=${SHATTER_CUDA_CACHE:-}"
  local rc=0
  "$smi" --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || rc=1
  "$sanitizer" --version 2>&1 | head -3 || true
  # The libraries and versions shatter itself loads (the probe test prints them).
  local found=0
  for t in "${tests[@]}"; do
    if "$t" --list 2>/dev/null | grep -q '^probe_names_what_is_missing'; then
      found=1
      "$t" --exact probe_names_what_is_missing --nocapture || rc=1
    fi
  done
  [ "$found" -eq 1 ] || { echo "no test binary with probe_names_what_is_missing in $bundle"; rc=1; }
  return $rc
}

run_tests() {
  list_tests
  [ ${#tests[@]} -gt 0 ] || { echo "no test binaries (test-*) in $bundle"; return 1; }
  local rc=0
  for t in "${tests[@]}"; do
    echo "--- $(basename "$t")"
    # gpu_script runs this script itself, and the emulator runs the kernels on the host: both
    # are for machines without a GPU (and would spend the GPU machine's time).
    "$t" --include-ignored --test-threads 1 --skip gpu_script --skip emulated_ || rc=1
  done
  return $rc
}

run_sanitizer() {
  list_tests
  local parity=""
  for t in "${tests[@]}"; do
    case $(basename "$t") in test-parity*) parity=$t ;; esac
  done
  [ -n "$parity" ] || { echo "no parity test binary (test-parity-*) in $bundle"; return 1; }
  SHATTER_CUDA_SYNC=1 "$sanitizer" --tool memcheck --error-exitcode 9 --leak-check no \
    "$parity" --include-ignored --exact activation_patterns_are_identical_at_the_start
}

reproduce() {
  [ -x "$bundle/shatter" ] || { echo "no shatter binary in $bundle"; return 1; }
  local start end rc
  start=$(date +%s.%N)
  "$bundle/shatter" reproduce "$1" --scale paper --device cuda --out "$work/reproduce-$1"
  rc=$?
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" -v id="$1" 'BEGIN { printf "%s wall_seconds %.2f\n", id, b - a }'
  rm -rf "$work/reproduce-$1"
  return $rc
}

export bundle work smi sanitizer python LD_LIBRARY_PATH
export -f list_tests env_report run_tests run_sanitizer reproduce
stage env env.txt "$limit" env_report
stage tests tests.txt "${TESTS_TIMEOUT:-$limit}" run_tests
stage sanitizer sanitizer.txt "${SANITIZER_TIMEOUT:-$limit}" run_sanitizer
# cod four times: compiling into an empty kernel cache, then with the cache warm, then with one
# block per run (SHATTER_CUDA_CLUSTERS=0), then with the per-epoch kernels instead of the fused
# one (SHATTER_CUDA_FUSED=0).
cache="$work/cuda-cache"
SHATTER_CUDA_CACHE=$cache stage reproduce-cod reproduce.txt "${REPRODUCE_TIMEOUT:-$limit}" reproduce cod
SHATTER_CUDA_CACHE=$cache stage reproduce-cod-warm reproduce.txt "${REPRODUCE_TIMEOUT:-$limit}" reproduce cod
SHATTER_CUDA_CACHE=$cache SHATTER_CUDA_CLUSTERS=0 stage reproduce-cod-one-block reproduce.txt "${REPRODUCE_TIMEOUT:-$limit}" reproduce cod
SHATTER_CUDA_CACHE=$cache SHATTER_CUDA_FUSED=0 stage reproduce-cod-unfused reproduce.txt "${REPRODUCE_TIMEOUT:-$limit}" reproduce cod
SHATTER_CUDA_CACHE=$cache stage reproduce-shattering reproduce.txt "${REPRODUCE_TIMEOUT:-$limit}" reproduce shattering
for mode in graph eager; do
  stage "torch-$mode" torch.txt "${TORCH_TIMEOUT:-$limit}" "$python" "$here/peer_torch_cod.py" --mode "$mode"
done
cat "$out/summary.txt"
exit $failed
