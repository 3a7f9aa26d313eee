"""Checking a batch of events before any is applied, so that ``handle_many`` is all or nothing.

Contract: :func:`check_batch` raises what applying the events in order would raise (a
:class:`~tandem.errors.SpecError` for an unknown task id, a bad priority, a pool move that is
too large or without pools, an unknown dependency; an
:class:`~tandem.errors.InfeasibleRequest` for a submission that can never fit; a
:class:`~tandem.errors.TandemInternalError` for an unknown event, a duplicate task id or an
exit that cannot be), taking into account what the earlier events of the batch do (tasks they
submit, attempts they end, quota they move); it changes nothing but caches. Pure: no I/O, no
clock.

Imports: tandem.core.events, tandem.core.nodes, tandem.core.recompute, tandem.core.state,
tandem.core.states, tandem.core.steering, tandem.errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from tandem.core.events import (
    CancelRequested,
    Exited,
    NodeLost,
    PauseRequested,
    PreemptRequested,
    PriorityChanged,
    QuotaMoved,
    Restored,
    ResumeRequested,
    Started,
    Submitted,
    TimerFired,
)
from tandem.core.nodes import check_node_lost
from tandem.core.recompute import check as check_recompute
from tandem.core.state import CoreState
from tandem.core.states import DONE, LAUNCHED, RUNNING, STOPPED
from tandem.core.steering import check_cancel, check_priority
from tandem.errors import SpecError, TandemInternalError

_ON_A_TASK = frozenset({Started, CancelRequested, PauseRequested, ResumeRequested,
                        PreemptRequested, PriorityChanged})


def unknown(event: object) -> NoReturn:
    raise TandemInternalError(f"scheduler got an unknown event {event!r}")


def check_batch(s: CoreState, events: Sequence[Any]) -> bool:
    """Raise if one of ``events``, applied in order after the ones before it, would; True when
    they are a plain burst (:func:`plain_burst`)."""
    if plain_burst(s, events):
        return True
    check_each(s, events)
    return False


def plain_burst(s: CoreState, events: Sequence[Any]) -> bool:
    """Whether ``events`` are submissions that cannot raise: new and distinct ids, no
    dependencies, no pools, one request object that fits somewhere (an infeasible one raises
    here, as :func:`check_each` would on the first event). False when that is not known
    (:func:`check_each` decides). The common burst, checked in two tight passes."""
    if s.quotas is not None:
        return False
    req = events[0].spec.resources if type(events[0]) is Submitted else None
    for ev in events:
        if type(ev) is not Submitted or ev.deps or ev.replaces is not None:
            return False
        spec = ev.spec
        if spec.resources is not req or spec.pool is not None:
            return False
    ids = {ev.task_id for ev in events}
    if len(ids) != len(events) or not s.tasks.keys().isdisjoint(ids):
        return False
    if req not in s.queue.buckets:
        s.check_feasible(events[0].spec)
    return True


def check_each(s: CoreState, events: Sequence[Any]) -> None:
    """:func:`check_batch`, event by event."""
    tasks = s.tasks
    buckets = s.queue.buckets
    plain = s.quotas is None
    new: set[int] = set()          # submitted by this batch
    add = new.add
    ended: set[int] = set()        # attempts ended by this batch
    moves: list[tuple[str, str, int, int]] = []
    known: object = None           # a request already found feasible (by identity: cheap)
    for ev in events:
        tp = type(ev)
        if tp is Submitted or tp is Restored:
            tid = ev.task_id
            if tid in tasks or tid in new:
                raise TandemInternalError(f"task id {tid} submitted twice")
            add(tid)
            spec = ev.spec
            if tp is Restored:
                for d in ev.deps:
                    if d not in new and (d not in tasks or tasks[d].state is not DONE):
                        raise TandemInternalError(
                            f"task {tid} ({spec.name!r}) restored while dependency {d} is "
                            "not done")
                continue
            req = spec.resources
            if not plain or spec.pool is not None:
                s.check_feasible(spec)
            elif req is not known:
                if req not in buckets:
                    s.check_feasible(spec)
                known = req
            if ev.deps:
                for d in ev.deps:
                    if d not in tasks and d not in new:
                        raise SpecError(f"task {spec.name!r} depends on unknown task id {d}")
            if ev.replaces is not None:
                check_recompute(s, tid, ev.replaces)
        elif tp is Exited:
            tid = ev.task_id
            t = tasks.get(tid)
            if t is None and tid not in new:
                s.task(tid)    # raises: no such task
            if t is None or tid in ended or not (
                    t.state is RUNNING or t.state is LAUNCHED or t.state in STOPPED):
                st = "pending" if t is None else t.state.value
                if tid in ended:
                    st = "not running (it already exited in this batch)"
                raise TandemInternalError(f"task {tid} reported exited while {st}")
            ended.add(tid)
        elif tp in _ON_A_TASK:
            tid = ev.task_id
            t = tasks.get(tid)
            if t is None and tid not in new:
                s.task(tid)    # raises: no such task
            if tp is CancelRequested:
                check_cancel(ev)
            elif tp is PriorityChanged:
                check_priority(ev, t.spec.name if t is not None else f"task {tid}")
        elif tp is QuotaMoved:
            if s.quotas is None:
                raise SpecError("move: this session has no resource pools "
                                "(open it with pools=...)")
            moves.append((ev.source, ev.target, ev.cores, ev.gpus))
        elif tp is NodeLost:
            check_node_lost(s, ev)
        elif tp is not TimerFired:
            unknown(ev)
    if moves:
        assert s.quotas is not None
        s.quotas.check_moves(moves)
