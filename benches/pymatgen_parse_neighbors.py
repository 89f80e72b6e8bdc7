#!/usr/bin/env python3
"""pymatgen baseline for materials/benches/parse_neighbors.rs: the first 2,000 CIFs of
mp/structures.csv.gz, Structure.from_str + get_all_neighbors(4.0), one process.
Prints structures/s (best of 3 runs)."""
import csv
import gzip
import os
import sys
import time
import warnings

from pymatgen.core import Structure

warnings.filterwarnings("ignore")
csv.field_size_limit(1 << 30)
data = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
with gzip.open(os.path.join(data, "mp/structures.csv.gz"), "rt") as f:
    cifs = [row["cif"] for _, row in zip(range(2000), csv.DictReader(f))]

best = float("inf")
for _ in range(3):
    start = time.perf_counter()
    pairs = 0
    for cif in cifs:
        s = Structure.from_str(cif, fmt="cif")
        pairs += sum(len(n) for n in s.get_all_neighbors(4.0))
    best = min(best, time.perf_counter() - start)
print(f"pymatgen: {len(cifs)} structures in {best:.3f} s = {len(cifs) / best:.1f} structures/s ({pairs} pairs)")
