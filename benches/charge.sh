#!/usr/bin/env bash
# Charge-encoder training step at batch 32 on real grids, with peak memory.
# Usage: benches/charge.sh [reference|small] [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export MMHOST_BENCH_PRESET="${1:-reference}"
export MMHOST_DATA="$(realpath "${2:-../shared/data}")"
cargo bench -p mmhost-charge --bench charge
