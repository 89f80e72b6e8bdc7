#!/usr/bin/env bash
# The CUDA path, checked and timed on a machine with an NVIDIA GPU (README "Devices"):
#   1. builds the host, the encoder plugins with the `cuda` feature, and the two
#      programs below (skipped with MMHOST_GPU_BUILD);
#   2. imports the bundled demo dataset and gives it generated descriptions
#      (skipped with MMHOST_CHECK_DB);
#   3. host/benches/device_check.rs: each encoder's embeddings and parameter
#      gradients on cuda:0 against the CPU on one real batch of 32, reference sizes;
#   4. host/benches/pretrain.rs: the crystal+DOS+charge CLIP training step at
#      reference sizes, batch 32 and 128, on cuda:0 (GPU peak memory sampled with
#      nvidia-smi), and on all CPU cores at batch 32 for comparison.
# Usage: scripts/gpu-check.sh [LOG_DIR]
#   MMHOST_GPU_BUILD=DIR  use binaries built elsewhere, laid out as target/release:
#                         mmhost, the plugin libraries, deps/device_check, deps/pretrain
#   MMHOST_CHECK_DB=FILE  a demo dataset featurized beforehand (then the text
#                         plugin's language model need not be installed here)
set -euo pipefail
cd "$(dirname "$0")/.."
logs="${1:-$(mktemp -d)}"
mkdir -p "$logs"
work="$(mktemp -d)"
sampler=""
trap 'rm -rf "$work"; [ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true' EXIT

# cudarc finds libnvrtc by name: add the CUDA toolkit's library folder.
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -d "$dir" ] && export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done

plugins=(mmhost-dos mmhost-charge mmhost-crystal-potnet mmhost-crystal-cgcnn mmhost-text)
if [ -n "${MMHOST_GPU_BUILD:-}" ]; then
    build="$MMHOST_GPU_BUILD"
else
    args=(--release -p mmhost -p mmhost-clip)
    for p in "${plugins[@]}"; do args+=(-p "$p" -F "$p/cuda"); done
    build="${CARGO_TARGET_DIR:-target}/release"
    mkdir -p "$build/deps"
    # The bench executables carry a hash in their names: copy them under their names.
    cargo build "${args[@]}" --lib --bins --benches --message-format=json-render-diagnostics |
        python3 -c '
import json, shutil, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        shutil.copy(m["executable"], sys.argv[1] + "/" + m["target"]["name"])
' "$build/deps"
fi

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$logs/gpu.txt"

if [ -n "${MMHOST_CHECK_DB:-}" ]; then
    cp "$MMHOST_CHECK_DB" "$work/demo.redb"
else
    "$build/mmhost" data import --db "$work/demo.redb" demo/ > /dev/null
    "$build/mmhost" data describe --db "$work/demo.redb"
fi

echo "== CUDA against CPU, one batch per encoder"
set +e
MMHOST_CHECK_DB="$work/demo.redb" "$build/deps/device_check" 2>&1 | tee "$logs/check.txt"
check=${PIPESTATUS[0]}
set -e

# Each batch size in its own process, the GPU's used memory sampled every 100 ms:
# peak minus idle is the step's GPU memory.
step=0
for batch in 32 128; do
    idle=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -n 1)
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$work/memory.txt" &
    sampler=$!
    # On CUDA the DOS attention keeps its scores: batch 128 back-propagates the DOS
    # encoder in recomputed chunks of 32 (configs/default.toml says why).
    recompute=0
    [ "$batch" -eq 128 ] && recompute=32
    echo "== crystal+DOS+charge CLIP step, reference sizes, cuda:0, batch $batch, DOS recompute chunk $recompute"
    set +e
    MMHOST_BENCH_DB="$work/demo.redb" MMHOST_BENCH_DEVICE=cuda:0 MMHOST_BENCH_BATCHES=$batch \
        MMHOST_BENCH_DOS_RECOMPUTE=$recompute "$build/deps/pretrain" > "$logs/step-cuda-$batch.txt" 2>&1
    status=$?
    set -e
    kill "$sampler" 2>/dev/null || true
    sampler=""
    grep -v -e '^note:' -e '^stack backtrace' "$logs/step-cuda-$batch.txt" | head -n 20 || true
    [ "$status" -eq 0 ] || { echo "batch $batch: failed (exit $status)"; step=1; }
    peak=$(sort -n "$work/memory.txt" | tail -n 1)
    echo "GPU memory: peak $peak MiB, idle $idle MiB" | tee -a "$logs/step-cuda-$batch.txt"
done

echo "== the same step on the CPU ($(nproc) cores), batch 32"
MMHOST_BENCH_DB="$work/demo.redb" MMHOST_BENCH_DEVICE=cpu MMHOST_BENCH_BATCHES=32 \
    "$build/deps/pretrain" 2>&1 | tee "$logs/step-cpu.txt"
[ "$check" -eq 0 ] && [ "$step" -eq 0 ]
