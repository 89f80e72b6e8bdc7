#!/usr/bin/env bash
# PotNet featurization throughput, and the training step (batch 128) of mmhost and
# of its PyTorch counterpart (benches/torch/potnet.py) on the same structures drawn
# at random from the whole dataset, with peak memory and the ratio.
# Usage: benches/potnet.sh [reference|small] [DATA_DIR]
# Environment: MMHOST_BENCH_SEED (7), MMHOST_BENCH_THREADS (2). The PyTorch side
# needs `pip install torch numpy`; without it only mmhost's figures are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export MMHOST_BENCH_PRESET="${1:-reference}"
export MMHOST_DATA="$(realpath "${2:-../shared/data}")"
cargo bench -p mmhost-crystal-potnet --bench potnet
