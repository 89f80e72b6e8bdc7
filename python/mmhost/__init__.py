"""mmhost from Python: trained multimodal materials models on pymatgen and ASE
structures, returning NumPy arrays.

>>> import mmhost
>>> model = mmhost.load("models/potnet-mp-formation-energy")
>>> model.predict(structure)            # eV/atom, float64 [1]
>>> run = mmhost.load("models/multimat-mp-pretrained")
>>> run.embed(structures)               # float32 [n, 128]
>>> run.retrieve("a layered oxide semiconductor", target="crystal", among=dataset)

The package uses the plugin libraries, search path and lock file of the ``mmhost``
binary: ``MMHOST_PLUGIN_PATH``, ``plugin_dirs=``, the configuration's
``plugins.dir``, the running executable's directory (the Python interpreter's),
then the build directory the package was built from (where ``cargo build`` puts
the plugins); ``mmhost.lock`` in the working directory (or the configuration's
``plugins.lock``) is enforced.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._inputs import _existing_path, as_list, inputs_for
from ._native import MmhostError, PluginError

__all__ = [
    "load",
    "FinetunedModel",
    "PretrainedModel",
    "Neighbour",
    "Dataset",
    "train",
    "finetune",
    "plugin_dirs",
    "MmhostError",
    "PluginError",
]

PathLike = Union[str, "os.PathLike[str]"]


def plugin_dirs(extra: Sequence[PathLike] = (), config: Optional[PathLike] = None) -> List[Path]:
    """The directories searched for plugin libraries, in order."""
    return [Path(p) for p in _native.plugin_dirs([os.fspath(p) for p in extra], _opt(config))]


def _opt(path: Optional[PathLike]) -> Optional[str]:
    return None if path is None else os.fspath(path)


def _models_dir() -> Path:
    """``MMHOST_MODELS``, or the ``models/`` folder of the repository the package was
    built from."""
    if "MMHOST_MODELS" in os.environ:
        return Path(os.environ["MMHOST_MODELS"])
    return Path(_native.repository_models_dir()).resolve()


def _resolve(path: PathLike) -> Path:
    p = Path(path)
    if p.exists():
        return p
    shipped = _models_dir() / p
    if shipped.exists():
        return shipped
    raise FileNotFoundError(
        f"{p}: no such model directory (nor {shipped}); shipped models are listed by "
        "`mmhost models`"
    )


def load(
    path: PathLike,
    *,
    plugin_dirs: Sequence[PathLike] = (),
    config: Optional[PathLike] = None,
) -> Union["FinetunedModel", "PretrainedModel"]:
    """Opens a trained model: a fine-tuned property model (``model.json``, from
    ``mmhost finetune``) or a pretraining run / pretrained model (``run.json``, from
    ``mmhost train``). ``path`` may also name a model of the repository's
    ``models/`` folder (``"potnet-mp-formation-energy"``)."""
    p = _resolve(path)
    dirs = [os.fspath(d) for d in plugin_dirs]
    if (p / "model.json").is_file():
        return FinetunedModel(_native.FinetunedModel(os.fspath(p), dirs, _opt(config)), p)
    if (p / "run.json").is_file():
        return PretrainedModel(_native.PretrainedModel(os.fspath(p), dirs, _opt(config)), p)
    raise ValueError(
        f"{p}: neither a fine-tuned model (model.json) nor a pretraining run (run.json)"
    )


def _refusals(refused: List[str], on_error: str, what: str) -> None:
    if not refused:
        return
    message = f"{len(refused)} {what} could not be used:\n  " + "\n  ".join(refused)
    if on_error == "raise":
        raise ValueError(message)
    if on_error == "warn":
        warnings.warn(message, stacklevel=3)
    elif on_error != "skip":
        raise ValueError(f"on_error must be 'raise', 'warn' or 'skip', not {on_error!r}")


class FinetunedModel:
    """A crystal encoder fine-tuned with a linear head on one property."""

    def __init__(self, native: Any, path: Path) -> None:
        self._native = native
        self.path = path
        #: ``model.json``: property, task, label scaling, floor, test metrics.
        self.info: Dict[str, Any] = json.loads(native.info_json())

    @property
    def task(self) -> str:
        """``regression`` (predictions in label units) or ``classification``
        (probabilities)."""
        return self.info["task"]

    @property
    def training_elements(self) -> Optional[Dict[str, int]]:
        """How many materials of the fine-tuning's training split contained each
        element, by symbol (``None`` for a model written before mmhost recorded it)."""
        return self.info.get("training_elements")

    # Last of the class's properties: the name shadows the builtin below it.
    @property
    def property(self) -> str:
        """The property predicted, e.g. ``formation_energy_per_atom`` (eV/atom)."""
        return self.info["property"]

    def __repr__(self) -> str:
        mae = self.info["outcome"]["test"].get("mae")
        figure = f", test MAE {mae:.4g}" if mae is not None else ""
        return f"<mmhost.FinetunedModel {self.property} ({self.task}{figure}) at {self.path}>"

    def predict(
        self,
        structures: Any,
        *,
        on_error: str = "raise",
        return_ids: bool = False,
        return_rarest: bool = False,
    ) -> Any:
        """Predictions for one structure or a list: pymatgen ``Structure``, ASE
        ``Atoms``, CIF/POSCAR text or paths (a file with several structures gives
        several rows). Returns float64 ``[n]`` in the property's units (or
        probabilities), then the material ids with ``return_ids``, then with
        ``return_rarest`` each structure's element that the fewest training
        materials contained as ``(symbol, count)`` (``None`` when the model does not
        record its training elements). A structure with elements no training
        material contained is predicted with a ``UserWarning`` naming them. A
        structure that cannot be used raises ``ValueError`` naming it
        (``on_error="warn"`` or ``"skip"`` predicts the rest)."""
        items = as_list(structures, "crystal")
        values, _, ids, refused, rarest, unseen = self._native.predict(
            inputs_for("crystal", items)
        )
        _refusals(refused, on_error, "structures")
        flagged = [f"{i} ({' '.join(u)})" for i, u in zip(ids, unseen) if u]
        if flagged:
            many = len(flagged) > 1
            warnings.warn(
                f"{len(flagged)} structure{'s' if many else ''} contain{'' if many else 's'} "
                "elements that none of the model's training materials contained, so no "
                "labelled example of them informs the prediction: " + ", ".join(flagged),
                stacklevel=2,
            )
        predictions = np.frombuffer(values, dtype=np.float64).copy()
        extra = ([ids] if return_ids else []) + ([rarest] if return_rarest else [])
        return (predictions, *extra) if extra else predictions


@dataclass(frozen=True)
class Neighbour:
    """A retrieved material: id, cosine similarity, formula when known."""

    id: str
    similarity: float
    formula: Optional[str] = None


class PretrainedModel:
    """A contrastive pretraining run (a pretrained model is one): one encoder per
    modality mapping materials into the shared latent space."""

    def __init__(self, native: Any, path: Path) -> None:
        self._native = native
        self.path = path
        #: ``run.json``: dataset, modalities, loss, plugins.
        self.info: Dict[str, Any] = json.loads(native.info_json())

    @property
    def modalities(self) -> List[str]:
        """The modalities the run trained, e.g. ``["crystal", "dos", "charge", "text"]``."""
        return list(self._native.modalities)

    def __repr__(self) -> str:
        return f"<mmhost.PretrainedModel {'+'.join(self.modalities)} at {self.path}>"

    def embed(
        self,
        items: Any,
        modality: str = "crystal",
        *,
        on_error: str = "raise",
        return_ids: bool = False,
    ) -> Any:
        """Embeddings of items of ``modality``: float32 ``[n, dim]``.

        ``items`` is one item or a list; a ``Dataset`` embeds its materials that have
        the modality (``split=`` of :meth:`embed_dataset` is "all"). Structures as
        for :meth:`FinetunedModel.predict`; DOS as pymatgen ``Dos``/``CompleteDos`` or
        ``(energies, densities[, efermi])``; charge density as pymatgen ``Chgcar`` or a
        3-D array of ρ·V; text as strings."""
        if isinstance(items, Dataset):
            return self.embed_dataset(modality, items, return_ids=return_ids)
        listed = as_list(items, modality)
        values, dim, ids, refused = self._native.embed(inputs_for(modality, listed), modality)
        _refusals(refused, on_error, f"{modality} inputs")
        z = np.frombuffer(values, dtype=np.float32).reshape(-1, dim).copy()
        return (z, ids) if return_ids else z

    def embed_dataset(
        self,
        modality: str = "crystal",
        dataset: Optional[Union["Dataset", PathLike]] = None,
        *,
        split: str = "all",
        return_ids: bool = True,
    ) -> Any:
        """Embeddings of a dataset's materials exactly as ``mmhost embed`` writes
        them (default: the run's dataset; ``split`` of the run's seed: train,
        validation, test or all). Returns ``(float32 [n, dim], ids)``."""
        db = dataset.path if isinstance(dataset, Dataset) else dataset
        values, dim, ids, failed = self._native.embed_dataset(modality, _opt(db), split)
        for failure in failed:
            warnings.warn(f"not embedded: {failure}", stacklevel=2)
        z = np.frombuffer(values, dtype=np.float32).reshape(-1, dim).copy()
        return (z, ids) if return_ids else z

    def retrieve(
        self,
        query: Any,
        *,
        target: str = "crystal",
        among: Union["Dataset", PathLike, Sequence[Any]],
        modality: Optional[str] = None,
        k: int = 10,
        split: str = "all",
    ) -> List[Neighbour]:
        """The ``k`` materials of ``among`` whose ``target`` embeddings are nearest
        (cosine) to ``query``'s. ``query``'s modality is ``modality``, or ``text`` for
        a string that is not a path, else the target's. ``among`` is a ``Dataset`` (or
        its path; ``split`` as in :meth:`embed_dataset`) or a list of ``target`` items."""
        if modality is None:
            is_sentence = isinstance(query, str) and _existing_path(query) is None
            modality = "text" if is_sentence else target
        q = self.embed([query], modality)
        formulas: Dict[str, Optional[str]] = {}
        if isinstance(among, (Dataset, str, os.PathLike)):
            if not isinstance(among, Dataset) and not Path(among).is_file():
                raise FileNotFoundError(f"{among}: no such dataset file")
            dataset = among if isinstance(among, Dataset) else Dataset(among)
            candidates, ids = self.embed_dataset(target, dataset, split=split)
            lookup = dataset
        else:
            candidates, ids = self.embed(list(among), target, return_ids=True)
            lookup = None
        if len(ids) == 0:
            return []
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        cn = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
        similarity = (cn @ qn[0]).astype(np.float64)
        top = np.argsort(-similarity, kind="stable")[: max(0, k)]
        if lookup is not None:
            for i in top:
                formulas[ids[i]] = (lookup.material(ids[i]) or {}).get("formula")
        return [Neighbour(ids[i], float(similarity[i]), formulas.get(ids[i])) for i in top]


class Dataset:
    """A materials dataset file, as ``mmhost data import`` writes it (created when
    missing). Iterating yields material dictionaries (id, formula, space group,
    crystal system, labels, sources, modalities). The file is opened for each call
    only, so models and the ``mmhost`` binary can read it in between."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        _native.Dataset(os.fspath(self.path))  # created, or checked to be a dataset

    def _open(self) -> Any:
        return _native.Dataset(os.fspath(self.path))

    def __repr__(self) -> str:
        return f"<mmhost.Dataset {self.path}>"

    def import_files(
        self, *sources: PathLike, describe: bool = False, quiet: bool = False
    ) -> List[Dict[str, Any]]:
        """Imports files or folders (CIF, POSCAR, CHGCAR, DOSCAR, vasprun.xml,
        pymatgen/MP JSON, CSV, .npy) as ``mmhost data import`` does, printing one line
        per file; ``describe=True`` then generates text descriptions for structures
        without one. Returns the per-file reports (status, counts, refused records
        with reasons)."""

        def on_file(line: str) -> None:
            if not quiet:
                report = json.loads(line)
                outcome = report["outcome"]
                detail = ", ".join(
                    f"{k} {v}" for k, v in outcome.items() if k != "status" and not isinstance(v, list)
                )
                refused = len(outcome.get("rejected", []))
                note = f", {refused} records refused" if refused else ""
                print(f"{report['path']}: {outcome['status']} {detail}{note}".rstrip(), flush=True)

        native = self._open()
        reports = json.loads(native.import_files([os.fspath(s) for s in sources], on_file))
        if describe:
            written, _ = native.describe_missing()
            if not quiet:
                print(f"{written} descriptions generated", flush=True)
        return reports

    def info(self) -> Dict[str, Any]:
        """Counts per modality, label and crystal system."""
        return json.loads(self._open().summary_json())

    def ids(self) -> List[str]:
        """Every material id, in dataset order."""
        return list(self._open().material_ids())

    def material(self, material_id: str) -> Optional[Dict[str, Any]]:
        """One material, or ``None``."""
        found = self._open().material_json(material_id)
        return None if found is None else _material(*found)

    def materials(self) -> List[Dict[str, Any]]:
        """Every material, in dataset order."""
        return [_material(*found) for found in self._open().materials_json()]

    def __len__(self) -> int:
        return len(self.ids())

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return iter(self.materials())


def _material(document: str, modalities: Sequence[str]) -> Dict[str, Any]:
    material = json.loads(document)
    material["modalities"] = list(modalities)
    return material


def _print_epoch(line: str) -> None:
    metrics = json.loads(line)
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    print("epoch " + "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in shown.items()), flush=True)


def _toml(key: str, value: Any) -> str:
    """A setting's value as TOML: booleans, numbers, strings and lists of them."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(key, v) for v in value) + "]"
    raise ValueError(f"setting {key!r}: {value!r} is not a boolean, number, string or list")


def _overrides(settings: Optional[Dict[str, Any]]) -> List[tuple]:
    """``{"train.epochs": 3}`` as the CLI's ``--set train.epochs=3`` (TOML values)."""
    return [(key, _toml(key, value)) for key, value in (settings or {}).items()]


def train(
    out: PathLike,
    *,
    db: Optional[Union[Dataset, PathLike]] = None,
    modalities: Sequence[str] = (),
    loss: Optional[str] = None,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    config: Optional[PathLike] = None,
    settings: Optional[Dict[str, Any]] = None,
    plugin_dirs: Sequence[PathLike] = (),
    resume: bool = False,
    overwrite: bool = False,
    on_epoch: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> "PretrainedModel":
    """Contrastive pretraining, as ``mmhost train --plugins crystal,dos,...``:
    ``loss`` is ``"all-pairs"`` or ``"anchored"``; ``settings`` overrides any
    configuration key (``{"encoders.dos.config.preset": "small"}``). Each epoch's
    metrics are printed (or passed to ``on_epoch``); Ctrl-C stops after the current
    step with a checkpoint (continue with ``resume=True``). Returns the run."""
    overrides = _overrides(settings)
    if loss is not None:
        overrides.append(("loss.config.kind", json.dumps(loss)))
    if epochs is not None:
        overrides.append(("train.epochs", str(int(epochs))))
    if batch_size is not None:
        overrides.append(("train.batch_size", str(int(batch_size))))
    if resume and (loss or epochs or batch_size):
        raise ValueError("resume continues a run with its own configuration: drop loss, epochs and batch_size")
    db_path = db.path if isinstance(db, Dataset) else db
    callback = _print_epoch if on_epoch is None else (lambda line: on_epoch(json.loads(line)))
    _native.train(
        os.fspath(out), callback, db=_opt(db_path), modalities=list(modalities),
        config=_opt(config), overrides=overrides, plugin_dirs=[os.fspath(p) for p in plugin_dirs],
        resume=resume, overwrite=overwrite, progress=sys.stderr.isatty(),
    )
    return load(out, plugin_dirs=plugin_dirs, config=config)  # type: ignore[return-value]


def finetune(
    out: PathLike,
    *,
    db: Optional[Union[Dataset, PathLike]] = None,
    property: Optional[str] = None,
    start_from: Optional[Union[PretrainedModel, "FinetunedModel", PathLike]] = None,
    task: Optional[str] = None,
    loss: str = "mse",
    floor: Optional[float] = None,
    head_init: str = "zero",
    head_ridge: Optional[float] = None,
    epochs: int = 50,
    batch_size: int = 64,
    lr: float = 1e-3,
    schedule: str = "cosine",
    warmup: float = 0.05,
    patience: int = 10,
    split_seed: int = 42,
    splits: Tuple[float, float, float] = (0.7, 0.2, 0.1),
    config: Optional[PathLike] = None,
    settings: Optional[Dict[str, Any]] = None,
    plugin_dirs: Sequence[PathLike] = (),
    resume: bool = False,
    overwrite: bool = False,
    on_epoch: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> "FinetunedModel":
    """Fine-tunes the crystal encoder with a linear head on ``property``, as
    ``mmhost finetune``: from the crystal encoder of a pretraining run or of a
    fine-tuned model (``start_from``; a new head either way) or from scratch
    (``start_from=None``), train/validation/test ``splits`` (fractions) by
    ``split_seed`` and material id, early stopping on validation (a validation
    fraction of 0 trains on those materials too, runs every epoch and keeps the
    last; the test split stays the same). Regression minimizes ``loss`` (``"mse"``
    or ``"l1"``) on standardized labels; predictions below ``floor`` (e.g. 0 for a band gap) are raised to it.
    ``head_init="fit"`` fits the new head to the starting encoder's embeddings of the
    training materials before the first step (least squares, or least absolute
    deviations for ``"l1"``) instead of starting it at zero; ``head_ridge`` (with
    ``head_init="fit"`` only) is the ridge on its weights, in multiples of the
    embeddings' mean square, as ``--head-ridge`` (default 1; 1e-6 barely shrinks them).
    Each epoch is printed (or passed to ``on_epoch``); Ctrl-C stops after
    the current step with a checkpoint. Returns the model; its ``info["outcome"]``
    holds the test metrics and the training-mean baseline."""
    db_path = db.path if isinstance(db, Dataset) else db
    if isinstance(start_from, (PretrainedModel, FinetunedModel)):
        source = start_from.path
    else:  # a directory, or the name of a model in the repository's models/
        source = None if start_from is None else _resolve(start_from)
    callback = _print_epoch if on_epoch is None else (lambda line: on_epoch(json.loads(line)))
    _native.finetune(
        os.fspath(out), callback, db=_opt(db_path), property=property, start_from=_opt(source),
        task=task, loss=loss, floor=floor, head_init=head_init, head_ridge=head_ridge, epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule, warmup=warmup,
        patience=patience, split_seed=split_seed, splits=tuple(splits), config=_opt(config),
        overrides=_overrides(settings), plugin_dirs=[os.fspath(p) for p in plugin_dirs],
        resume=resume, overwrite=overwrite, progress=sys.stderr.isatty(),
    )
    return load(out, plugin_dirs=plugin_dirs, config=config)  # type: ignore[return-value]
