"""Backfill: may a ready task pass the first blocked one without delaying it?

Contract: pure functions over the pool and the running tasks (EASY backfilling on duration
estimates), and the running tasks by expected end; no I/O, no clock. Entries hold task ids,
never tasks: a task that ended (or was forgotten) is referenced by nothing here.

Imports: tandem.core.pool, tandem.core.states, tandem.core.task, tandem.core.values.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Iterator, Mapping

from tandem.core.pool import Reservation, ResourcePool
from tandem.core.states import LAUNCHED, RUNNING
from tandem.core.task import CoreTask
from tandem.core.values import Placement

RunEntry = tuple[float, int, int]
"""``(expected end, task id, attempt)``: one launch of a running task."""


class Releases:
    """Running tasks by expected end (launch + estimate; never, without an estimate), read in
    (end, id) order by reservations, lazily and only as far as they need.

    A heap holds the launches of tasks with an estimate; entries go stale when their task ends
    and are dropped when they reach the top or when most of the heap is stale. Tasks running
    past their estimate move to ``overdue`` (a dict in end order, left by each task as it ends),
    so stale entries never pile up behind an overdue one at the top of the heap. Tasks without
    an estimate cost nothing at launch: reservations read them last, from ``running`` (the
    scheduler's running tasks by id)."""

    __slots__ = ("heap", "overdue", "running")

    def __init__(self, running: Mapping[int, CoreTask]) -> None:
        self.heap: list[RunEntry] = []
        self.overdue: dict[int, RunEntry] = {}
        self.running = running

    def _live(self, e: RunEntry) -> CoreTask | None:
        """The task of ``e`` if ``e`` is its live launch (launched or running), else None."""
        t = self.running.get(e[1])
        if t is not None and t.attempt == e[2] and (t.state is LAUNCHED or t.state is RUNNING):
            return t
        return None

    def size(self) -> int:
        """Entries held (live or stale)."""
        return len(self.heap) + len(self.overdue)

    def launched(self, t: CoreTask, now: float) -> None:
        """``t`` (which has an estimate) was launched at ``now``."""
        heap = self.heap
        if len(heap) > 2 * len(self.running) + 64:
            live = self._live
            heap[:] = [e for e in heap if live(e) is not None]
            heapq.heapify(heap)
        heapq.heappush(heap, (now + t.est, t.id, t.attempt))

    def ended(self, t: CoreTask) -> None:
        """``t`` ended (the scheduler calls this only while some task is overdue)."""
        self.overdue.pop(t.id, None)

    def in_order(self, now: float) -> Iterator[tuple[float, Placement]]:
        """Expected ends and placements of the running tasks, earliest first (``inf`` for the
        tasks without an estimate, by id)."""
        heap, overdue, live = self.heap, self.overdue, self._live
        while heap:
            e = heap[0]
            if live(e) is None:
                heapq.heappop(heap)
            elif e[0] <= now:
                overdue[e[1]] = heapq.heappop(heap)
            else:
                break
        running = self.running
        for e in list(overdue.values()):
            t = running.get(e[1])     # left by each task as it ends: its live launch
            if t is not None and t.placement is not None:
                yield e[0], t.placement
        if heap:
            # Walk the heap in order without popping: a small heap of frontier positions.
            frontier = [(heap[0], 0)]
            size = len(heap)
            while frontier:
                e, i = heapq.heappop(frontier)
                t = live(e)
                if t is not None and t.placement is not None:
                    yield e[0], t.placement
                left = 2 * i + 1
                if left < size:
                    heapq.heappush(frontier, (heap[left], left))
                    if left + 1 < size:
                        heapq.heappush(frontier, (heap[left + 1], left + 1))
        for tid in sorted(tid for tid, t in self.running.items() if not t.est):
            t = self.running[tid]
            if t.placement is not None and (t.state is LAUNCHED
                                            or t.state is RUNNING):
                yield math.inf, t.placement


def reserve(pool: ResourcePool, blocked: CoreTask, releases: Releases, now: float
            ) -> Reservation | None:
    """Where and when ``blocked`` fits at the earliest, if running tasks end when their
    estimates say (never, for a task without an estimate)."""
    return pool.reserve(blocked.req, releases.in_order(now), now)


def reserve_on_node(pool: ResourcePool, t: CoreTask, releases: Releases, now: float
                    ) -> Reservation | None:
    """When the blocked resuming task ``t`` gets its cores back on its own node, if running
    tasks end as their estimates say."""
    assert t.placement is not None
    node = t.placement.node
    need = t.req.cores
    found = free_by(pool, node, need, 0, releases, now)
    if found is None:
        return None
    at, cores, gpus = found
    return Reservation(at=at, node=node, spare_cores=cores - need, spare_gpus=gpus)


def room_on_node(pool: ResourcePool, node: str, cores: int, gpus: int, releases: Releases,
                 now: float) -> float | None:
    """When ``cores`` and ``gpus`` are free on ``node`` at the earliest, if running tasks end
    as their estimates say (``None``: not before an end no estimate tells)."""
    found = free_by(pool, node, cores, gpus, releases, now)
    return None if found is None or found[0] == math.inf else found[0]


def free_by(pool: ResourcePool, node: str, cores: int, gpus: int, releases: Releases,
            now: float) -> tuple[float, int, int] | None:
    """``(when, free cores, free GPUs)``: the first time ``node`` has ``cores`` and ``gpus``
    free, counting the releases of running tasks in expected-end order."""
    free_c, free_g = pool.free_on(node)
    if free_c >= cores and free_g >= gpus:
        return now, free_c, free_g
    for when, placement in releases.in_order(now):
        for s in placement.slots:
            if s.node == node:
                free_c += len(s.cores)
                free_g += len(s.gpus)
        if free_c >= cores and free_g >= gpus:
            return when, free_c, free_g
    return None


def may_backfill(
    t: CoreTask, placement: Placement, res: Reservation | None, now: float,
) -> tuple[bool, Reservation | None]:
    """EASY backfilling: ``t`` may pass the blocked task if it ends (by its estimate) before the
    reservation, runs on another node, or fits in what the reservation leaves spare (which it
    then uses up). Returns whether it may, and the reservation left for the next candidate."""
    if res is None:
        return False, res
    if t.est and now + t.est <= res.at:
        return True, res
    if len(placement.slots) == 1 and placement.slots[0].node != res.node:
        return True, res
    cores = sum(len(s.cores) for s in placement.slots if s.node == res.node)
    gpus = sum(len(s.gpus) for s in placement.slots if s.node == res.node)
    if cores <= res.spare_cores and gpus <= res.spare_gpus:
        return True, dataclasses.replace(
            res, spare_cores=res.spare_cores - cores, spare_gpus=res.spare_gpus - gpus)
    return False, res
