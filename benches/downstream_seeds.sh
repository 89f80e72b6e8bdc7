#!/usr/bin/env bash
# The README's fine-tuning figures: test MAE of formation energy and band gap from
# scratch and after pretraining (crystal+DOS+charge, and crystal+text), 3 seeds,
# small presets, on a subset of the real structures of ../shared/data; and
# retrieval on the held-out test split of the crystal+DOS+charge runs.
# Usage: benches/downstream_seeds.sh [STRUCTURES] [DATA_DIR]   (default 3000)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-3000}"
data="$(realpath "${2:-../shared/data}")"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --workspace
work="${MMHOST_BENCH_WORK:-$(mktemp -d)}"
mkdir -p "$work"
m="$target/release/mmhost"
config=configs/demo.toml
python3 benches/subset_structures.py "$data" "$n" "$work/structures.csv.gz"
if [ ! -f "$work/db.redb" ]; then
    "$m" data import --db "$work/db.redb" "$work/structures.csv.gz" "$data/multimat" > /dev/null
    "$m" data describe --db "$work/db.redb"
fi
for seed in 1 2 3; do
    # Resumable: pretraining whose retrieval results are there is not run again.
    if [ ! -s "$work/retrieve-charge-$seed.json" ]; then
        "$m" train --config $config --set seed=$seed --db "$work/db.redb" --plugins crystal,dos,charge \
            --out "$work/pre-dos-charge-$seed" --overwrite --quiet --json > "$work/pre-dos-charge-$seed.json"
        "$m" train --config $config --set seed=$seed --db "$work/db.redb" --plugins crystal,text \
            --out "$work/pre-text-$seed" --overwrite --quiet --json > "$work/pre-text-$seed.json"
        for query in dos charge; do
            "$m" retrieve --model "$work/pre-dos-charge-$seed" --query $query --target crystal --json \
                > "$work/retrieve-$query-$seed.json"
        done
    fi
    for property in formation_energy_per_atom band_gap; do
        for start in scratch pre-dos-charge pre-text; do
            # Resumable: a fine-tuning whose result is there is not run again.
            if [ -s "$work/ft-$start-$property-$seed.json" ]; then continue; fi
            if [ $start = scratch ]; then from=(--scratch); else from=(--from "$work/$start-$seed"); fi
            "$m" finetune --config $config --set seed=$seed --db "$work/db.redb" "${from[@]}" \
                --property $property --epochs 20 --out "$work/ft-$start-$property-$seed" --overwrite --json \
                > "$work/ft-$start-$property-$seed.json" 2> /dev/null
        done
    done
done
python3 - "$work" <<'PY'
import json, statistics, sys
from pathlib import Path
work = Path(sys.argv[1])
def stats(values):
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
for prop in ["formation_energy_per_atom", "band_gap"]:
    for start in ["scratch", "pre-dos-charge", "pre-text"]:
        runs = [json.loads((work / f"ft-{start}-{prop}-{s}.json").read_text()) for s in (1, 2, 3)]
        maes = [r["test"]["mae"] for r in runs]
        base = runs[0]["baseline"]["mae"]
        print(f"{prop:<26} {start:<15} test MAE {stats(maes)} over 3 seeds "
              f"(n_test = {runs[0]['test']['count']}, training-mean predictor {base:.3f})")
for query in ["dos", "charge"]:
    runs = [json.loads((work / f"retrieve-{query}-{s}.json").read_text())["scores"] for s in (1, 2, 3)]
    print(f"{query}→crystal retrieval on the test split (n = {runs[0]['queries']}): "
          f"top-1 {stats([r['top1'] for r in runs])}, top-5 {stats([r['top5'] for r in runs])}, "
          f"mean rank {stats([r['mean_rank'] for r in runs])}")
PY
