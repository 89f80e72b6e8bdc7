#!/usr/bin/env bash
# Structure parsing + neighbour-list throughput: mmhost-materials vs pymatgen on the
# same 2,000 real structures, side by side on this machine. Needs pymatgen
# (pip install pymatgen). Usage: benches/structures_vs_pymatgen.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data="$(realpath "${1:-../shared/data}")"
MMHOST_DATA="$data" cargo bench -p mmhost-materials --bench parse_neighbors
root="${CARGO_TARGET_DIR:-target}/criterion/structures/parse_cif_and_neighbors_4A_2000"
rust=$(python3 -c "import json; print(json.load(open('$root/new/estimates.json'))['mean']['point_estimate'] / 1e9)")
python3 benches/pymatgen_parse_neighbors.py "$data" | tee /tmp/pymatgen_bench.txt
python3 - "$rust" <<'PY'
import re, sys
rust = float(sys.argv[1])
line = open("/tmp/pymatgen_bench.txt").read()
py = float(re.search(r"in ([0-9.]+) s", line).group(1))
print(f"mmhost-materials: 2000 structures in {rust:.3f} s = {2000 / rust:.1f} structures/s")
print(f"ratio: mmhost-materials is {py / rust:.1f}x faster than pymatgen")
PY
