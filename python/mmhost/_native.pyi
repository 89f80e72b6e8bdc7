"""Type stubs of the Rust extension ``mmhost._native`` (the ``mmhost`` package
wraps it; use that). Inputs are ``(kind, name, payload)`` tuples built by
``mmhost._inputs``; arrays travel as bytes in native order."""

from os import PathLike
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

_Path = Union[str, PathLike[str]]
_Input = Tuple[str, str, Any]
# (values, dim, ids, refused): float32 [rows, dim] or float64 [rows] as bytes
_Rows = Tuple[bytes, int, List[str], List[str]]
# _Rows and, per row, (rarest element in training, its training materials) or None,
# and the elements no training material contained
_Predicted = Tuple[
    bytes, int, List[str], List[str], List[Optional[Tuple[str, int]]], List[List[str]]
]

class PluginError(ImportError):
    """A plugin library that cannot be found, loaded or used."""

class MmhostError(RuntimeError):
    """A failure inside mmhost, with mmhost's message."""

class FinetunedModel:
    def __init__(self, path: _Path, plugin_dirs: Sequence[_Path] = ..., config: Optional[_Path] = ...) -> None: ...
    def info_json(self) -> str: ...
    def predict(self, items: List[_Input]) -> _Predicted: ...

class PretrainedModel:
    def __init__(self, path: _Path, plugin_dirs: Sequence[_Path] = ..., config: Optional[_Path] = ...) -> None: ...
    @property
    def modalities(self) -> List[str]: ...
    def info_json(self) -> str: ...
    def embed(self, items: List[_Input], modality: str) -> _Rows: ...
    def embed_dataset(self, modality: str, db: Optional[_Path] = ..., split: Optional[str] = ...) -> _Rows: ...

class Dataset:
    def __init__(self, path: _Path) -> None: ...
    def import_files(self, sources: Sequence[_Path], on_file: Callable[[str], None]) -> str: ...
    def describe_missing(self) -> Tuple[int, str]: ...
    def summary_json(self) -> str: ...
    def material_ids(self) -> List[str]: ...
    def materials_json(self) -> List[Tuple[str, List[str]]]: ...
    def material_json(self, id: str) -> Optional[Tuple[str, List[str]]]: ...

def train(
    out: _Path,
    on_epoch: Callable[[str], None],
    db: Optional[_Path] = ...,
    modalities: Sequence[str] = ...,
    config: Optional[_Path] = ...,
    overrides: Sequence[Tuple[str, str]] = ...,
    plugin_dirs: Sequence[_Path] = ...,
    resume: bool = ...,
    overwrite: bool = ...,
    progress: bool = ...,
) -> Path: ...
def finetune(
    out: _Path,
    on_epoch: Callable[[str], None],
    db: Optional[_Path] = ...,
    property: Optional[str] = ...,
    start_from: Optional[_Path] = ...,
    task: Optional[str] = ...,
    loss: str = ...,
    floor: Optional[float] = ...,
    head_init: str = ...,
    head_ridge: Optional[float] = ...,
    epochs: int = ...,
    batch_size: int = ...,
    lr: float = ...,
    schedule: str = ...,
    warmup: float = ...,
    patience: int = ...,
    split_seed: int = ...,
    splits: Tuple[float, float, float] = ...,
    config: Optional[_Path] = ...,
    overrides: Sequence[Tuple[str, str]] = ...,
    plugin_dirs: Sequence[_Path] = ...,
    resume: bool = ...,
    overwrite: bool = ...,
    progress: bool = ...,
) -> str: ...
def plugin_dirs(extra: Sequence[_Path] = ..., config: Optional[_Path] = ...) -> List[Path]: ...
def build_profile_dir() -> Path: ...
def repository_models_dir() -> Path: ...
