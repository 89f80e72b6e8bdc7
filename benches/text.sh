#!/usr/bin/env bash
# Text-embedding throughput of the frozen language model, descriptions/s, one thread,
# by mmhost and by sentence-transformers (benches/torch/text.py) on the same
# descriptions and model folder, with peak memory and the ratio. The PyTorch side
# needs `pip install torch sentence-transformers`.
# Usage: benches/text.sh [DATA_DIR]   (installs the model first if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-text-model.sh
export MMHOST_DATA="$(realpath "${1:-../shared/data}")"
export MMHOST_BENCH_THREADS="${MMHOST_BENCH_THREADS:-1}"
cargo bench -p mmhost-text --bench text
