"""Model versions: the retraining task's function, and the files each version is kept in.

Contract: :func:`retrain` is the top-level function a retraining task runs (in a warm worker,
or in the driver on virtual time): it fits a copy of the prototype model on the data it is
given and writes the fitted model to ``<dir>/v{n}.pkl`` (cloudpickle; a temporary name, then a
rename, so a reader never sees half a file); it returns a small :class:`ModelVersion`, not the
model, so the journal and the result pipe carry a path. :func:`load_version` reads a version
back. This module imports no ML library: the model's own module is imported when its pickle
is read.
Imports: tandem.errors.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle

from tandem.errors import SpecError


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelVersion:
    """A fitted model on disk: its number, its file, how many pairs it was fitted on and how
    long the fit took (seconds, measured inside the task)."""

    version: int
    path: str
    pairs: int
    fit_seconds: float


def version_path(directory: str | os.PathLike[str], version: int) -> Path:
    return Path(directory) / f"v{version}.pkl"


def retrain(model: Any, X: Any, y: Any, directory: str, version: int) -> ModelVersion:
    """Fit ``model`` on ``(X, y)`` and save the fitted model as version ``version``."""
    t0 = time.perf_counter()
    fitted = model.fit(X, y)
    if fitted is None:
        raise SpecError(f"model {type(model).__name__}: fit returned None; it must return the "
                        "fitted model (return self when fitting in place)")
    seconds = time.perf_counter() - t0
    path = version_path(directory, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        cloudpickle.dump(fitted, f)
    os.replace(tmp, path)
    return ModelVersion(version=version, path=str(path), pairs=len(X), fit_seconds=seconds)


def load_version(path: str | os.PathLike[str]) -> Any:
    """The model saved at ``path``."""
    with open(path, "rb") as f:
        return cloudpickle.load(f)
