#!/usr/bin/env bash
# DOS-transformer training step (batch 128, real spectra drawn at random) by mmhost
# and by its PyTorch counterpart (benches/torch/dos.py) on the same batch, with peak
# memory and the ratio. Usage: benches/dos.sh [reference|small] [DATA_DIR]
# Environment: MMHOST_BENCH_BATCH (128), MMHOST_BENCH_SEED (7), MMHOST_BENCH_THREADS (2), MMHOST_BENCH_RECOMPUTE
# (0, as configs/default.toml). The PyTorch side needs `pip install torch numpy`.
set -euo pipefail
cd "$(dirname "$0")/.."
export MMHOST_BENCH_PRESET="${1:-reference}"
export MMHOST_DATA="$(realpath "${2:-../shared/data}")"
cargo bench -p mmhost-dos --bench dos
