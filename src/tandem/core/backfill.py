"""Backfill: may a ready task pass the first blocked one without delaying it?

Contract: pure functions over the pool and the running tasks (EASY backfilling on duration
estimates); no I/O, no clock. Imports core values and the pool.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from tandem.core.pool import Reservation, ResourcePool
from tandem.core.task import CoreTask
from tandem.core.values import Placement


def reserve(pool: ResourcePool, blocked: CoreTask, running: Iterable[CoreTask], now: float
            ) -> Reservation | None:
    """Where and when ``blocked`` fits at the earliest, if running tasks end when their
    estimates say (never, for a task without an estimate)."""
    releases = sorted(
        ((r.launched + r.est if r.est and r.launched is not None else math.inf), r.id,
         r.placement)
        for r in running
    )
    return pool.reserve(blocked.req, [(e, p) for e, _, p in releases if p], now)


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
