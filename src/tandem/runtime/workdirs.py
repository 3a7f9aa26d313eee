"""Where a task's files go, and what an executable task returns.

Contract: :class:`WorkDirs` names each task's own directory under the run directory's
``tasks/`` (``<id>-<name made safe>``, after a prefix naming the run when a journal resumes,
so that a resumed run's new tasks never share an earlier run's directory; a task of an earlier
run keeps its own, :meth:`WorkDirs.pin`); the directory is created by the backend that writes
there; :class:`ProcessResult` is the value of an executable task that ended well.
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

    __slots__ = ("_names", "_pinned", "_prefix", "_root")

    def __init__(self, root: Path, *, prefix: str = "") -> None:
        self._root = str(root)
        self._prefix = prefix
        self._names: dict[str, str] = {}
        self._pinned: dict[int, str] = {}

    def pin(self, task_id: int, path: str) -> None:
        """Give task ``task_id`` the directory ``path`` (a task of an earlier run's journal
        keeps its directory, and so its checkpoints) until :meth:`unpin`."""
        self._pinned[task_id] = path

    def unpin(self, task_id: int) -> None:
        self._pinned.pop(task_id, None)

    def path(self, task_id: int, name: str) -> str:
        """The path of task ``task_id``'s directory (it may not exist)."""
        if self._pinned:
            pinned = self._pinned.get(task_id)
            if pinned is not None:
                return pinned
        safe = self._names.get(name)
        if safe is None:
            if len(self._names) > _NAMES_KEPT:
                self._names.clear()
            safe = self._names[name] = _SAFE.sub("_", name)[:60]
        return f"{self._root}/{self._prefix}{task_id:06d}-{safe}"
