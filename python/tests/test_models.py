"""Trained models from Python against the `mmhost` binary, on real MP structures."""

from __future__ import annotations

import csv
import gzip
import os
import threading
import time
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import read as ase_read
from pymatgen.core import Structure

import mmhost
from conftest import FORMATION, PRETRAINED, REPO, data_dir, run_cli, sorted_cif_files


def cli_predictions(mmhost_bin, inputs, tmp_path):
    out = tmp_path / "predictions.csv"
    run_cli(mmhost_bin, "predict", "--model", str(FORMATION), "--input", *map(str, inputs),
            "--output", str(out))
    with open(out, newline="") as f:
        return {row["material_id"]: float(row["predicted_formation_energy_per_atom"])
                for row in csv.DictReader(f)}


def test_predict_equals_the_cli_on_the_same_files(mmhost_bin, cif_dir, tmp_path):
    model = mmhost.load(FORMATION)
    assert model.property == "formation_energy_per_atom" and model.task == "regression"
    files = sorted_cif_files(cif_dir)
    predicted, ids = model.predict(files, return_ids=True)
    assert predicted.dtype == np.float64 and predicted.shape == (len(files),)
    cli = cli_predictions(mmhost_bin, [cif_dir], tmp_path)
    assert sorted(ids) == sorted(cli)
    for material_id, value in zip(ids, predicted):
        assert value == cli[material_id], material_id  # bit for bit: same code, same batches


def test_an_element_no_training_material_contained_is_flagged(tmp_path):
    """KrF2 (mp-30009) has no band-gap label, so no band-gap training material has
    krypton; GaTe (mp-10009) gets the model's count of its rarer element."""
    wanted = {"mp-30009", "mp-10009"}
    with gzip.open(data_dir() / "mp" / "structures.csv.gz", "rt", newline="") as f:
        cifs = {r["material_id"]: r["cif"] for r in csv.DictReader(f) if r["material_id"] in wanted}
    files = []
    for material_id, cif in sorted(cifs.items()):
        files.append(tmp_path / f"{material_id}.cif")
        files[-1].write_text(cif)
    model = mmhost.load("potnet-mp-band-gap")
    trained = model.training_elements
    assert "Kr" not in trained and trained["Ga"] > 0 and trained["Te"] > 0
    with pytest.warns(UserWarning, match=r"mp-30009 \(Kr\)"):
        predicted, ids, rarest = model.predict(files, return_ids=True, return_rarest=True)
    by_id = dict(zip(ids, rarest))
    assert by_id["mp-30009"] == ("Kr", 0)
    assert by_id["mp-10009"] == min([("Ga", trained["Ga"]), ("Te", trained["Te"])],
                                    key=lambda r: r[1])
    assert predicted.shape == (2,) and np.all(predicted >= 0.0)


def test_shipped_model_loads_by_name_and_predicts_a_pymatgen_structure(mp_cifs):
    model = mmhost.load("potnet-mp-formation-energy")
    material_id, cif = next(iter(mp_cifs.items()))
    structure = Structure.from_str(cif, fmt="cif")
    from_object = model.predict(structure)
    from_text = model.predict(cif)
    assert from_object.shape == (1,) and np.isfinite(from_object[0])
    # pymatgen's parse of the CIF and mmhost's own agree to the printed digits.
    assert abs(from_object[0] - from_text[0]) < 1e-4, material_id


def test_pymatgen_and_ase_give_the_same_embedding(mp_cifs):
    run = mmhost.load(PRETRAINED)
    structures = [Structure.from_str(cif, fmt="cif") for cif in mp_cifs.values()]
    atoms = [
        Atoms(symbols=[site.specie.symbol for site in s], cell=s.lattice.matrix,
              scaled_positions=s.frac_coords, pbc=True)
        for s in structures
    ]
    z_pymatgen = run.embed(structures)
    z_ase = run.embed(atoms)
    # Immutable structures and generators are taken too.
    from pymatgen.core import IStructure

    immutable = run.embed(IStructure.from_sites(structures[0]))
    # (One row alone against a batch of 40: the matrix products sum in another order.)
    np.testing.assert_allclose(immutable, z_pymatgen[:1], atol=1e-5, rtol=0)
    assert run.embed(s for s in structures[:2]).shape == (2, 128)
    assert z_pymatgen.dtype == np.float32 and z_pymatgen.shape == (len(structures), 128)
    # ASE stores Cartesian positions: fractions come back within ~1e-15.
    np.testing.assert_allclose(z_ase, z_pymatgen, atol=1e-5, rtol=0)
    # ASE's own CIF reader gives the same crystal again.
    first = ase_read(StringIO(next(iter(mp_cifs.values()))), format="cif")
    np.testing.assert_allclose(run.embed(first), z_pymatgen[:1], atol=1e-4, rtol=0)


def test_embed_of_a_dataset_equals_mmhost_embed_bit_for_bit(mmhost_bin, demo_db, tmp_path):
    run = mmhost.load(PRETRAINED)
    out = tmp_path / "crystal.npy"
    run_cli(mmhost_bin, "embed", "--model", str(PRETRAINED), "--db", str(demo_db),
            "--modality", "crystal", "--output", str(out))
    cli = np.load(out)
    cli_ids = (tmp_path / "crystal_ids.txt").read_text().split()
    z, ids = run.embed_dataset("crystal", mmhost.Dataset(demo_db))
    assert ids == cli_ids
    assert z.dtype == cli.dtype and np.array_equal(z, cli)


def test_dos_and_charge_density_from_arrays_and_files():
    run = mmhost.load(PRETRAINED)
    dos_rows = np.load(REPO / "demo" / "dos.npy")[:3]  # [3, 2, 601]: energies, DOS
    from_arrays = run.embed([(row[0], row[1]) for row in dos_rows], "dos")
    assert from_arrays.shape == (3, 128) and np.all(np.isfinite(from_arrays))
    doscar = data_dir() / "samples" / "dos" / "Fe2_DOSCAR"
    assert run.embed(doscar, "dos").shape == (1, 128)

    grid = np.load(data_dir() / "multimat" / "charge_density.npy", mmap_mode="r")[0]
    assert run.embed(np.asarray(grid), "charge").shape == (1, 128)
    chgcar = data_dir() / "samples" / "chgcar" / "Li_CHG"
    from_file = run.embed(chgcar, "charge")
    # pymatgen's Chgcar holds the same ρ·V grid: the same embedding.
    from pymatgen.io.vasp import Chgcar

    np.testing.assert_allclose(run.embed(Chgcar.from_file(str(chgcar)), "charge"), from_file,
                               atol=1e-5, rtol=0)
    # With its lattice (checked, not an input of the encoder): the same embedding.
    lattice = np.diag([3.0, 3.0, 3.0])
    np.testing.assert_array_equal(run.embed((np.asarray(grid), lattice), "charge"),
                                  run.embed(np.asarray(grid), "charge"))
    with pytest.raises(ValueError, match="positive volume"):
        run.embed((np.asarray(grid), np.zeros((3, 3))), "charge")
    with pytest.raises(ValueError, match="at least 2 points"):
        run.embed(np.ones((1, 4, 4)), "charge")


def test_dos_from_pymatgen_objects_equals_the_json_file():
    from monty.serialization import loadfn

    run = mmhost.load(PRETRAINED)
    path = data_dir() / "samples" / "dos" / "Fe_CompleteDos.json.gz"
    dos = loadfn(path)
    assert type(dos).__name__ == "CompleteDos"
    np.testing.assert_allclose(run.embed(dos, "dos"), run.embed(path, "dos"), atol=1e-6, rtol=0)


def test_retrieve_by_text_among_a_dataset(demo_db):
    run = mmhost.load(PRETRAINED)
    dataset = mmhost.Dataset(demo_db)
    found = run.retrieve("a cubic crystal of iron", target="crystal", among=dataset, k=5)
    assert len(found) == 5
    similarities = [n.similarity for n in found]
    assert similarities == sorted(similarities, reverse=True)
    assert all(n.formula for n in found)
    # A crystal as the query: the same structure in the dataset is its nearest
    # neighbour, with cosine similarity 1.
    with gzip.open(REPO / "demo" / "structures.csv.gz", "rt", newline="") as f:
        row = next(csv.DictReader(f))
    structure = Structure.from_str(row["cif"], fmt="cif")
    best = run.retrieve(structure, target="crystal", among=dataset, k=3)
    assert best[0].id == row["material_id"] and best[0].similarity > 0.9999
    with pytest.raises(FileNotFoundError):
        run.retrieve(structure, among="no-such.redb")


def test_bad_structures_raise_value_error_naming_them(cif_dir, tmp_path):
    model = mmhost.load(FORMATION)
    bad = REPO / "tests" / "malformed"
    malformed = sorted(p for p in bad.iterdir() if p.suffix == ".cif")[:5]
    good = sorted_cif_files(cif_dir)[:3]
    with pytest.raises(ValueError) as refused:
        model.predict(good + malformed)
    for path in malformed:
        assert str(path) in str(refused.value)
    kept = model.predict(good + malformed, on_error="skip")
    np.testing.assert_array_equal(kept, model.predict(good))
    with pytest.raises(TypeError, match="not a structure"):
        model.predict([42])
    with pytest.raises(ValueError, match="at least two energies"):
        mmhost.load(PRETRAINED).embed(([0.0], [1.0]), "dos")
    with pytest.warns(UserWarning, match="could not be used"):
        assert model.predict(good + malformed[:1], on_error="warn").shape == (3,)
    with pytest.raises(FileNotFoundError, match="no file or folder"):
        model.predict(str(tmp_path / "typo.cif"))
    # A folder is read as the CLI reads it: every structure file in it.
    assert model.predict(cif_dir).shape == (len(sorted_cif_files(cif_dir)),)


def test_a_missing_plugin_is_an_import_error_naming_the_search_path(tmp_path):
    copy = tmp_path / "model"
    copy.mkdir()
    for f in FORMATION.iterdir():
        if f.is_file():
            (copy / f.name).write_bytes(f.read_bytes())
    config = (copy / "config.toml").read_text().replace('"crystal-potnet"', '"no-such-plugin"')
    (copy / "config.toml").write_text(config)
    with pytest.raises(ImportError) as error:
        mmhost.load(copy)
    assert isinstance(error.value, mmhost.PluginError)
    assert "no-such-plugin" in str(error.value)
    assert str(mmhost.plugin_dirs()[-1]) in str(error.value)


def test_the_gil_is_released_while_embedding(mp_cifs):
    run = mmhost.load(PRETRAINED)
    structures = list(mp_cifs.values()) * 3
    ticks = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=count)
    thread.start()
    started = time.perf_counter()
    run.embed(structures)
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join()
    during = [t for t in ticks if started <= t <= started + elapsed]
    # The other thread kept running: at least a tick per 100 ms of the call (a
    # thread blocked by the GIL would not tick at all).
    assert len(during) >= elapsed / 0.1, (len(during), elapsed)
