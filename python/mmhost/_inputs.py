"""Turning Python objects into the plain inputs mmhost reads.

Structures: pymatgen ``Structure``, ASE ``Atoms``, CIF or POSCAR text, paths to any
file ``mmhost data import`` reads. DOS: pymatgen ``Dos``/``CompleteDos`` or
``(energies, densities[, efermi])`` arrays. Charge density: pymatgen ``Chgcar`` or
a 3-D array of ρ·V (as CHGCAR stores it). Text: a string.
Each becomes a ``(kind, name, payload)`` tuple; the name is used in messages and
carries the file format (``structures[3].cif``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, List, Tuple

import numpy as np

Input = Tuple[str, str, Any]

#: The modalities whose inputs are files or objects (text takes sentences).
FILE_MODALITIES = ("crystal", "dos", "charge")


def as_list(items: Any) -> Tuple[List[Any], bool]:
    """``items`` as a list, and whether a single item was given."""
    if isinstance(items, (list, tuple)) and not _is_dos_tuple(items):
        return list(items), False
    return [items], True


def _is_dos_tuple(items: Any) -> bool:
    """``(energies, densities[, efermi])``: a DOS, not a list of items."""
    return (
        isinstance(items, tuple)
        and len(items) in (2, 3)
        and all(hasattr(a, "__len__") and not isinstance(a, (str, bytes)) for a in items[:2])
        and np.ndim(items[0]) == 1
    )


def _path_or_none(item: Any) -> str | None:
    if isinstance(item, os.PathLike):
        return os.fspath(item)
    if isinstance(item, str) and "\n" not in item and len(item) < 4096 and Path(item).exists():
        return item
    return None


def _class_name(item: Any) -> str:
    return type(item).__name__


def structure_input(item: Any, index: int) -> Input:
    """One structure as an input tuple."""
    path = _path_or_none(item)
    if path is not None:
        return ("file", path, path)
    name = f"structures[{index}]"
    if isinstance(item, str):
        text = item.lstrip()
        suffix = ".cif" if text.startswith("data_") or "_cell_length_a" in text else ".vasp"
        return ("bytes", name + suffix, item.encode())
    if _class_name(item) in ("Structure", "IStructure") and hasattr(item, "as_dict"):
        return ("bytes", name + ".json", json.dumps(_jsonable(item.as_dict())).encode())
    if _class_name(item) == "Atoms" and hasattr(item, "get_scaled_positions"):
        return ("bytes", name + ".json", json.dumps(_atoms_as_pymatgen(item, name)).encode())
    raise TypeError(
        f"{name}: a {type(item).__name__} is not a structure; pass a pymatgen Structure, an "
        "ASE Atoms, CIF or POSCAR text, or a path"
    )


def _atoms_as_pymatgen(atoms: Any, name: str) -> dict:
    """An ASE ``Atoms`` in pymatgen's Structure JSON layout (lattice rows in Å,
    fractional coordinates)."""
    if not all(atoms.pbc):
        raise ValueError(f"{name}: the Atoms are not periodic along all three axes (pbc={list(atoms.pbc)})")
    cell = np.asarray(atoms.cell.array, dtype=float)
    frac = atoms.get_scaled_positions(wrap=False)
    return {
        "@module": "pymatgen.core.structure",
        "@class": "Structure",
        "lattice": {"matrix": cell.tolist()},
        "sites": [
            {"species": [{"element": symbol, "occu": 1}], "abc": list(map(float, f)), "label": symbol}
            for symbol, f in zip(atoms.get_chemical_symbols(), frac)
        ],
    }


def _jsonable(value: Any) -> Any:
    """Dictionaries from ``as_dict`` with NumPy values made plain."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def dos_input(item: Any, index: int) -> Input:
    """One density of states as an input tuple."""
    path = _path_or_none(item)
    if path is not None:
        return ("file", path, path)
    name = f"dos[{index}]"
    if _class_name(item) in ("Dos", "CompleteDos", "LobsterCompleteDos") and hasattr(item, "as_dict"):
        return ("bytes", name + ".json", json.dumps(_jsonable(item.as_dict())).encode())
    if isinstance(item, tuple) and len(item) in (2, 3):
        energies = np.asarray(item[0], dtype=float)
        densities = np.atleast_2d(np.asarray(item[1], dtype=float))
        if energies.ndim != 1 or densities.ndim != 2 or densities.shape[0] > 2:
            raise ValueError(
                f"{name}: expected energies [n] and densities [n] or [2, n] (spin up, down); "
                f"got shapes {energies.shape} and {np.shape(item[1])}"
            )
        document = {
            "@class": "Dos",
            "energies": energies.tolist(),
            "densities": {spin: row.tolist() for spin, row in zip(("1", "-1"), densities)},
            "efermi": float(item[2]) if len(item) == 3 else None,
        }
        return ("bytes", name + ".json", json.dumps(document).encode())
    raise TypeError(
        f"{name}: a {type(item).__name__} is not a DOS; pass a pymatgen Dos/CompleteDos, "
        "(energies, densities[, efermi]) arrays, or a path (DOSCAR, vasprun.xml, JSON)"
    )


def charge_input(item: Any, index: int) -> Input:
    """One charge density as an input tuple."""
    path = _path_or_none(item)
    if path is not None:
        return ("file", path, path)
    name = f"charge[{index}]"
    grid = item.data["total"] if _class_name(item) == "Chgcar" else item
    if isinstance(grid, np.ndarray) or isinstance(grid, list):
        grid = np.ascontiguousarray(grid, dtype=np.float32)
        if grid.ndim != 3:
            raise ValueError(f"{name}: a charge density grid is 3-D; got shape {grid.shape}")
        return ("charge", name, (grid.tobytes(), tuple(int(n) for n in grid.shape)))
    raise TypeError(
        f"{name}: a {type(item).__name__} is not a charge density; pass a pymatgen Chgcar, "
        "a 3-D array of ρ·V, or a CHGCAR path"
    )


def text_input(item: Any, index: int) -> Input:
    """One description as an input tuple."""
    if not isinstance(item, str):
        raise TypeError(f"texts[{index}]: a {type(item).__name__} is not a str")
    return ("text", f"texts[{index}]", item)


def inputs_for(modality: str, items: Iterable[Any]) -> List[Input]:
    """Input tuples for ``items`` of ``modality`` (a plugin modality beyond these
    takes paths)."""
    convert = {
        "crystal": structure_input,
        "dos": dos_input,
        "charge": charge_input,
        "text": text_input,
    }.get(modality)
    if convert is None:
        def convert(item: Any, index: int) -> Input:
            path = _path_or_none(item)
            if path is None:
                raise TypeError(f"{modality}[{index}]: pass a path to a file of this modality")
            return ("file", path, path)
    return [convert(item, i) for i, item in enumerate(items)]
