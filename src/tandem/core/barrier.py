"""Stage barriers: in barrier mode, a task at DAG level k+1 waits for every task at level <= k.

Contract: plain bookkeeping held in the core's state; no I/O, no clock. A task's level is one
more than its deepest dependency's (0 without dependencies). Tasks
submitted later join their level; the open level is the lowest one with unfinished tasks.

Imports: tandem.core.task.
"""

from __future__ import annotations

from tandem.core.task import CoreTask


class Barriers:
    """Counts unfinished tasks per level and holds tasks whose level is not open yet."""

    def __init__(self) -> None:
        self._unfinished: dict[int, int] = {}
        self._held: dict[int, list[CoreTask]] = {}

    def add(self, level: int) -> None:
        """A task of ``level`` was submitted."""
        self._unfinished[level] = self._unfinished.get(level, 0) + 1

    def hold(self, t: CoreTask) -> bool:
        """Hold ``t`` (its dependencies are done) if a lower level is still unfinished."""
        if t.level > min(self._unfinished):
            self._held.setdefault(t.level, []).append(t)
            return True
        return False

    def finished(self, level: int) -> list[CoreTask]:
        """A task of ``level`` ended; return the held tasks whose level this opens."""
        left = self._unfinished[level] - 1
        if left:
            self._unfinished[level] = left
            return []
        del self._unfinished[level]
        if not self._unfinished or not self._held:
            return []
        current = min(self._unfinished)
        released: list[CoreTask] = []
        for lvl in sorted(k for k in self._held if k <= current):
            released.extend(self._held.pop(lvl))
        return released

    def forget(self, t: CoreTask) -> None:
        """Drop ``t`` (final) if it is still held (it ended while its level was closed)."""
        held = self._held.get(t.level)
        if held is not None and t in held:
            held.remove(t)
            if not held:
                del self._held[t.level]

    def held_count(self) -> int:
        """How many tasks are held."""
        return sum(len(v) for v in self._held.values())
