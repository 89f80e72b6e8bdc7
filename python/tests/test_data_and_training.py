"""Datasets, fine-tuning and pretraining from Python, against the `mmhost` binary."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import mmhost
from conftest import REPO, run_cli

DEMO_CONFIG = REPO / "configs" / "demo.toml"
#: As the end-to-end tests fine-tune: one thread, checkpoints every 2 steps.
QUIET = {"threads": 1, "train.loader_threads": 1, "train.checkpoint_every": 2}


def test_import_info_and_materials_match_the_cli(tmp_path, demo_db, mmhost_bin, capsys):
    dataset = mmhost.Dataset(tmp_path / "demo.redb")
    reports = dataset.import_files(REPO / "demo")
    printed = capsys.readouterr().out
    assert "structures.csv.gz: imported" in printed
    assert {r["outcome"]["status"] for r in reports} == {"imported", "skipped"}
    info = dataset.info()
    cli = json.loads(run_cli(mmhost_bin, "data", "info", "--db", str(demo_db), "--json").stdout)
    assert info == cli
    materials = list(dataset)
    assert len(materials) == len(dataset) == info["materials"]
    with_dos = [m for m in materials if "dos" in m["modalities"]]
    assert len(with_dos) == 91
    first = dataset.material(materials[0]["id"])
    assert first == materials[0] and first["formula"]
    assert dataset.material("no-such-id") is None
    # Importing again changes nothing.
    again = dataset.import_files(REPO / "demo", quiet=True)
    assert {r["outcome"]["status"] for r in again} <= {"unchanged", "skipped"}
    with pytest.raises(FileNotFoundError):
        dataset.import_files(tmp_path / "missing")


def finetune_args(db, out):
    return ["finetune", "--config", str(DEMO_CONFIG), *sum((["--set", f"{k}={v}"] for k, v in QUIET.items()), []),
            "--db", str(db), "--scratch", "--property", "formation_energy_per_atom", "--epochs", "4",
            "--out", str(out), "--json"]


@pytest.fixture
def ctrl_c_raises():
    """Python's Ctrl-C handler, whatever the process inherited: a shell without job
    control starts background jobs with SIGINT ignored, and Python then installs no
    handler."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_finetune_equals_the_cli_and_ctrl_c_stops_with_a_checkpoint(tmp_path, demo_db, mmhost_bin,
                                                                    ctrl_c_raises):
    cli = json.loads(run_cli(mmhost_bin, *finetune_args(demo_db, tmp_path / "cli")).stdout)

    out = tmp_path / "python"
    latest = out / "checkpoints" / "latest"

    def interrupt_after_a_checkpoint() -> None:
        started = time.monotonic()
        while time.monotonic() - started < 300:
            try:
                reached = latest.read_text().strip() >= "step-00000004"
            except OSError:  # not written yet
                reached = False
            if reached:
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    epochs = []
    kwargs = dict(config=DEMO_CONFIG, settings=QUIET, on_epoch=epochs.append)
    threading.Thread(target=interrupt_after_a_checkpoint, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        mmhost.finetune(out, db=demo_db, property="formation_energy_per_atom", epochs=4, **kwargs)
    assert latest.is_file() and not (out / "model.json").exists()
    model = mmhost.finetune(out, resume=True, **kwargs)
    outcome = model.info["outcome"]
    assert outcome["test"] == cli["test"] and outcome["best_epoch"] == cli["best_epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4][-len(epochs):] and len(epochs) >= 2
    assert model.predict(REPO / "demo" / "structures.csv.gz").shape == (407,)


def test_l1_loss_floor_and_splits_from_python_equal_the_cli(tmp_path, demo_db, mmhost_bin):
    recipe = ["--property", "band_gap", "--loss", "l1", "--floor", "0.25", "--splits", "0.8,0.1,0.1",
              "--epochs", "2"]
    args = finetune_args(demo_db, tmp_path / "cli")
    args[args.index("--property"):args.index("--epochs") + 2] = recipe
    cli = json.loads(run_cli(mmhost_bin, *args).stdout)
    model = mmhost.finetune(tmp_path / "python", db=demo_db, property="band_gap", loss="l1", floor=0.25,
                            splits=(0.8, 0.1, 0.1), epochs=2, config=DEMO_CONFIG, settings=QUIET, on_epoch=lambda _: None)
    outcome = model.info["outcome"]
    assert outcome["recipe"]["loss"] == "l1" and model.info["floor"] == 0.25
    assert outcome["recipe"]["splits"] == [0.8, 0.1, 0.1] and outcome["materials"] == cli["materials"]
    assert outcome["test"] == cli["test"] and outcome["best_epoch"] == cli["best_epoch"]
    predicted = model.predict(REPO / "demo" / "structures.csv.gz")
    assert predicted.min() == 0.25  # raised to the floor, never below
    with pytest.raises(ValueError, match="loss 'huber'"):
        mmhost.finetune(tmp_path / "huber", db=demo_db, property="band_gap", loss="huber", epochs=1,
                        config=DEMO_CONFIG, settings=QUIET)


@pytest.mark.parametrize("head_init,head_ridge", [("zero", None), ("fit", None), ("fit", 1e-6)])
def test_finetuning_from_a_finetuned_model_equals_the_cli(tmp_path, demo_db, mmhost_bin, head_init, head_ridge):
    formation = REPO / "models" / "potnet-mp-formation-energy"
    args = finetune_args(demo_db, tmp_path / "cli")
    args[args.index("--scratch")] = "--from"
    args[args.index("--from") + 1:args.index("--from") + 1] = [str(formation)]
    args[args.index("--property") + 1] = "band_gap"
    args[args.index("--epochs") + 1] = "1"
    args += ["--head-init", head_init] + ([] if head_ridge is None else ["--head-ridge", str(head_ridge)])
    cli = json.loads(run_cli(mmhost_bin, *args).stdout)
    model = mmhost.finetune(tmp_path / "python", db=demo_db, property="band_gap",
                            start_from=mmhost.load(formation), head_init=head_init, head_ridge=head_ridge, epochs=1,
                            config=DEMO_CONFIG,
                            settings=QUIET, on_epoch=lambda _: None)
    outcome = model.info["outcome"]
    assert Path(outcome["recipe"]["from"]) == formation.resolve()
    assert outcome["recipe"].get("head_init", "zero") == head_init
    assert outcome["recipe"].get("head_ridge") == cli["recipe"].get("head_ridge")
    assert head_ridge is None or outcome["recipe"]["head_ridge"] == head_ridge
    assert outcome["test"] == cli["test"] and outcome["best_epoch"] == cli["best_epoch"]


def test_pretraining_from_python_returns_a_model_that_embeds(tmp_path, demo_db):
    epochs = []
    run = mmhost.train(
        tmp_path / "run", db=mmhost.Dataset(demo_db), modalities=["crystal", "dos"],
        epochs=1, batch_size=32, config=DEMO_CONFIG, settings={"threads": 1},
        on_epoch=epochs.append,
    )
    assert isinstance(run, mmhost.PretrainedModel) and run.modalities == ["crystal", "dos"]
    assert len(epochs) == 1 and np.isfinite(epochs[0]["train_loss"])
    z, ids = run.embed_dataset("dos")
    assert z.shape == (91, 128) and len(ids) == 91
    with pytest.raises(ValueError, match="resume"):
        mmhost.train(tmp_path / "run", resume=True, epochs=2)
    with pytest.raises(ValueError, match="not 'charge'"):
        run.embed(np.ones((4, 4, 4)), "charge")

    # An exception in the epoch callback stops the training and reaches the caller.
    def fail(_metrics):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        mmhost.train(tmp_path / "run2", db=demo_db, modalities=["crystal", "dos"], epochs=2,
                     batch_size=32, config=DEMO_CONFIG, settings={"threads": 1}, on_epoch=fail)
    lines = (tmp_path / "run2" / "metrics.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["kind"] == "epoch" for line in lines) == 1
