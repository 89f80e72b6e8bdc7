#!/usr/bin/env bash
# The fine-tuning recipe ablation behind `mmhost finetune`'s defaults: test MAE of
# formation energy over 3 seeds for each learning-rate schedule and peak, from
# scratch, small PotNet preset, on N structures drawn at random (seed 0) from the
# whole of mp/structures.csv.gz. Resumable: finished runs are not run again.
# Usage: benches/finetune_recipe.sh [N] [EPOCHS] [DATA_DIR]   (default 2000, 10)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000}"
epochs="${2:-10}"
data="$(realpath "${3:-../shared/data}")"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --workspace
work="${MMHOST_BENCH_WORK:-target/finetune-recipe}"
mkdir -p "$work"
m="$target/release/mmhost"
python3 - "$data" "$n" "$work/structures.csv.gz" <<'PY'
import csv, gzip, random, sys
data, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
csv.field_size_limit(sys.maxsize)
with gzip.open(f"{data}/mp/structures.csv.gz", "rt", newline="") as f:
    reader = csv.DictReader(f)
    fields, rows = reader.fieldnames, [r for r in reader if r["formation_energy_per_atom"]]
rows = random.Random(0).sample(rows, n)
with gzip.open(out, "wt", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
PY
[ -f "$work/db.redb" ] || "$m" data import --db "$work/db.redb" "$work/structures.csv.gz" > /dev/null
recipes=("constant 1e-3" "cosine 1e-3" "cosine 1e-4")
for seed in 1 2 3; do
    for recipe in "${recipes[@]}"; do
        read -r schedule lr <<< "$recipe"
        name="$schedule-$lr-$seed"
        [ -s "$work/$name.json" ] && continue
        "$m" finetune --config configs/demo.toml --set seed=$seed --db "$work/db.redb" --scratch \
            --property formation_energy_per_atom --epochs "$epochs" --schedule "$schedule" --lr "$lr" \
            --out "$work/$name" --overwrite --json > "$work/$name.json" 2> "$work/$name.log"
    done
done
python3 - "$work" "${recipes[@]}" <<'PY'
import json, statistics, sys
from pathlib import Path
work, recipes = Path(sys.argv[1]), sys.argv[2:]
print("| schedule | peak lr | test MAE (eV/atom), seeds 1-3 | best epoch | mean predictor |")
print("|---|---|---|---|---|")
for recipe in recipes:
    schedule, lr = recipe.split()
    runs = [json.loads((work / f"{schedule}-{lr}-{s}.json").read_text()) for s in (1, 2, 3)]
    mae = [r["test"]["mae"] for r in runs]
    print(f"| {schedule} | {lr} | {statistics.mean(mae):.4f} ± {statistics.stdev(mae):.4f} "
          f"| {', '.join(str(r['best_epoch']) for r in runs)} | {runs[0]['baseline']['mae']:.4f} |")
PY
