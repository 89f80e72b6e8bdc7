#!/usr/bin/env bash
# Pretraining throughput with crystal (PotNet), DOS and charge encoders through their
# plugins: the training step at batch 32 and 128 (host/benches/pretrain.rs), then
# the README's main command end to end on the bundled demo, with wall time and peak
# memory.
# Usage: benches/pretrain.sh [reference|small]   (model preset of the step bench)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-reference}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --workspace
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$target/release/mmhost" data import --db "$work/demo.redb" demo/ > /dev/null
MMHOST_BENCH_DB="$work/demo.redb" MMHOST_BENCH_PRESET="$preset" MMHOST_BENCH_BATCHES=32 \
    cargo bench -p mmhost --bench pretrain
MMHOST_BENCH_DB="$work/demo.redb" MMHOST_BENCH_PRESET="$preset" MMHOST_BENCH_BATCHES=128 \
    cargo bench -p mmhost --bench pretrain
echo "end to end: mmhost train --config configs/demo.toml --plugins crystal,dos,charge (demo, small presets)"
/usr/bin/time -f "wall %e s, peak RSS %M KB" "$target/release/mmhost" train --quiet \
    --config configs/demo.toml --db "$work/demo.redb" --plugins crystal,dos,charge \
    --out "$work/run" | tail -1
