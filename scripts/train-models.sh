#!/usr/bin/env bash
# Trains the models shipped in models/: the multimodal pretraining (crystal, DOS,
# charge density and text over every structure of ../shared/data, missing modalities
# masked by the all-pairs CLIP loss), the formation-energy PotNet fine-tuned from its
# crystal encoder in three stages (the second and third final fits on the training
# and validation materials together), and the band-gap PotNet fine-tuned from the
# crystal encoder of the formation-energy model's validated second stage, in two
# stages (both final fits). Every
# step resumes: rerun the script after an interruption and it continues where it
# stopped (import skips unchanged files, training and fine-tuning continue from their
# latest checkpoints).
# Usage: scripts/train-models.sh [DATA_DIR] [WORK_DIR]
# Environment: MMHOST_BIN (the mmhost executable, plugins beside it; default the
# release build), PRETRAIN_EPOCHS (4), FE_EPOCHS (55, formation energy's first
# stage), FE2_EPOCHS (40, its second), FE3_EPOCHS (30, its third), BG_EPOCHS (35,
# band gap's first stage), BG2_EPOCHS (25, its second), SEED (42): the shipped
# models' settings.
# Then `scripts/package-models.py WORK_DIR` copies the results into models/.
set -euo pipefail
cd "$(dirname "$0")/.."
data="$(realpath "${1:-../shared/data}")"
work="$(realpath -m "${2:-work/models}")"
target="${CARGO_TARGET_DIR:-target}"
m="${MMHOST_BIN:-$target/release/mmhost}"
pretrain_epochs="${PRETRAIN_EPOCHS:-4}"
epochs_formation_energy_per_atom="${FE_EPOCHS:-55}"
epochs_formation_energy_per_atom_second="${FE2_EPOCHS:-40}"
epochs_formation_energy_per_atom_third="${FE3_EPOCHS:-30}"
epochs_band_gap="${BG_EPOCHS:-35}"
epochs_band_gap_second="${BG2_EPOCHS:-25}"
seed="${SEED:-42}"
config=configs/models.toml
mkdir -p "$work"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# Every structure, DOS and charge density of the data folder; a record the importer
# refuses (the charge grids without positive density) is reported and skipped, so its
# exit status 1 is expected here. The report is kept from the first complete import
# (a rerun would only say "unchanged"). Then generated descriptions for every structure.
if [ -s "$work/import.json" ]; then
    log "import done"
else
    log "import"
    "$m" data import --db "$work/db.redb" "$data/mp/structures.csv.gz" "$data/multimat" \
        --json > "$work/import.json.tmp" || true
    if [ ! -s "$work/import.json.tmp" ]; then
        log "the import wrote no report: rerun to continue it"
        exit 1
    fi
    mv "$work/import.json.tmp" "$work/import.json"
fi
"$m" data describe --db "$work/db.redb"
"$m" data info --db "$work/db.redb" | tee "$work/data-info.txt"

run() { # run OUT COMMAND ARGS...: start, or resume a stopped run, or skip a finished one
    local out="$1" command="$2"
    shift
    if [ -s "$out.json" ]; then
        log "$(basename "$out") done"
        return
    fi
    log "$(basename "$out")"
    if [ -d "$out" ]; then
        # a resumed run keeps its own configuration
        "$m" "$command" --out "$out" --resume --json > "$out.json.tmp"
    else
        "$m" "$@" --out "$out" --json > "$out.json.tmp"
    fi
    mv "$out.json.tmp" "$out.json"
}

run "$work/pretrained" train --config $config --set seed="$seed" --db "$work/db.redb" \
    --plugins crystal,dos,charge,text --set train.epochs="$pretrain_epochs"
# A fine-tuning already in WORK_DIR resumes (or is kept) with the recipe it started
# with. Split 80/10/10 (half of the default validation share trained on, the same
# test materials), or 90/0/10 for a final fit: a recipe chosen on validation by the
# same stage on the training materials alone, run on the training and validation
# materials together with the last epoch kept (same test materials). Formation
# energy in three stages: 55 epochs on MSE from the pretraining, then 40 more from
# that model's crystal encoder with a new head at a third of the learning rate (a
# second cosine cycle) on mean absolute error, the metric (from the pretraining, MSE
# did better), as a validated run and as a final fit, then 30 more from the final
# fit the same way at a third of that learning rate, a final fit too. Band gap: mean
# absolute error, which settles on the metals' zero gap where MSE scatters around
# it, and no prediction below 0; it starts from the crystal encoder of the
# formation-energy model's validated second stage (from its third, band gap did no
# better), trained on 9,056 labels where band gap has 5,788, then a second stage
# like formation energy's (new head, a third of the learning rate, 25 epochs), both
# as final fits. All but formation energy's first stage run their whole cosine schedule
# (no early stopping) (`models/README.md`, the log of how each recipe was chosen).
fine_tune() { # fine_tune OUT PROPERTY EPOCHS SPLITS RECIPE...
    local out="$1" property="$2" epochs="$3" splits="$4"
    shift 4
    run "$out" finetune --config $config --set seed="$seed" --db "$work/db.redb" \
        --property "$property" --epochs "$epochs" --splits "$splits" "$@"
}
splits=0.8,0.1,0.1
final_fit=0.9,0,0.1
fine_tune "$work/ft-formation_energy_per_atom-first" formation_energy_per_atom \
    "$epochs_formation_energy_per_atom" $splits --from "$work/pretrained"
fine_tune "$work/ft-formation_energy_per_atom-second" formation_energy_per_atom \
    "$epochs_formation_energy_per_atom_second" $splits \
    --from "$work/ft-formation_energy_per_atom-first" \
    --lr 3e-4 --loss l1 --patience "$epochs_formation_energy_per_atom_second"
# Band gap as soon as the validated second stage it starts from is there.
fine_tune "$work/ft-band_gap-first" band_gap "$epochs_band_gap" $final_fit \
    --from "$work/ft-formation_energy_per_atom-second" --loss l1 --floor 0 \
    --patience "$epochs_band_gap"
fine_tune "$work/ft-band_gap" band_gap "$epochs_band_gap_second" $final_fit \
    --from "$work/ft-band_gap-first" --lr 3e-4 --loss l1 --floor 0 \
    --patience "$epochs_band_gap_second"
fine_tune "$work/ft-formation_energy_per_atom-second-final" formation_energy_per_atom \
    "$epochs_formation_energy_per_atom_second" $final_fit \
    --from "$work/ft-formation_energy_per_atom-first" \
    --lr 3e-4 --loss l1 --patience "$epochs_formation_energy_per_atom_second"
fine_tune "$work/ft-formation_energy_per_atom" formation_energy_per_atom \
    "$epochs_formation_energy_per_atom_third" $final_fit \
    --from "$work/ft-formation_energy_per_atom-second-final" --lr 1e-4 --loss l1
log "finished: $work"
