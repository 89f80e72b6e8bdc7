#!/usr/bin/env bash
# Charge-encoder training step at batch 32 on real grids drawn at random, by mmhost
# and by its PyTorch counterpart (benches/torch/charge.py) on the same batch, with
# peak memory and the ratio. The PyTorch side needs `pip install torch numpy`.
# Usage: benches/charge.sh [reference|small] [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export MMHOST_BENCH_PRESET="${1:-reference}"
export MMHOST_DATA="$(realpath "${2:-../shared/data}")"
cargo bench -p mmhost-charge --bench charge
