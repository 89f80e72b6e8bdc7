#!/usr/bin/env python3
"""Plots the example's computed powder patterns against pymatgen's, for the
materials of tests/fixtures/xrd_reference.json: this crate's peaks upward, pymatgen's
mirrored downward, and this crate's broadened pattern (the encoder's input) on top.

Run from examples/xrd-plugin (needs matplotlib):
    python3 scripts/plot_vs_pymatgen.py xrd_vs_pymatgen.png
It runs `cargo run --release --example pattern` on the fixture structures first.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
OUT = sys.argv[1] if len(sys.argv) > 1 else "xrd_vs_pymatgen.png"
SHOWN = 3

with open(os.path.join(ROOT, "tests", "fixtures", "xrd_reference.json")) as f:
    materials = json.load(f)["materials"][:SHOWN]

with tempfile.TemporaryDirectory() as tmp:
    paths = []
    for m in materials:
        path = os.path.join(tmp, m["material_id"] + ".json")
        with open(path, "w") as f:
            json.dump(m["structure"], f)
        paths.append(path)
    subprocess.run(
        ["cargo", "run", "--quiet", "--release", "--example", "pattern", "--", *paths, "--out", tmp],
        cwd=ROOT,
        check=True,
    )

    def read(name):
        with open(os.path.join(tmp, name)) as f:
            return list(csv.DictReader(f))

    fig, axes = plt.subplots(len(materials), 1, figsize=(9, 2.6 * len(materials)), sharex=True)
    for ax, m in zip(axes, materials):
        mid = m["material_id"]
        peaks = read(mid + ".peaks.csv")
        pattern = read(mid + ".pattern.csv")
        formula = m["cif"].split("data_", 1)[1].split("\n", 1)[0]
        ax.vlines([float(p["two_theta_deg"]) for p in peaks], 0, [float(p["intensity"]) for p in peaks],
                  color="tab:blue", lw=1.2, label="mmhost-xrd-plugin peaks")
        ax.vlines(m["two_theta"], 0, [-y for y in m["intensity"]], color="tab:orange", lw=1.2,
                  label="pymatgen XRDCalculator (mirrored)")
        ax.plot([float(p["two_theta_deg"]) for p in pattern], [100 * float(p["intensity"]) for p in pattern],
                color="black", lw=0.6, alpha=0.7, label="broadened encoder input (FWHM 0.2°)")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylabel("intensity")
        ax.set_title(f"{mid} {formula}, Cu Kα", fontsize=10)
        ax.set_xlim(5, 90)
    axes[0].legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("2θ (degrees)")
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
print(f"wrote {OUT}")
