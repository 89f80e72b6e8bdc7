#!/usr/bin/env bash
# Exact chunked top-k retrieval over 1,000,000 synthetic 128-d embeddings
# (host/benches/retrieval.rs), then the PyTorch counterpart (benches/torch/retrieval.py)
# on the same embeddings and threads, with the ratio.
# Usage: benches/retrieval.sh [TARGETS] [QUERIES]
# Environment: MMHOST_BENCH_THREADS (2; mmhost uses every core). The PyTorch side
# needs `pip install torch numpy`.
set -euo pipefail
cd "$(dirname "$0")/.."
MMHOST_BENCH_TARGETS="${1:-1000000}" MMHOST_BENCH_QUERIES="${2:-1000}" \
    cargo bench -p mmhost --bench retrieval
