#!/usr/bin/env bash
# The Python package's call overhead against the CLI (benches/python_predict.py):
# builds the release workspace and the package (release) into a virtual
# environment, then times both on the same 1,000 structures.
# Usage: benches/python_predict.sh [DATA_DIR]   (env: MMHOST_VENV, CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
data="$(realpath "${1:-../shared/data}")"
target="${CARGO_TARGET_DIR:-target}"
venv="${MMHOST_VENV:-$target/python-venv-release}"
cargo build --release
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/python" -m pip install --quiet "maturin>=1.5,<2" "numpy>=1.21" "pymatgen>=2024.1.1"
# The README's install command (release profile, beside the release plugins).
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps ./python
"$venv/bin/python" benches/python_predict.py "$data" "$target/release/mmhost"
