"""Data-aware placement: a task goes where its inputs are kept, unless waiting for that node
would cost more than moving them.

Contract: pure functions over the core's state (:class:`~tandem.core.state.CoreState`), on
only when the policy's ``locality`` is on and the platform has several nodes
(``CoreState.locality``). The core learns what a finished task left on its node from
:class:`~tandem.core.events.Exited`'s ``kept`` (bytes of its result kept by reference). No I/O,
no clock.

The rule:

- a task's **home** is the node that holds the most bytes of its dependencies' kept results
  (ties: the first such dependency's node); a task with none has no home and is placed as
  before. The home is chosen when the task becomes ready, and the task waits in its home's
  ``near`` bucket of the ready queue;
- it is placed on its home when it fits there now;
- otherwise it **may wait** for its home, but never longer than moving its inputs there
  would take — ``move = network.latency + bytes / network.bandwidth`` (the platform's
  :class:`~tandem.spec.platform.Network`), counted from when it became ready — and only if
  the running tasks' estimates say room for it opens on its home before that time is up
  (so without estimates it never waits). A waiting task is not a blocked one: it takes no
  backfill reservation;
- when it does not wait (or its time is up: the core's deadline, a ``TimerFired``), it is
  placed wherever it fits, as any task, and its inputs travel to it.

Imports: tandem.core.backfill, tandem.core.policy, tandem.core.state, tandem.core.task,
tandem.core.values.
"""

from __future__ import annotations

import heapq

from tandem.core.backfill import room_on_node
from tandem.core.policy import Bucket
from tandem.core.state import CoreState
from tandem.core.task import CoreTask
from tandem.core.values import Placement


def home_of(s: CoreState, t: CoreTask) -> tuple[str, int] | None:
    """``(node, bytes)``: where most of ``t``'s dependencies' kept bytes are, or ``None``."""
    held: dict[str, int] = {}
    tasks = s.tasks
    for d in t.deps:
        p = tasks.get(d)
        if p is not None and p.kept and p.placement is not None:
            node = p.placement.node
            held[node] = held.get(node, 0) + p.kept
    if not held:
        return None
    node = max(held, key=held.__getitem__)     # the first of the largest, in deps order
    return node, held[node]


def home_bucket(s: CoreState, t: CoreTask) -> Bucket | None:
    """The ``near`` bucket of ``t``'s home (``None``: no home); the caller queues it there."""
    home = home_of(s, t)
    if home is None:
        return None
    bucket: Bucket = t.bucket
    return s.queue.bucket_for(bucket.req, bucket.pool, None, home[0])


def place_near(s: CoreState, bucket: Bucket, t: CoreTask, now: float) -> Placement | None:
    """Place ``t`` (of a ``near`` bucket) by the rule: on its home now, else elsewhere unless
    it waits for its home (then ``None``, and ``s.waits`` holds until when)."""
    home = bucket.near
    assert home is not None
    pool = s.pool
    req = bucket.req
    if home in pool.lost:           # its inputs went with the node: place it anywhere
        placement = pool.try_place(req)
    else:
        placement = pool.try_place_on(home, req)
        if placement is None and may_leave(s, t, home, now):
            placement = pool.try_place(req)
    if placement is not None and s.waits:
        s.waits.pop(t.id, None)
    return placement


def may_leave(s: CoreState, t: CoreTask, home: str, now: float) -> bool:
    """Whether ``t``, which does not fit on its home now, may go elsewhere now (else it waits,
    and ``s.waits`` holds until when)."""
    waits = s.waits
    until = waits.get(t.id)
    if until is None:
        until = worth_waiting(s, t, home, now)
        if until is None:
            return True
        waits[t.id] = until
        heapq.heappush(s.wait_heap, (until, t.id))
    return now >= until


def worth_waiting(s: CoreState, t: CoreTask, home: str, now: float) -> float | None:
    """Until when ``t`` may wait for ``home`` (``None``: it should not wait at all)."""
    start = t.ready_at if t.ready_at is not None else now
    found = home_of(s, t)       # the bytes that would move if t ran anywhere but its home
    nbytes = found[1] if found is not None and found[0] == home else 0
    until = start + s.platform.network.transfer_s(nbytes)
    if until <= now:
        return None
    at = room_on_node(s.pool, home, t.req.cores, t.req.gpus, s.releases, now)
    return until if at is not None and at < until else None


def waiting(s: CoreState, t: CoreTask) -> bool:
    """Whether ``t`` is waiting for its home now."""
    return t.id in s.waits


def next_wait(s: CoreState) -> float | None:
    """When the first wait is up (stale entries are dropped on the way)."""
    heap, waits = s.wait_heap, s.waits
    while heap:
        until, tid = heap[0]
        if waits.get(tid) == until:
            return until
        heapq.heappop(heap)
    return None


def expire(s: CoreState, now: float) -> None:
    """Waits that are up make a scheduling pass due (the tasks are placed anywhere then)."""
    heap, waits = s.wait_heap, s.waits
    while heap and heap[0][0] <= now:
        until, tid = heapq.heappop(heap)
        if waits.get(tid) == until:
            s.dirty = True
