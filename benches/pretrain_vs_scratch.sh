#!/usr/bin/env bash
# Fine-tuning from the shipped models' pretraining against fine-tuning from scratch,
# same recipe and budget (configs/models.toml, EPOCHS epochs), on all of
# ../shared/data/mp, formation energy and band gap, for each seed in SEEDS.
# Needs the work folder of scripts/train-models.sh (its dataset and pretraining).
# Resumable: a fine-tuning whose result is there is not run again; an interrupted one
# continues from its latest checkpoint.
# Usage: benches/pretrain_vs_scratch.sh WORK_DIR   (env: SEEDS="1 2 3", EPOCHS=10,
#        MMHOST_BIN, PROPERTIES="formation_energy_per_atom band_gap",
#        STARTS="scratch pretrained", FINETUNE_ARGS: more recipe flags for every
#        fine-tuning, e.g. "--loss l1 --floor 0 --head-init fit", OUT: the results'
#        folder under WORK_DIR, default comparison; give each recipe its own OUT, since
#        results and checkpoints already there are kept or resumed as they are)
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(realpath "$1")"
target="${CARGO_TARGET_DIR:-target}"
m="${MMHOST_BIN:-$target/release/mmhost}"
seeds="${SEEDS:-1 2 3}"
epochs="${EPOCHS:-10}"
properties="${PROPERTIES:-formation_energy_per_atom band_gap}"
starts="${STARTS:-scratch pretrained}"
read -r -a recipe <<< "${FINETUNE_ARGS:-}"
out="$work/${OUT:-comparison}"
mkdir -p "$out"
for seed in $seeds; do
    for property in $properties; do
        for start in $starts; do
            result="$out/$start-$property-$seed.json"
            if [ -s "$result" ]; then continue; fi
            case $start in
                scratch) from=(--scratch) ;;
                pretrained) from=(--from "$work/pretrained") ;;
                *) echo "STARTS: '$start' is neither scratch nor pretrained" >&2; exit 2 ;;
            esac
            run="$out/$start-$property-$seed"
            echo "[$(date -u +%H:%M:%S)] $start $property seed $seed" >&2
            if [ -s "$run/checkpoints/latest" ]; then
                # An interrupted run continues from its latest checkpoint.
                "$m" finetune --out "$run" --resume --json > "$result.tmp" 2> /dev/null
            else
                "$m" finetune --config configs/models.toml --set seed="$seed" --db "$work/db.redb" \
                    "${from[@]}" --property "$property" --epochs "$epochs" ${recipe[@]+"${recipe[@]}"} \
                    --out "$run" --overwrite --json > "$result.tmp" 2> /dev/null
            fi
            mv "$result.tmp" "$result"
        done
    done
done
python3 - "$out" "$seeds" "$properties" "$starts" <<'PY'
import json, statistics, sys
from pathlib import Path
out, seeds = Path(sys.argv[1]), sys.argv[2].split()
properties, starts = sys.argv[3].split(), sys.argv[4].split()
def stats(values):
    spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else " (one seed)"
    return f"{statistics.mean(values):.3f}{spread}"
for prop in properties:
    for start in starts:
        runs = [json.loads((out / f"{start}-{prop}-{s}.json").read_text()) for s in seeds]
        maes = [r["test"]["mae"] for r in runs]
        print(f"{prop:<26} {start:<11} test MAE {stats(maes)} over seeds {' '.join(seeds)} "
              f"({', '.join(f'{v:.4f}' for v in maes)}) "
              f"(n_test = {runs[0]['test']['count']}, training-mean predictor "
              f"{runs[0]['baseline']['mae']:.3f}, best epochs {[r['best_epoch'] for r in runs]})")
PY
