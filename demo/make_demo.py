#!/usr/bin/env python3
"""Builds the bundled demo dataset from the real data in ../shared/data.

Selection (deterministic):
  * every material of multimat/dos.npy or multimat/charge_density.npy that has a
    structure in mp/structures.csv.gz, with its DOS and/or charge density (grids
    that are all zeros in the source are left out);
  * the first 300 further rows of mp/structures.csv.gz that have both a formation
    energy and a band gap (labelled structures for fine-tuning);
  * the bulk/shear moduli of the selected materials.

Run from the repository root (needs numpy):
    python3 demo/make_demo.py ../shared/data
"""
import csv
import gzip
import io
import os
import sys

import numpy as np

DATA = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
OUT = os.path.dirname(os.path.abspath(__file__))
EXTRA_LABELLED = 300
csv.field_size_limit(1 << 30)


def read_ids(name):
    with open(os.path.join(DATA, "multimat", name)) as f:
        return [line.strip() for line in f if line.strip()]


with gzip.open(os.path.join(DATA, "mp/structures.csv.gz"), "rt", newline="") as f:
    reader = csv.DictReader(f)
    fields = reader.fieldnames
    rows = list(reader)
by_id = {row["material_id"]: row for row in rows}

dos_ids = read_ids("dos_ids.txt")
charge_ids = read_ids("charge_density_ids.txt")
charge_all = np.load(os.path.join(DATA, "multimat/charge_density.npy"))
dos_keep = [i for i, mid in enumerate(dos_ids) if mid in by_id]
# 37 source grids are all zeros (no density): left out.
charge_keep = [i for i, mid in enumerate(charge_ids) if mid in by_id and charge_all[i].max() > 0]
selected = {dos_ids[i] for i in dos_keep} | {charge_ids[i] for i in charge_keep}
extra = [
    row["material_id"]
    for row in rows
    if row["material_id"] not in selected and row["formation_energy_per_atom"] and row["band_gap"]
][:EXTRA_LABELLED]
selected |= set(extra)

# Structures in the original row order.
buffer = io.StringIO()
writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
writer.writeheader()
for row in rows:
    if row["material_id"] in selected:
        writer.writerow(row)
with gzip.GzipFile(os.path.join(OUT, "structures.csv.gz"), "wb", mtime=0) as f:
    f.write(buffer.getvalue().encode())

dos = np.load(os.path.join(DATA, "multimat/dos.npy"))[dos_keep]
np.save(os.path.join(OUT, "dos.npy"), dos.astype(np.float32))
with open(os.path.join(OUT, "dos_ids.txt"), "w") as f:
    f.write("".join(dos_ids[i] + "\n" for i in dos_keep))

charge = charge_all[charge_keep]
with gzip.GzipFile(os.path.join(OUT, "charge_density.npy.gz"), "wb", mtime=0) as f:
    np.save(f, charge.astype(np.float32))
with open(os.path.join(OUT, "charge_density_ids.txt"), "w") as f:
    f.write("".join(charge_ids[i] + "\n" for i in charge_keep))

with open(os.path.join(DATA, "multimat/moduli.csv")) as f:
    moduli = list(csv.DictReader(f))
with open(os.path.join(OUT, "moduli.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(moduli[0].keys()), lineterminator="\n")
    writer.writeheader()
    writer.writerows(m for m in moduli if m["material_id"] in selected)

print(
    f"{len(selected)} materials: {len(dos_keep)} with DOS, {len(charge_keep)} with charge density, "
    f"{len(extra)} further labelled structures"
)
