#!/usr/bin/env bash
# Text-embedding throughput of the frozen language model, descriptions/s.
# Usage: benches/text.sh [DATA_DIR]   (installs the model first if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-text-model.sh
export MMHOST_DATA="$(realpath "${1:-../shared/data}")"
RAYON_NUM_THREADS=1 cargo bench -p mmhost-text --bench text
if python3 -c "import sentence_transformers" 2>/dev/null; then
    python3 benches/sentence_transformers_baseline.py "$MMHOST_DATA" "${MMHOST_MODEL_CACHE:-$HOME/.cache/mmhost/models}/all-MiniLM-L6-v2"
fi
