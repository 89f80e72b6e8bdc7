#!/usr/bin/env bash
# Coverage-guided fuzzing of mmhost's readers with AFL++ (the afl crate, stable
# toolchain). Needs `cargo install cargo-afl` once.
#
#   fuzz/run.sh [EXECUTIONS] [READER...]
#
# EXECUTIONS per reader (default 1000000); READERs: cif poscar chgcar doscar vasprun
# pymatgen_json csv npy (default all). Seeds come from ../shared/data and
# tests/malformed; findings go to fuzz/findings/READER/{crashes,hangs}. A crash
# becomes a file in tests/malformed (scripts/make-malformed-corpus.py) with the test
# that imports that folder.
set -euo pipefail
cd "$(dirname "$0")"
executions="${1:-1000000}"
shift || true
readers=("$@")
if [ ${#readers[@]} -eq 0 ]; then
    readers=(cif poscar chgcar doscar vasprun pymatgen_json csv npy)
fi
data=../../shared/data
malformed=../tests/malformed

cargo afl build --release

seeds() {
    local reader="$1" dir="seeds/$1"
    rm -rf "$dir" && mkdir -p "$dir"
    case "$reader" in
    cif)
        cp "$malformed"/*.cif "$dir"/
        python3 - "$data/mp/structures.csv.gz" "$dir" <<'PY'
import csv, gzip, sys
rows = csv.DictReader(gzip.open(sys.argv[1], "rt"))
for k, row in zip(range(3), rows):
    open(f"{sys.argv[2]}/real{k}.cif", "w").write(row["cif"])
PY
        ;;
    poscar) cp "$malformed"/*.vasp "$dir"/ ;;
    chgcar) cp "$data/samples/chgcar/Li_CHG" "$malformed"/*CHGCAR "$dir"/ ;;
    doscar) cp "$data/samples/dos/Fe2_DOSCAR" "$malformed"/*DOSCAR "$dir"/ ;;
    vasprun) cp "$data/samples/dos/Fe2_vasprun.xml" "$malformed"/*vasprun.xml "$dir"/ ;;
    pymatgen_json)
        cp "$malformed"/*.json "$malformed"/*.jsonl "$dir"/
        rm -f "$dir/deeply_nested.json"
        python3 -c "import gzip,sys; sys.stdout.write(gzip.open(sys.argv[1],'rt').readline())" "$data/samples/mp-docs/mp_summary_docs.jsonl.gz" > "$dir/mp_doc.json"
        ;;
    csv)
        cp "$malformed"/*.csv "$dir"/
        head -3 "$data/samples/text/textedge_prop_mp22_valid.csv" > "$dir/text.csv"
        head -3 "$data/multimat/moduli.csv" > "$dir/labels.csv"
        ;;
    npy) cp "$malformed"/*.npy "$dir"/ ;;
    esac
}

mkdir -p findings
for reader in "${readers[@]}"; do
    seeds "$reader"
    AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
        AFL_NO_AFFINITY=1 AFL_AUTORESUME=1 \
        cargo afl fuzz -i "seeds/$reader" -o "findings/$reader" -E "$executions" \
        "target/release/$reader" > "findings-$reader.log" 2>&1 || true
    stats="findings/$reader/default/fuzzer_stats"
    echo "$reader: $(grep -E '^execs_done' "$stats" | tr -s ' ') \
$(grep -E '^saved_crashes' "$stats" | tr -s ' ') $(grep -E '^saved_hangs' "$stats" | tr -s ' ') \
$(grep -E '^edges_found' "$stats" | tr -s ' ')"
done
