"""Call overhead of the Python package: formation-energy predictions for the same
1,000 structures (drawn at random, seed 5, from mp/structures.csv.gz) by

  - the CLI: one `mmhost predict` over the 1,000 CIF files (process start, plugin
    load, reading, featurization, encoder);
  - Python, one call with the 1,000 paths, with 1,000 pymatgen Structures, and one
    call per structure (1,000 calls);
  - one CLI process per structure (the first 50, scaled to 1,000), and 1,000 Python
    calls with no structure (the binding's own cost);

all with the same release plugins and thread count, in one invocation, checking
that every route gives the same predictions. Run by benches/python_predict.sh.
"""

from __future__ import annotations

import csv
import gzip
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

import mmhost

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "potnet-mp-formation-energy"
COUNT = 1000
PER_PROCESS = 50


def main() -> None:
    data = Path(sys.argv[1])
    mmhost_bin = Path(sys.argv[2])
    csv.field_size_limit(1 << 30)
    with gzip.open(data / "mp" / "structures.csv.gz", "rt", newline="") as f:
        rows = [(r["material_id"], r["cif"]) for r in csv.DictReader(f)]
    # In file-name order, the order `mmhost predict` reads a folder in: the same
    # batches of 64, so the same sums in the matrix products.
    drawn = sorted(random.Random(5).sample(rows, COUNT))
    folder = Path(tempfile.mkdtemp(prefix="mmhost-bench-"))
    paths = []
    for material_id, cif in drawn:
        path = folder / f"{material_id}.cif"
        path.write_text(cif)
        paths.append(path)
    structures = [Structure.from_str(cif, fmt="cif") for _, cif in drawn]
    atoms = sum(len(s) for s in structures)
    print(f"workload: {COUNT} structures, {atoms} atoms ({atoms / COUNT:.1f} per crystal), "
          f"threads {os.environ.get('RAYON_NUM_THREADS', 'all')} ({os.cpu_count()} cores)")

    started = time.perf_counter()
    out = folder / "cli.csv"
    subprocess.run([str(mmhost_bin), "predict", "--model", str(MODEL), "--input", str(folder),
                    "--output", str(out)], check=True, capture_output=True)
    cli_s = time.perf_counter() - started
    with open(out, newline="") as f:
        cli = {r["material_id"]: float(r["predicted_formation_energy_per_atom"]) for r in csv.DictReader(f)}

    # One process per structure, on the first 50 (per-structure time extrapolated).
    started = time.perf_counter()
    for path in paths[:PER_PROCESS]:
        subprocess.run([str(mmhost_bin), "predict", "--model", str(MODEL), "--input", str(path),
                        "--output", str(folder / "one.csv")], check=True, capture_output=True)
    per_process_s = (time.perf_counter() - started) / PER_PROCESS * COUNT

    started = time.perf_counter()
    model = mmhost.load(MODEL)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    by_path, ids = model.predict(paths, return_ids=True)
    path_s = time.perf_counter() - started
    started = time.perf_counter()
    by_object = model.predict(structures)
    object_s = time.perf_counter() - started
    started = time.perf_counter()
    one_by_one = np.concatenate([model.predict(p) for p in paths])
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(COUNT):
        model.predict([])
    empty_s = time.perf_counter() - started

    assert all(v == cli[i] for i, v in zip(ids, by_path)), "paths differ from the CLI"
    largest = float(np.max(np.abs(by_object - by_path)))

    def line(what: str, seconds: float) -> None:
        print(f"{what:<60} {seconds:7.2f} s  {seconds / COUNT * 1e3:7.2f} ms/structure  "
              f"{cli_s / seconds:5.2f}× the CLI")

    line("CLI: mmhost predict, 1,000 CIF files, one process", cli_s)
    print(f"{'Python: mmhost.load(model)':<60} {load_s:7.3f} s")
    line("Python: predict(1,000 paths), one call", path_s)
    line("Python: predict(1,000 pymatgen Structures), one call", object_s)
    line("Python: predict(path), 1,000 calls", single_s)
    line(f"CLI: one process per structure (first {PER_PROCESS}, scaled)", per_process_s)
    line("Python: predict([]), 1,000 calls (the binding alone)", empty_s)
    print(f"same predictions: paths = CLI bit for bit; one-by-one vs batched max |Δ| "
          f"{float(np.max(np.abs(one_by_one - by_path))):.1e}; pymatgen objects vs files max |Δ| "
          f"{largest:.1e} eV/atom")


if __name__ == "__main__":
    main()
