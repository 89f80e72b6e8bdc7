"""Turning Python objects into the plain inputs mmhost reads.

Structures: pymatgen ``Structure``, ASE ``Atoms``, CIF or POSCAR text, paths to any
file ``mmhost data import`` reads. DOS: pymatgen ``Dos``/``CompleteDos`` or
``(energies, densities[, efermi])`` arrays. Charge density: pymatgen ``Chgcar``, a
3-D array of ρ·V (as CHGCAR stores it) or ``(grid, lattice)`` (the lattice, 3×3 Å,
is checked; the charge encoder sees the grid only, resampled to 32³). Text: a string.
Each becomes a ``(kind, name, payload)`` tuple; the name is used in messages and
carries the file format (``structures[3].cif``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import types
from typing import Any, Iterable, Iterator, List, Optional, Tuple

import numpy as np

Input = Tuple[str, str, Any]

def as_list(items: Any, modality: str) -> List[Any]:
    """``items`` as a list of items of ``modality``: a list, tuple, generator or
    other iterator is many items; anything else (a pymatgen Structure or ASE Atoms,
    which iterate over their sites, a string, a path, an array) is one. For ``dos``,
    a tuple ``(energies, densities[, efermi])`` of arrays is one DOS."""
    if modality == "dos" and _is_dos_tuple(items):
        return [items]
    if modality == "charge" and _is_grid_with_lattice(items):
        return [items]
    if isinstance(items, (list, tuple)):
        return list(items)
    if isinstance(items, (types.GeneratorType, Iterator)) and not isinstance(items, (str, bytes)):
        return list(items)
    return [items]


def _is_dos_tuple(items: Any) -> bool:
    if not (isinstance(items, tuple) and len(items) in (2, 3)):
        return False
    try:
        return np.ndim(items[0]) == 1 and np.ndim(items[1]) in (1, 2)
    except (TypeError, ValueError):
        return False


def _is_grid_with_lattice(items: Any) -> bool:
    """``(grid, lattice)``: a 3-D grid and its 3×3 lattice."""
    if not (isinstance(items, tuple) and len(items) == 2):
        return False
    try:
        return np.ndim(items[0]) == 3 and np.shape(items[1]) == (3, 3)
    except (TypeError, ValueError):
        return False


def _existing_path(item: Any) -> Optional[str]:
    """The path ``item`` names when it is a path-like or a one-line string naming an
    existing file or folder."""
    if isinstance(item, os.PathLike):
        return os.fspath(item)
    if isinstance(item, str) and "\n" not in item:
        try:
            if os.path.exists(item):
                return item
        except (OSError, ValueError):
            return None
    return None


def _file_or_missing(item: Any, what: str) -> Optional[str]:
    """As :func:`_existing_path`, and a one-line string naming nothing raises
    ``FileNotFoundError`` (file contents have several lines)."""
    path = _existing_path(item)
    if path is None and isinstance(item, str) and "\n" not in item.strip():
        raise FileNotFoundError(f"{what}: {item!r} is no file or folder (and not file content)")
    return path


def _class_name(item: Any) -> str:
    return type(item).__name__


def _is_pymatgen(item: Any, module: str, base: str) -> bool:
    """Whether ``item`` is an instance of pymatgen's ``module.base`` (pymatgen is
    imported only when the object could come from it)."""
    if not type(item).__module__.startswith("pymatgen"):
        return False
    import importlib

    return isinstance(item, getattr(importlib.import_module(module), base))


def structure_input(item: Any, index: int) -> Input:
    """One structure as an input tuple."""
    name = f"structures[{index}]"
    path = _file_or_missing(item, name)
    if path is not None:
        return ("file", path, path)
    if isinstance(item, str):
        text = item.lstrip()
        suffix = ".cif" if text.startswith("data_") or "_cell_length_a" in text else ".vasp"
        return ("bytes", name + suffix, item.encode())
    if _is_pymatgen(item, "pymatgen.core.structure", "IStructure"):
        document = _jsonable(item.as_dict())
        document["@class"] = "Structure"  # subclasses (SymmetrizedStructure, …) too
        return ("bytes", name + ".json", json.dumps(document).encode())
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
    name = f"dos[{index}]"
    path = _file_or_missing(item, name)
    if path is not None:
        return ("file", path, path)
    if _is_pymatgen(item, "pymatgen.electronic_structure.dos", "Dos"):
        document = _jsonable(item.as_dict())
        complete = _is_pymatgen(item, "pymatgen.electronic_structure.dos", "CompleteDos")
        document["@class"] = "CompleteDos" if complete else "Dos"  # subclasses too
        return ("bytes", name + ".json", json.dumps(document).encode())
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
    name = f"charge[{index}]"
    path = _file_or_missing(item, name)
    if path is not None:
        return ("file", path, path)
    grid = item.data["total"] if _class_name(item) == "Chgcar" else item
    if _is_grid_with_lattice(item):
        grid, lattice = item
        lattice = np.asarray(lattice, dtype=float)
        if not np.all(np.isfinite(lattice)) or abs(np.linalg.det(lattice)) < 1e-6:
            raise ValueError(f"{name}: the lattice {lattice.tolist()} is not a cell of positive volume")
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
            path = _existing_path(item)
            if path is None:
                raise TypeError(f"{modality}[{index}]: pass a path to a file of this modality")
            return ("file", path, path)
    return [convert(item, i) for i, item in enumerate(items)]
