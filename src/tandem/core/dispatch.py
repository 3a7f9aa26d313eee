"""The scheduling pass: take ready tasks in policy order and place those that fit.

Contract: pure functions over the core's state (:class:`~tandem.core.state.CoreState`): its
queue, resource pool and pool quotas; a task placed is launched (or resumed) through
:func:`tandem.core.transitions.launch`. No I/O, no clock.

Rules:

- the queue holds one bucket per shape (:mod:`tandem.core.policy`): once a task of a shape does
  not fit, no other of that shape can in the same pass. Plain buckets (no resource pools, not
  resuming) go straight to the resource pool;
- a bucket of a pool whose quota cannot take its request is skipped: its tasks wait for their
  own pool (or a quota move) and reserve nothing, so they never hold back other pools;
- otherwise the first blocked task gets a reservation and others may pass it only as backfill
  allows (:mod:`tandem.core.backfill`); a resuming task's reservation is on its own node;
- a task whose inputs are kept on a node (a ``near`` bucket) goes there, or waits for it, or
  elsewhere, by :mod:`tandem.core.locality`'s rule; a task waiting for its home is not a
  blocked task (it reserves nothing);
- a task that needs nothing (``cores=0, gpus=0``: a stream's reader) fits on any live node
  at any time, so it is placed even while every core and GPU is held;
- with a walltime (``core.wall``), a ready task that would not end in time is deferred instead
  of placed, and once the walltime is over nothing is placed (:mod:`tandem.core.walltime`):
  its own pass (:func:`walled`), so a session without one pays a test per pass, no more.

Imports: tandem.core.actions, tandem.core.backfill, tandem.core.locality, tandem.core.policy,
tandem.core.pool,
tandem.core.state, tandem.core.states, tandem.core.task, tandem.core.transitions,
tandem.core.values, tandem.core.walltime.
"""

from __future__ import annotations

import heapq
from typing import Any

from tandem.core.actions import Action
from tandem.core.backfill import may_backfill, reserve, reserve_on_node
from tandem.core.locality import place_near
from tandem.core.policy import Bucket
from tandem.core.pool import Reservation
from tandem.core.state import CoreState
from tandem.core.states import RESUMING
from tandem.core.task import CoreTask
from tandem.core.transitions import launch
from tandem.core.values import Placement
from tandem.core.walltime import after_pass, defers


def schedule(core: CoreState, now: float, out: list[Action]) -> None:
    """One pass: launch (or resume) every waiting task that may start now."""
    if core.wall is not None:
        walled(core, now, out)
        return
    pool = core.pool
    q = core.queue
    if pool.free_cores <= 0 and pool.free_gpus <= 0 and not (q.light and q.light_waiting()):
        return
    bucket = q.only
    if bucket is None:
        fill(core, now, out)
        return
    one_shape(core, bucket, now, out, False)


def walled(core: CoreState, now: float, out: list[Action]) -> None:
    """The pass with a walltime: :func:`schedule`'s, where a ready task that would not end in
    time is deferred instead of placed, nothing is placed once the walltime is over, and the
    deferred tasks end early when nothing else can happen (:mod:`tandem.core.walltime`)."""
    pool = core.pool
    q = core.queue
    if pool.free_cores <= 0 and pool.free_gpus <= 0 and not (q.light and q.light_waiting()):
        return
    bucket = q.only
    if core.wall_over:
        bucket = None       # nothing is placed; after_pass ends what came back to the queue
    elif bucket is None:
        fill(core, now, out)
    if bucket is not None:
        one_shape(core, bucket, now, out, True)
    after_pass(core, now, out)


def one_shape(core: CoreState, bucket: Bucket, now: float, out: list[Action],
              wall: bool) -> None:
    """The pass when every waiting task has one shape: strict order within it, no heap of
    heads; with ``wall``, a task that would not end in time is deferred instead."""
    pool = core.pool
    q = core.queue
    peek = q.peek
    shape = bucket.req
    plain = bucket.plain
    light = shape.needs_nothing
    while light or pool.free_cores > 0 or pool.free_gpus > 0:
        first = peek(bucket)
        if first is None:
            return
        if wall and defers(core, first, now, out):
            q.pop(bucket, first)
            continue
        if plain:
            placement = pool.try_place(shape)
        elif admits(core, bucket):
            placement = place(core, bucket, first, now)
        else:
            return
        if placement is None:
            return
        q.pop(bucket, first)
        launch(core, first, placement, now, out)


def fill(core: CoreState, now: float, out: list[Action]) -> None:
    """The pass over several shapes: the heads of the buckets in policy order, with a
    reservation for the first blocked task and backfill behind it."""
    pool = core.pool
    q = core.queue
    peek = q.peek
    wall = core.wall
    heads = q.heads()
    blocked: Any = None
    reservation: Reservation | None = None
    reserved = False
    backfill = core.policy.backfill
    while heads:
        if not pool.can_fit_anything():     # only requests of nothing can still be placed
            heads = [h for h in heads if h[1].req.needs_nothing]
            if not heads:
                return
            heapq.heapify(heads)
        _, bucket = heapq.heappop(heads)
        t: Any = peek(bucket)
        plain = bucket.plain
        if not plain and not admits(core, bucket):
            continue    # its pool is at its quota: it waits for its own pool, reserves nothing
        if wall is not None and defers(core, t, now, out):
            q.pop(bucket, t)
            nxt = peek(bucket)
            if nxt is not None:
                heapq.heappush(heads, (nxt.entry, bucket))
            continue
        if blocked is not None and not reserved:
            # Where the blocked task will fit, computed before a candidate takes anything.
            reservation = reserve_for(core, blocked, now)
            reserved = True
        placement = pool.try_place(bucket.req) if plain else place(core, bucket, t, now)
        if placement is not None and blocked is not None:
            allowed, reservation = may_backfill(t, placement, reservation, now)
            if not allowed:
                unplace(core, bucket, placement)
                placement = None
        if placement is None:
            if bucket.near is not None and t.id in core.waits:
                continue        # it waits for the node its inputs are on: not blocked
            if blocked is None:
                if not backfill:
                    return
                blocked = t
            continue
        q.pop(bucket, t)
        launch(core, t, placement, now, out)
        nxt = peek(bucket)
        if nxt is not None:
            heapq.heappush(heads, (nxt.entry, bucket))


def admits(core: CoreState, bucket: Bucket) -> bool:
    """Whether the bucket's pool (if any) may take one more of its tasks now."""
    q = core.quotas
    if q is None or bucket.pool is None:
        return True
    req = bucket.req
    return q.admits(bucket.pool, req.total_cores, req.total_gpus)


def place(core: CoreState, bucket: Bucket, t: CoreTask, now: float) -> Placement | None:
    """Place ``t``, of a bucket that is not plain (its pool admits it): on any node, on its
    own node for a resuming task, near its inputs by the locality rule; its pool is
    charged."""
    req = bucket.req
    if bucket.near is not None:
        placement = place_near(core, bucket, t, now)
    elif bucket.node is None:
        placement = core.pool.try_place(req)
    else:
        placement = core.pool.try_place_on(bucket.node, req)
    if placement is not None and bucket.pool is not None and core.quotas is not None:
        core.quotas.take(bucket.pool, req.total_cores, req.total_gpus)
    return placement


def unplace(core: CoreState, bucket: Bucket, placement: Placement) -> None:
    """Give back what :func:`place` (or the plain path) took."""
    req = bucket.req
    core.pool.release(placement, req)
    if bucket.pool is not None and core.quotas is not None:
        core.quotas.give(bucket.pool, req.total_cores, req.total_gpus)


def reserve_for(core: CoreState, blocked: CoreTask, now: float) -> Reservation | None:
    if blocked.state is RESUMING:
        return reserve_on_node(core.pool, blocked, core.releases, now)
    return reserve(core.pool, blocked, core.releases, now)
