#!/usr/bin/env bash
# PotNet featurization throughput and training-step throughput (batch 128) with peak
# memory, on real structures. Usage: benches/potnet.sh [reference|small] [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export MMHOST_BENCH_PRESET="${1:-reference}"
export MMHOST_DATA="$(realpath "${2:-../shared/data}")"
cargo bench -p mmhost-crystal-potnet --bench potnet
