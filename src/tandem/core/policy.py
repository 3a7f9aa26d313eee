"""Scheduling policy: execution mode, order of ready tasks, node choice, backfill.

Contract: frozen values and the ready queue; no I/O, no clock. Imports ``tandem.core.pool``.

Order keys (smaller runs first; ties always break on submission order, so decisions are
deterministic):

- ``FIFO``: submission order.
- ``PRIORITY``: higher ``priority`` first, then submission order.
- ``CRITICAL_PATH``: higher ``priority`` first, then the longest estimated path from the task to
  the end of the graph known so far (its *bottom level*: its own estimate plus the longest
  bottom level among its dependents), then submission order. Tasks without an estimate count
  as 0 s.

The ready queue keeps one heap per distinct resource request ("shape"), so a scheduling pass
costs O(shapes), not O(ready tasks): once one task of a shape does not fit, no other task of
that shape can fit in the same pass.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from tandem.core.pool import Fit
from tandem.spec.resources import Resources


class Mode(Enum):
    """``ASYNC``: a task starts when its own dependencies are done. ``BARRIER``: the papers'
    stage-synchronous execution: a task at DAG level k+1 starts only once every task at level k
    (and below) has ended."""

    ASYNC = "async"
    BARRIER = "barrier"


class Order(Enum):
    FIFO = "fifo"
    PRIORITY = "priority"
    CRITICAL_PATH = "critical_path"


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """How the core schedules. ``backfill``: a ready task that fits may pass one that does not,
    as long as it does not delay the first blocked task's reservation (EASY backfilling on the
    duration estimates; a task without an estimate may only use what that reservation leaves
    spare)."""

    mode: Mode = Mode.ASYNC
    order: Order = Order.CRITICAL_PATH
    fit: Fit = Fit.FIRST_FIT
    backfill: bool = True


class Queued(Protocol):
    """What the queue needs to know of a task: ``entry`` is its live heap entry (``None`` when
    it is not queued); an entry that is not the task's live one is stale."""

    id: int
    req: Resources
    key: tuple[float, ...]
    entry: tuple[Any, ...] | None


Key = tuple[float, ...]


class ReadyQueue:
    """Ready tasks, one heap per resource shape. Entries go stale (and are skipped) when a task
    leaves the queue (``entry = None``) or is re-keyed; ``push`` again after changing a key.
    Heaps are found once per task (``bucket_for`` at submit) and kept for the queue's life."""

    def __init__(self) -> None:
        # Entries are flat tuples ``(*key, task)``: keys end with the unique task id, so the
        # task itself is never compared, and flat tuples compare fastest.
        self.buckets: dict[Resources, list[tuple[Any, ...]]] = {}

    def bucket_for(self, shape: Resources) -> list[tuple[Any, ...]]:
        bucket = self.buckets.get(shape)
        if bucket is None:
            bucket = self.buckets[shape] = []
        return bucket

    @staticmethod
    def push(t: Queued, bucket: list[tuple[Any, ...]]) -> None:
        entry = (*t.key, t)
        t.entry = entry
        heapq.heappush(bucket, entry)

    @staticmethod
    def peek(bucket: list[tuple[Any, ...]]) -> Any:
        """The best live task of ``bucket``, dropping stale entries; ``None`` if empty."""
        while bucket:
            entry = bucket[0]
            t = entry[-1]
            if t.entry is entry:
                return t
            heapq.heappop(bucket)
        return None

    def heads(self) -> list[tuple[Key, int, Resources]]:
        """The best live entry of each shape, as a heap."""
        out = []
        for shape, bucket in self.buckets.items():
            t = self.peek(bucket)
            if t is not None:
                out.append((t.key, t.id, shape))
        heapq.heapify(out)
        return out
