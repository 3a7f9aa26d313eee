"""Scheduling policy: execution mode, order of ready tasks, node choice, backfill.

Contract: frozen values and the ready queue; no I/O, no clock.

Imports: tandem.core.pool, tandem.spec.

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
from collections import deque
from collections.abc import Hashable, Mapping
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
    spare). ``locality``: on a platform of several nodes, a task whose inputs are kept on a
    node prefers that node (the rule: :mod:`tandem.core.locality`)."""

    mode: Mode = Mode.ASYNC
    order: Order = Order.CRITICAL_PATH
    fit: Fit = Fit.FIRST_FIT
    backfill: bool = True
    locality: bool = True


class Keyed(Protocol):
    """What an order key reads of a task."""

    id: int
    prio: int
    bottom: float


# Queue entries are order keys: flat tuples of numbers ending with the unique task id.
def entry_fifo(t: Keyed) -> tuple[float, ...]:
    return (t.id,)


def entry_priority(t: Keyed) -> tuple[float, ...]:
    return (-t.prio, t.id)


def entry_critical_path(t: Keyed) -> tuple[float, ...]:
    return (-t.prio, -t.bottom, t.id)


ENTRY = {Order.FIFO: entry_fifo, Order.PRIORITY: entry_priority,
         Order.CRITICAL_PATH: entry_critical_path}
"""The queue entry of a task, per order."""


class Queued(Protocol):
    """What the queue needs to know of a task: ``entry`` is its live heap entry (``None`` when
    it is not queued); an entry that is not the task's live one is stale."""

    id: int
    req: Resources
    entry: tuple[Any, ...] | None


class Bucket:
    """The ready tasks of one shape, best first: a sorted run (a deque) that takes entries
    arriving in key order — the common case: submission order, equal priorities — in O(1), and
    a heap for the rest. The best entry is the smaller of the two heads.

    A shape is a resource request (``req``), and, when resource pools are in use, the ``pool``
    whose quota its tasks draw on; tasks resuming after a pause that released their cores also
    need ``req`` on one ``node``; tasks whose inputs are kept on a node prefer it (``near``:
    :mod:`tandem.core.locality`). ``plain`` buckets (no pool, no node) take the fast path."""

    __slots__ = ("heap", "near", "node", "plain", "pool", "req", "run")

    def __init__(self, req: Resources, pool: str | None = None, node: str | None = None,
                 near: str | None = None) -> None:
        self.heap: list[tuple[Any, ...]] = []
        self.run: deque[tuple[Any, ...]] = deque()
        self.req = req
        self.pool = pool
        self.node = node
        self.near = near
        self.plain = pool is None and node is None and near is None


class ReadyQueue:
    """Ready tasks, one :class:`Bucket` per shape. An entry is the task's order key, a flat
    tuple of numbers that ends with the unique task id (so entries never tie, and, holding no
    objects, they cost the garbage collector nothing); ``tasks`` maps ids back to tasks. An
    entry goes stale (and
    is skipped) when its task leaves the queue (``entry = None``) or is re-keyed; ``push`` a new
    entry after changing a key. A task finds its bucket once, at submit (and a task whose
    inputs are kept on a node moves to that node's ``near`` bucket when it becomes ready).
    Buckets are found by their request alone (no pools, the common case) or by ``(request,
    pool, node, near)``; ``only``
    is the bucket while there is exactly one (the scheduling pass then needs no heap of
    heads)."""

    def __init__(self, tasks: Mapping[int, Queued]) -> None:
        self.tasks = tasks
        self.buckets: dict[Hashable, Bucket] = {}
        self.only: Bucket | None = None
        self.light: list[Bucket] = []    # the buckets of requests that need nothing

    def light_waiting(self) -> bool:
        """Whether a task that needs no cores and no GPUs waits (it fits even when every
        core and GPU is held)."""
        return any(self.peek(b) is not None for b in self.light)

    def bucket_for(self, shape: Resources, pool: str | None = None,
                   node: str | None = None, near: str | None = None) -> Bucket:
        key: Hashable = shape if pool is None and node is None and near is None \
            else (shape, pool, node, near)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(shape, pool, node, near)
            self.only = bucket if len(self.buckets) == 1 else None
            if shape.needs_nothing:
                self.light.append(bucket)
        return bucket

    @staticmethod
    def push(t: Queued, entry: tuple[Any, ...], bucket: Bucket) -> None:
        """Queue ``t`` under ``entry`` (its key); an older entry of ``t`` goes stale."""
        t.entry = entry
        run = bucket.run
        if not run or entry > run[-1]:
            run.append(entry)
        else:
            heapq.heappush(bucket.heap, entry)

    def peek(self, bucket: Bucket) -> Any:
        """The best live task of ``bucket``, dropping stale entries; ``None`` if empty."""
        heap, run = bucket.heap, bucket.run
        tasks = self.tasks
        while True:
            if run and (not heap or run[0] < heap[0]):
                entry = run[0]
                try:
                    t = tasks[entry[-1]]
                    if t.entry is entry:
                        return t
                except KeyError:      # a stale entry of a task that was forgotten
                    pass
                run.popleft()
            elif heap:
                entry = heap[0]
                try:
                    t = tasks[entry[-1]]
                    if t.entry is entry:
                        return t
                except KeyError:
                    pass
                heapq.heappop(heap)
            else:
                return None

    @staticmethod
    def pop(bucket: Bucket, t: Queued) -> None:
        """Remove ``t``, which :meth:`peek` just returned."""
        run = bucket.run
        if run and run[0] is t.entry:
            run.popleft()
        else:
            heapq.heappop(bucket.heap)
        t.entry = None

    def heads(self) -> list[tuple[tuple[Any, ...], Bucket]]:
        """The best live entry of each shape, as a heap (entries never tie, so the buckets are
        never compared)."""
        out = []
        for bucket in self.buckets.values():
            t = self.peek(bucket)
            if t is not None:
                out.append((t.entry, bucket))
        heapq.heapify(out)
        return out
