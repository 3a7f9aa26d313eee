"""Stored results: a finished task's value, kept so that a re-run returns it without running.

Contract: :func:`store` pickles a value (``pickle`` first, ``cloudpickle`` for what it cannot
do) into a :class:`Stored`: the bytes themselves when small, else a file under the run
directory's ``results/`` written at once (atomically: a temporary name, then a rename), named
by the task's key digest; :func:`load` gives the value back. A result kept by reference
(:class:`~tandem.data.refs.DataRef`) is stored as a copy of its segment file (no unpickling,
no pickling) and loaded by mapping it (:mod:`tandem.data.segments`). A value that cannot be
pickled is not stored (the task will run again on resume) and :func:`store` says why.
Imports: tandem.data.refs, tandem.data.segments, tandem.errors.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle

from tandem.data import segments
from tandem.data.refs import DataRef
from tandem.errors import JournalError

INLINE_BYTES = 1 << 20       # larger results go to a file of their own
RESULTS_DIR = "results"
NONE_BLOB = pickle.dumps(None, 5)


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored result: pickled ``blob`` or the ``file`` (relative to the run directory)."""

    blob: bytes | None = None
    file: str | None = None


NOTHING = Stored(blob=NONE_BLOB)


def store(value: Any, run_dir: Path, key: str, run: int = 0) -> tuple[Stored | None, str]:
    """``value`` stored (or ``None`` and why not); a file is named by the key and ``run``, so
    no run overwrites an earlier one's."""
    if value is None:
        return NOTHING, ""
    if type(value) is DataRef:
        return _store_segment(value, run_dir, key, run)
    try:
        data = pickle.dumps(value, 5)
    except Exception:
        try:
            data = cloudpickle.dumps(value, 5)
        except Exception as e:
            return None, f"its result cannot be pickled ({type(e).__name__}: {e})"
    if len(data) <= INLINE_BYTES:
        return Stored(blob=data), ""
    name, folder = _file_of(run_dir, key, run, "pkl")
    tmp = folder / (name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, folder / name)
    return Stored(file=f"{RESULTS_DIR}/{name}"), ""


def _file_of(run_dir: Path, key: str, run: int, suffix: str) -> tuple[str, Path]:
    name = f"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}.{run}.{suffix}"
    folder = run_dir / RESULTS_DIR
    folder.mkdir(exist_ok=True)
    return name, folder


def _store_segment(ref: DataRef, run_dir: Path, key: str, run: int
                   ) -> tuple[Stored | None, str]:
    name, folder = _file_of(run_dir, key, run, "seg")
    tmp = folder / (name + ".tmp")
    try:
        shutil.copyfile(ref.path, tmp)
    except OSError as e:
        return None, f"its kept result {ref.path} could not be copied ({e.strerror})"
    os.replace(tmp, folder / name)
    return Stored(file=f"{RESULTS_DIR}/{name}"), ""


def load(stored: Stored, run_dir: Path, key: str) -> Any:
    """The value ``stored`` holds."""
    try:
        if stored.blob is not None:
            return pickle.loads(stored.blob)
        assert stored.file is not None
        if stored.file.endswith(".seg"):
            return segments.load(str(run_dir / stored.file))
        return pickle.loads((run_dir / stored.file).read_bytes())
    except Exception as e:
        raise JournalError(f"{run_dir}: the stored result of task {key!r} cannot be read "
                           f"({type(e).__name__}: {e}); delete that task's row or use another "
                           "run directory") from None
