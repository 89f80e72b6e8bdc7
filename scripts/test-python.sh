#!/usr/bin/env bash
# The Python package's tests: builds `python/` into a virtual environment (with the
# test dependencies pymatgen, ASE and pytest from PyPI) against the debug build of
# the workspace, whose plugins and `mmhost` binary the tests use, then runs pytest.
# Run after `cargo build --workspace` (the README's test command does).
# Env: MMHOST_VENV (default: <target dir>/python-venv), PYTHON (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
venv="${MMHOST_VENV:-$target/python-venv}"
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
# The build backend runs `maturin` from PATH.
export PATH="$(realpath "$venv")/bin:$PATH"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "maturin>=1.5,<2" "numpy>=1.21" "pytest>=7" \
    "pymatgen>=2024.1.1" "ase>=3.22"
# The dev profile: the extension lands in <target>/debug beside the plugins and the
# binary the tests compare against, and reuses the workspace's compiled dependencies.
MATURIN_PEP517_ARGS="--profile dev" "$venv/bin/python" -m pip install --quiet \
    --force-reinstall --no-deps --no-build-isolation ./python
"$venv/bin/python" -m pytest -q python/tests
