"""Where a task's files go, and what an executable task returns.

Contract: :class:`WorkDirs` names each task's own directory under the run directory's
``tasks/`` (``<id>-<name made safe>``; the directory is created by the backend that writes
there); :class:`ProcessResult` is the value of an executable task that ended well.
Imports: nothing from tandem.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_NAMES_KEPT = 4096   # safe names cached (tasks often share names; unique names are not kept)


class ProcessResult:
    """What an executable task returns: its exit code and where its output went
    (``workdir``, ``stdout`` and ``stderr`` are :class:`~pathlib.Path`; built when read)."""

    __slots__ = ("_dir", "returncode")

    def __init__(self, workdir: str | os.PathLike[str]) -> None:
        self.returncode = 0
        self._dir = os.fspath(workdir)

    @property
    def workdir(self) -> Path:
        return Path(self._dir)

    @property
    def stdout(self) -> Path:
        return Path(self._dir, "stdout")

    @property
    def stderr(self) -> Path:
        return Path(self._dir, "stderr")

    def __reduce__(self) -> tuple[type[ProcessResult], tuple[str]]:
        return ProcessResult, (self._dir,)

    def __repr__(self) -> str:
        return f"ProcessResult(returncode=0, workdir={self._dir!r})"


class WorkDirs:
    """Task directories under ``root``."""

    __slots__ = ("_names", "_root")

    def __init__(self, root: Path) -> None:
        self._root = str(root)
        self._names: dict[str, str] = {}

    def path(self, task_id: int, name: str) -> str:
        """The path of task ``task_id``'s directory (it may not exist)."""
        safe = self._names.get(name)
        if safe is None:
            if len(self._names) > _NAMES_KEPT:
                self._names.clear()
            safe = self._names[name] = _SAFE.sub("_", name)[:60]
        return f"{self._root}/{task_id:06d}-{safe}"
