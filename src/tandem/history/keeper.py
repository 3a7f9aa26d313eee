"""The history keeper: the instrument that records a traced run's ended tasks in the history.

Contract: :class:`HistoryKeeper` hears each task's resolution (its id only, like the trace);
at each flush it reads those tasks through the driver's read-only views and keeps one
:class:`~tandem.history.store.Row` per task (the key of its work, its inputs, how long its last
attempt ran, where); at the run's end it writes them all in one transaction
(:meth:`HistoryStore.add <tandem.history.store.HistoryStore.add>`). So the hot path only
appends ids to a list, and nothing touches the file while the run goes. Of a key's tasks, one
run keeps at most :data:`PER_RUN` (the first ones, then a uniform sample of the rest: a sweep of
20,000 no-ops does not hold 20,000 rows in memory). Tasks restored from the journal did not
run here and are not recorded. A history that cannot be written is said once (a warning on
the ``tandem`` logger); the run goes on.
Imports: tandem.core.states, tandem.core.view, tandem.history.describe, tandem.history.store,
tandem.spec.platform, tandem.trace.instrument.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from tandem.core.states import TaskState
from tandem.core.view import TaskView
from tandem.history.describe import KeyCache, sizes_of
from tandem.history.store import HistoryStore, Row
from tandem.spec.platform import Platform
from tandem.trace.instrument import Instrument

PER_RUN = 500
"""Rows one run keeps per key."""

_STATE = {s: s.value for s in TaskState}


class HistoryKeeper(Instrument):
    """Records the run ``run`` (its run directory) into ``store``."""

    def __init__(self, store: HistoryStore, run: str) -> None:
        self.store = store
        self.run = run
        self.written = 0
        self._tasks: Mapping[int, TaskView] = {}
        self._ended: list[int] = []
        self._rows: dict[str, list[Row]] = {}
        self._seen: dict[str, int] = {}
        self._keys = KeyCache()
        self._rng = random.Random(0)
        self._t0 = 0.0
        self._epoch = 0.0

    def bind(self, tasks: Mapping[int, TaskView],
             pools: Callable[[], Mapping[str, Any]]) -> None:
        self._tasks = tasks

    def run_started(self, platform: Platform, policy: str, now: float, epoch: float) -> None:
        self._t0, self._epoch = now, epoch

    def task_resolved(self, task_id: int) -> None:
        self._ended.append(task_id)

    def flush(self) -> None:
        ended, self._ended = self._ended, []
        tasks, rows, seen = self._tasks, self._rows, self._seen
        for tid in ended:
            t = tasks.get(tid)
            if t is None or t.launched is None:
                continue                   # restored from the journal, or never ran
            spec = t.spec
            key = self._keys.of(spec)
            n = seen.get(key, 0)
            seen[key] = n + 1
            mine = rows.get(key)
            if mine is None:
                mine = rows[key] = []
            if n >= PER_RUN:
                j = self._rng.randrange(n + 1)
                if j >= PER_RUN:
                    continue
            begin = t.started if t.started is not None else t.launched
            end = t.ended
            p = t.placement
            r = spec.resources
            row = Row(key, spec.kind, spec.name, _STATE[t.state], r.cores, r.gpus, r.ranks,
                      r.memory_mb, spec.features, sizes_of(spec),
                      None if end is None else max(0.0, end - begin),
                      p.slots[0].node if p is not None and p.slots else None, self.run,
                      self._epoch + ((end if end is not None else begin) - self._t0))
            if n >= PER_RUN:
                mine[j] = row
            else:
                mine.append(row)

    def run_ended(self, now: float) -> None:
        self.flush()
        rows = [r for mine in self._rows.values() for r in mine]
        self._rows.clear()
        if not rows or self.store.broken:
            return
        try:
            self.written = self.store.add(rows)
        except Exception as e:      # never fail a session for its history
            self.store.failed("written", e)
