"""A reproducible subset of ../shared/data/mp/structures.csv.gz for the fine-tuning
figures: the first N rows with both a formation energy and a band gap, plus every
row whose material has a MultiMat DOS or charge density (for pretraining).

Usage: python3 benches/subset_structures.py DATA_DIR N OUT.csv.gz
"""
import csv
import gzip
import sys
from pathlib import Path

data, n, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
multimat = set()
for name in ("dos_ids.txt", "charge_density_ids.txt"):
    multimat.update((data / "multimat" / name).read_text().split())
csv.field_size_limit(sys.maxsize)
with gzip.open(data / "mp" / "structures.csv.gz", "rt", newline="") as f:
    reader = csv.DictReader(f)
    fields = reader.fieldnames
    kept, regular = [], 0
    for row in reader:
        labelled = row.get("formation_energy_per_atom") and row.get("band_gap")
        if row["material_id"] in multimat or (labelled and regular < n):
            kept.append(row)
            regular += 0 if row["material_id"] in multimat else 1
with gzip.open(out, "wt", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    writer.writerows(kept)
print(f"{len(kept)} structures ({regular} labelled + MultiMat ones) -> {out}")
