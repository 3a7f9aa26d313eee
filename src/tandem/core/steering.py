"""Steering in the core: cancel, pause, resume, preempt, change priority, move pool quota.

Contract: the handlers of the steering events, ``(state, event, now, out) -> None``, each of
which checks the event before it changes anything and makes its changes through
:mod:`tandem.core.transitions` (what happens when a resuming task is placed again or a
preempted one exits is there too). Pure (no I/O, no clock; ``now`` comes in). Every action that
takes effect is announced with a :class:`Steered` action (for instruments and the trace),
placed before the actions it causes.

Rules:

- a request that does not apply to the task's state (pausing a task that is not running,
  resuming one that is not paused, anything on a task that has ended) is ignored, and not
  recorded;
- a pause stops the task's tree where it is. Without ``release`` it keeps everything. With
  ``release`` (one-rank tasks that hold cores) its cores go back to the pool, and to its pool's
  quota; its GPU ids, memory and node stay with it. Resumed, it waits (``RESUMING``) in the
  ready queue under the same order as ready tasks for as many cores on its node, and is
  re-pinned to them;
- paused time does not count towards a timeout: the time left is kept and re-armed on resume;
- a preempted task's exit, whatever its status, puts it back in the ready queue with the same
  key; it is not a failure and does not use a retry. A stopped task is continued to receive the
  signal; a suspended one is first placed again (it needs cores to checkpoint on).

Imports: tandem.core.actions, tandem.core.events, tandem.core.state, tandem.core.states,
tandem.core.transitions, tandem.core.values, tandem.errors, tandem.spec.
"""

from __future__ import annotations

from tandem.core import transitions as tr
from tandem.core.actions import Action, Kill, Pause, Resume, Steered
from tandem.core.events import (
    CancelRequested,
    PauseRequested,
    PreemptRequested,
    PriorityChanged,
    QuotaMoved,
    ResumeRequested,
)
from tandem.core.state import CoreState
from tandem.core.states import (
    CANCELLED,
    FINAL,
    LAUNCHED,
    PAUSED,
    PENDING,
    READY,
    RESUMING,
    RUNNING,
    STOPPED,
    SUSPENDED,
)
from tandem.core.values import Failure, FailureKind, KillCause, SteerAction
from tandem.errors import SpecError
from tandem.spec.checks import is_int

CANCEL_CAUSES = frozenset({KillCause.CANCEL, KillCause.SHUTDOWN})
"""The causes a :class:`CancelRequested` may carry."""


def check_cancel(ev: CancelRequested) -> None:
    if ev.cause not in CANCEL_CAUSES:
        raise SpecError(f"cancel of task {ev.task_id}: cause must be KillCause.CANCEL or "
                        f"KillCause.SHUTDOWN, got {ev.cause!r}")


def check_priority(ev: PriorityChanged, name: str) -> None:
    if not is_int(ev.priority):
        raise SpecError(f"task {name!r}: priority must be an integer, got {ev.priority!r}")


def check_move(s: CoreState, ev: QuotaMoved) -> None:
    if s.quotas is None:
        raise SpecError("move: this session has no resource pools (open it with pools=...)")
    s.quotas.check_move(ev.source, ev.target, ev.cores, ev.gpus)


# -- cancel --------------------------------------------------------------------------------
def on_cancel(s: CoreState, ev: CancelRequested, now: float, out: list[Action]) -> None:
    t = s.task(ev.task_id)
    check_cancel(ev)
    st = t.state
    if st in FINAL:
        return
    if ev.by is not None:
        out.append(Steered(SteerAction.CANCEL, t.id, ev.by, ev.reason))
    if st is LAUNCHED or st is RUNNING or st in STOPPED:
        if t.kill is None or t.preempting:
            tr.kill(t, ev.cause, ev.reason, ev.by)
            out.append(Kill(t.id, ev.cause))
        return
    failure = Failure(kind=FailureKind.CANCELLED, message=ev.reason, root_task_id=t.id,
                      by=ev.by)
    tr.finish(s, t, CANCELLED, failure, now, out)


# -- pause and resume ----------------------------------------------------------------------
def on_pause(s: CoreState, ev: PauseRequested, now: float, out: list[Action]) -> None:
    t = s.task(ev.task_id)
    st = t.state
    if st is RESUMING:      # asked to resume, not placed yet: stays stopped, off the queue
        tr.pause_resuming(t)
        out.append(Steered(SteerAction.PAUSE, t.id, ev.by, ev.reason, (("release", True),)))
        return
    if (st is not RUNNING and st is not LAUNCHED) or t.kill is not None:
        return
    placement = t.placement
    assert placement is not None
    release = ev.release and len(placement.slots) == 1 and bool(placement.cores)
    tr.pause(s, t, release, now)
    out.append(Steered(SteerAction.PAUSE, t.id, ev.by, ev.reason, (("release", release),)))
    out.append(Pause(t.id, release))


def on_resume(s: CoreState, ev: ResumeRequested, now: float, out: list[Action]) -> None:
    t = s.task(ev.task_id)
    st = t.state
    if st is PAUSED:
        out.append(Steered(SteerAction.RESUME, t.id, ev.by, ev.reason))
        tr.resume(s, t, now)
        out.append(Resume(t.id))
    elif st is SUSPENDED:
        out.append(Steered(SteerAction.RESUME, t.id, ev.by, ev.reason))
        tr.queue_resume(s, t)


# -- preemption ----------------------------------------------------------------------------
def on_preempt(s: CoreState, ev: PreemptRequested, now: float, out: list[Action]) -> None:
    t = s.task(ev.task_id)
    st = t.state
    if st in FINAL or st is PENDING or st is READY or t.kill is not None \
            or t.preempt_next is not None:
        return
    details = (("grace", ev.grace), ("signal", ev.signal))
    out.append(Steered(SteerAction.PREEMPT, t.id, ev.by, ev.reason, details))
    if st is SUSPENDED or st is RESUMING:
        tr.preempt_later(s, t, ev.signal, ev.grace)
        return
    if st is PAUSED:
        tr.continue_to_checkpoint(t)
    tr.preempt(t, ev.signal, ev.grace, out)


# -- priority and pools --------------------------------------------------------------------
def on_priority(s: CoreState, ev: PriorityChanged, now: float, out: list[Action]) -> None:
    t = s.task(ev.task_id)
    check_priority(ev, t.spec.name)
    if t.state in FINAL:
        return
    out.append(Steered(SteerAction.PRIORITY, t.id, ev.by, ev.reason,
                       (("priority", ev.priority), ("was", t.prio))))
    tr.reprioritise(s, t, ev.priority)


def on_move(s: CoreState, ev: QuotaMoved, now: float, out: list[Action]) -> None:
    check_move(s, ev)
    tr.move_quota(s, ev.source, ev.target, ev.cores, ev.gpus)
    out.append(Steered(SteerAction.MOVE, None, ev.by, ev.reason, (
        ("from", ev.source), ("to", ev.target), ("cores", ev.cores), ("gpus", ev.gpus))))
