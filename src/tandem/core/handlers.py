"""The handlers of the drivers' lifecycle events: a submission, a start, an exit, a timer.

Contract: one function per event type, ``(state, event, now, out) -> None``, that checks the
event before it changes anything (an event that raises was not applied) and makes its changes
through :mod:`tandem.core.transitions`. Pure: no I/O, no clock.

Imports: tandem.core.actions, tandem.core.events, tandem.core.graph, tandem.core.state,
tandem.core.states, tandem.core.task, tandem.core.transitions, tandem.core.values,
tandem.errors.
"""

from __future__ import annotations

import heapq

from tandem.core import graph
from tandem.core.actions import Action, Kill
from tandem.core.events import Exited, Started, Submitted, TimerFired
from tandem.core.state import CoreState
from tandem.core.states import LAUNCHED, RUNNING, STOPPED
from tandem.core.task import CoreTask
from tandem.core.transitions import end_downstream, exited, kill, make_ready, start
from tandem.core.values import KillCause
from tandem.errors import TandemInternalError

_TIMEOUT = KillCause.TIMEOUT


def on_submitted(s: CoreState, ev: Submitted, now: float, out: list[Action]) -> None:
    tid = ev.task_id
    tasks = s.tasks
    if tid in tasks:
        raise TandemInternalError(f"task id {tid} submitted twice")
    spec = ev.spec
    pool = None
    if s.quotas is None and spec.pool is None:
        req = spec.resources
        last = s.last_shape
        if last is not None and last[0] is req:    # the same request object as the last one
            bucket = last[1]
        else:
            found = s.queue.buckets.get(req)
            if found is None:       # a shape not seen before: check it can ever fit
                s.check_feasible(spec)
                found = s.queue.bucket_for(req)
            bucket = found
            s.last_shape = (req, bucket)
    else:
        s.check_feasible(spec)
        pool = s.pool_of(spec)
        bucket = s.queue.bucket_for(spec.resources, pool)
    deps = ev.deps
    t = CoreTask(tid, spec, deps, now, bucket, pool)
    failed_dep = graph.link(t, deps, tasks) if deps else None
    tasks[tid] = t
    s.unfinished += 1
    if s.barrier:
        s.levels.add(t.level)
    if failed_dep is not None:
        end_downstream(s, t, failed_dep, now, out)
        return
    if s.cp and deps:
        # Bottom levels are settled once per run of submissions (transitions.settle). A task
        # without dependencies raises no one's: it is queued now, and re-keyed by the
        # settling if a task of the same run depends on it.
        s.burst.append(t)
        if t.deps_left == 0:
            s.burst_ready.append(t)
    elif t.deps_left == 0:
        make_ready(s, t, now)


def on_started(s: CoreState, ev: Started, now: float, out: list[Action]) -> None:
    start(s.task(ev.task_id), now)


def on_exited(s: CoreState, ev: Exited, now: float, out: list[Action]) -> None:
    t = s.tasks.get(ev.task_id) or s.task(ev.task_id)
    st = t.state
    if st is not RUNNING and st is not LAUNCHED and st not in STOPPED:
        raise TandemInternalError(
            f"task {t.id} ({t.spec.name!r}) reported exited while {st.value}")
    exited(s, t, ev.failure, now, out)


def on_timer(s: CoreState, ev: TimerFired, now: float, out: list[Action]) -> None:
    d = s.deadlines
    tasks = s.tasks
    while d and d[0][0] <= now:
        when, tid, attempt = heapq.heappop(d)
        t = tasks.get(tid)
        if t is not None and live_deadline(t, when, attempt):
            kill(t, _TIMEOUT)
            out.append(Kill(t.id, _TIMEOUT))


def live_deadline(t: CoreTask, when: float, attempt: int) -> bool:
    """Whether ``(when, attempt)`` is the armed timeout of ``t``'s live, unkilled attempt."""
    return t.attempt == attempt and t.deadline == when and t.kill is None \
        and (t.state is LAUNCHED or t.state is RUNNING)

