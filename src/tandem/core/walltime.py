"""The walltime in the core: hold back what cannot finish in time, and end the rest in order.

Contract: pure functions over the core's state (:class:`~tandem.core.state.CoreState`) when it
was given a :class:`~tandem.core.values.Walltime` (``s.wall``); nothing here runs without one.
Changes of tasks go through :mod:`tandem.core.transitions` (and the preemption through
:func:`tandem.core.steering.on_preempt`, so it is recorded as a steering action). No I/O, no
clock: ``now`` comes in.

Rules:

- a task's *need* is its estimate, or its timeout when it has none or the timeout is shorter
  (a timeout is an upper bound: the task has ended by then either way). A task with neither
  has no need the core can check: it is launched, and is preempted at the end if it is still
  running. A task preempted earlier needs its whole estimate again (the core does not know how
  far its checkpoint got);
- the scheduling pass launches a ready task only if ``now + need <= wall.launch_by``; one that
  would end later is *deferred*: taken out of the ready queue (it stays ``READY``) and
  announced once with a ``Steered(DEFER, by="walltime")`` action (the trace's ``steer``
  record). Time only moves on, so a deferred task never fits again;
- when nothing runs and nothing else waits in the ready queue, only deferred tasks and tasks
  that wait for them are left: nothing can happen before the end, so they end at once (the
  session closes early and the allocation can be given back);
- at ``wall.preempt_at`` (the core's deadline, a ``TimerFired``), every running task is
  preempted with ``wall.grace`` seconds (a task that released its cores in a pause is ended:
  it has no cores to checkpoint on), every waiting task ends, and from then on nothing is
  launched: each task that comes back to the queue (a preempted attempt that exited) or is
  submitted ends at the next pass;
- every task the walltime ends is ``CANCELLED`` with a ``WALLTIME`` failure by ``"walltime"``
  whose message says why and that ``resume=True`` in the next allocation continues it; tasks
  are ended dependents first, so each names the walltime, not its upstream.

Imports: tandem.core.actions, tandem.core.events, tandem.core.handlers, tandem.core.state,
tandem.core.states, tandem.core.steering, tandem.core.task, tandem.core.transitions,
tandem.core.values.
"""

from __future__ import annotations

from tandem.core import handlers, steering
from tandem.core.actions import Action, Kill, Steered
from tandem.core.events import PreemptRequested, TimerFired
from tandem.core.state import CoreState
from tandem.core.states import (
    CANCELLED,
    LAUNCHED,
    PAUSED,
    PENDING,
    READY,
    RESUMING,
    RUNNING,
    SUSPENDED,
)
from tandem.core.task import CoreTask
from tandem.core.transitions import finish, kill
from tandem.core.values import Failure, FailureKind, KillCause, SteerAction

BY = "walltime"
"""Who the walltime's actions are by (steering records, failures)."""
DEFERRED = "deferred: does not fit the remaining walltime"
"""The reason of a deferral (the trace's ``steer`` record)."""
RESUME_HINT = "open the next session with resume=True to continue it"
PREEMPTED = ("was preempted when the walltime ended (a checkpoint it wrote is in its task "
             "directory)")
PREEMPT_SIGNAL = 15   # SIGTERM: the preemption protocol's default signal (docs/steering.md)


def need(t: CoreTask) -> float | None:
    """Seconds ``t`` is expected to run for, at most (``None``: no estimate and no timeout)."""
    timeout = t.spec.timeout
    if t.est:
        return t.est if timeout is None or timeout > t.est else timeout
    return timeout


def defers(s: CoreState, t: CoreTask, now: float, out: list[Action]) -> bool:
    """Whether the ready task ``t`` (just taken off the queue by the caller when this returns
    ``True``) would not end by the launch limit; if so it is recorded as deferred."""
    wall = s.wall
    assert wall is not None
    n = need(t)
    if n is None or now + n <= wall.launch_by:
        return False
    s.deferred[t.id] = t
    out.append(Steered(SteerAction.DEFER, t.id, BY, DEFERRED, (
        ("needs", round(n, 6)), ("left", round(max(0.0, wall.launch_by - now), 6)))))
    return True


def on_timer(s: CoreState, ev: TimerFired, now: float, out: list[Action]) -> None:
    """The handler of :class:`TimerFired`: the walltime's end when it is due, then the
    timeouts (:func:`tandem.core.handlers.on_timer`)."""
    wall = s.wall
    if wall is not None and not s.wall_over and now >= wall.preempt_at:
        end(s, now, out)
    handlers.on_timer(s, ev, now, out)


def deadline(s: CoreState) -> float | None:
    """When the walltime's end must be handled (``None``: no walltime, or it was)."""
    wall = s.wall
    return None if wall is None or s.wall_over else wall.preempt_at


def end(s: CoreState, now: float, out: list[Action]) -> None:
    """The walltime ends: preempt what runs, end what waits, launch nothing more."""
    wall = s.wall
    assert wall is not None
    s.wall_over = True
    grace = wall.grace
    why = f"the walltime ends in {grace:g} s: checkpoint and exit"
    for t in sorted(s.running.values(), key=lambda x: x.id):
        st = t.state
        if t.kill is not None:
            continue        # already being ended (a timeout, a cancel, a preemption)
        if st is SUSPENDED or st is RESUMING:
            kill(t, KillCause.WALLTIME, _message(t, "was paused without its cores when the "
                                                 "walltime ended (no cores to checkpoint on)"),
                 BY)
            out.append(Kill(t.id, KillCause.WALLTIME))
        elif st is LAUNCHED or st is RUNNING or st is PAUSED:
            steering.on_preempt(s, PreemptRequested(
                task_id=t.id, grace=grace, signal=PREEMPT_SIGNAL, by=BY, reason=why), now, out)
    end_waiting(s, now, out, "never started: the walltime ended first")
    s.dirty = True


def end_waiting(s: CoreState, now: float, out: list[Action], what: str) -> None:
    """End every task that waits (pending, ready, deferred), dependents first; ``what`` says
    why for those neither deferred nor preempted before."""
    waiting = [t for t in s.tasks.values() if t.state is PENDING or t.state is READY]
    for t in sorted(waiting, key=lambda x: -x.id):
        if t.state is not PENDING and t.state is not READY:
            continue
        if t.id in s.deferred:
            how = (f"was deferred: it does not fit the remaining walltime (needs "
                   f"{need(t):g} s)")
        elif t.preempted:
            how = PREEMPTED
        else:
            how = what
        finish(s, t, CANCELLED, _failure(t, how), now, out)
    s.deferred.clear()


def after_pass(s: CoreState, now: float, out: list[Action]) -> None:
    """After a scheduling pass with a walltime: once it is over, end what came back to the
    queue; before, end the deferred tasks early when nothing else can happen."""
    if s.wall_over:
        _end_queued(s, now, out)
        return
    if not s.deferred or s.running or s.queue.heads():
        return
    end_waiting(s, now, out, "never started: it waits for a task that does not fit the "
                             "remaining walltime")


def _end_queued(s: CoreState, now: float, out: list[Action]) -> None:
    q = s.queue
    for bucket in list(q.buckets.values()):
        while True:
            t = q.peek(bucket)
            if t is None:
                break
            q.pop(bucket, t)
            if t.state is RESUMING:
                continue    # it holds its node and GPUs: its exit ends it (it was killed)
            how = PREEMPTED if t.preempted else "was submitted after the walltime ended"
            finish(s, t, CANCELLED, _failure(t, how), now, out)


def _message(t: CoreTask, how: str) -> str:
    return f"task {t.spec.name!r} {how}; {RESUME_HINT}"


def _failure(t: CoreTask, how: str) -> Failure:
    return Failure(kind=FailureKind.WALLTIME, message=_message(t, how), root_task_id=t.id,
                   by=BY)
