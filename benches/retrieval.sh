#!/usr/bin/env bash
# Exact chunked top-k retrieval over 1,000,000 synthetic 128-d embeddings
# (host/benches/retrieval.rs). Usage: benches/retrieval.sh [TARGETS] [QUERIES]
set -euo pipefail
cd "$(dirname "$0")/.."
MMHOST_BENCH_TARGETS="${1:-1000000}" MMHOST_BENCH_QUERIES="${2:-1000}" \
    cargo bench -p mmhost --bench retrieval
