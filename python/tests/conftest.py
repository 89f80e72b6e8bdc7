"""Shared fixtures: the repository, the real data in ../shared/data, the `mmhost`
binary built beside the package, and structures drawn at random from the MP set."""

from __future__ import annotations

import csv
import gzip
import os
import random
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from mmhost import _native

REPO = Path(__file__).resolve().parents[2]
FORMATION = REPO / "models" / "potnet-mp-formation-energy"
PRETRAINED = REPO / "models" / "multimat-mp-pretrained"

csv.field_size_limit(1 << 30)


def data_dir() -> Path:
    return Path(os.environ.get("MMHOST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def mmhost_bin() -> Path:
    """The `mmhost` binary of the build the package comes from (same plugins)."""
    path = Path(os.environ.get("MMHOST_BIN", Path(_native.build_profile_dir()) / "mmhost"))
    assert path.is_file(), f"{path}: build the workspace first (cargo build --workspace)"
    return path


def run_cli(mmhost_bin: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(mmhost_bin), *args], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, f"mmhost {' '.join(args)}:\n{done.stderr}"
    return done


@pytest.fixture(scope="session")
def mp_cifs() -> Dict[str, str]:
    """40 materials drawn at random (seed 11) from mp/structures.csv.gz: id → CIF."""
    with gzip.open(data_dir() / "mp" / "structures.csv.gz", "rt", newline="") as f:
        rows = [(r["material_id"], r["cif"]) for r in csv.DictReader(f)]
    return dict(random.Random(11).sample(rows, 40))


@pytest.fixture(scope="session")
def cif_dir(tmp_path_factory, mp_cifs) -> Path:
    """The drawn materials as CIF files."""
    folder = tmp_path_factory.mktemp("cifs")
    for material_id, cif in mp_cifs.items():
        (folder / f"{material_id}.cif").write_text(cif)
    return folder


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory, mmhost_bin) -> Path:
    """The bundled demo dataset imported by the CLI."""
    db = tmp_path_factory.mktemp("demo") / "demo.redb"
    done = subprocess.run([str(mmhost_bin), "data", "import", "--db", str(db), str(REPO / "demo")],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and db.is_file(), done.stderr
    return db


def sorted_cif_files(folder: Path) -> List[Path]:
    return sorted(folder.glob("*.cif"))
