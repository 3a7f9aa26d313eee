"""Every transition of a task, in one module; each state change goes through :func:`advance`.

Contract: functions over a :class:`~tandem.core.state.CoreState` and its tasks, called by the
event handlers (:mod:`tandem.core.handlers`, :mod:`tandem.core.steering`) and the scheduling
pass (:mod:`tandem.core.dispatch`); nothing else changes a task or the structures that
follow it (queue, running set, releases, deadlines, quotas, dirty flag), except that the
scheduling pass takes a queue head and its ids from the pool before it calls :func:`launch`,
and the scheduler clears the dirty flag when it makes that pass. Pure: no I/O, no clock
(``now`` comes in); actions are appended to ``out``.

Rules:

- :func:`advance` checks the move against the lifecycle (:data:`tandem.core.lifecycle.STEP`,
  the table by cause) and :func:`illegal` raises :class:`~tandem.errors.TandemInternalError`
  naming task, state and cause for one it lacks; the moves every task makes (dependencies
  done, placed, started, ended) inline that check: the same lookup, no call;
- a task leaves the queue (``entry = None``) whenever it stops waiting (a stale entry is
  skipped); a killed task keeps its resources until its ``Exited``; a finished task's
  dependents are made ready (it succeeded) or ended (it did not), transitively.

Imports: tandem.core.actions, tandem.core.critical_path, tandem.core.events, tandem.core.graph,
tandem.core.lifecycle, tandem.core.locality, tandem.core.outcome, tandem.core.recompute,
tandem.core.state, tandem.core.states, tandem.core.task, tandem.core.values, tandem.errors.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import NoReturn

from tandem.core import critical_path, graph, outcome, recompute
from tandem.core.actions import Action, Launch, Preempt, Resolve, Resume
from tandem.core.events import Exited, Restored, Started, Submitted
from tandem.core.lifecycle import END_CAUSE, END_STEP, STEP, Cause
from tandem.core.locality import home_bucket
from tandem.core.state import CoreState
from tandem.core.states import DONE, LAUNCHED, PENDING, READY, RESUMING, RUNNING, TaskState
from tandem.core.task import CoreTask
from tandem.core.values import Failure, KillCause, Placement, Slot
from tandem.errors import TandemInternalError

DEPS_DONE, PLACED, STARTED = Cause.DEPS_DONE, Cause.PLACED, Cause.STARTED
RETRY, PREEMPTED, RESUMED = Cause.RETRY, Cause.PREEMPTED, Cause.RESUMED
PAUSED, SUSPENDED, _PREEMPT = TaskState.PAUSED, TaskState.SUSPENDED, KillCause.PREEMPT
# The lifecycle's rows of the moves of every lifecycle, where advance's check is inlined (a
# call costs more than the check). A task has an attempt to end where it may exit with a result.
ON_DEPS_DONE, ON_PLACED, ON_STARTED = STEP[DEPS_DONE], STEP[PLACED], STEP[STARTED]
ON_EXIT = STEP[Cause.EXITED_OK]


def advance(t: CoreTask, new: TaskState, cause: Cause) -> None:
    """Move ``t`` to ``new`` on ``cause``, if the lifecycle has that move."""
    if STEP[cause][t.state] is not new:
        illegal(t, new, cause)
    t.state = new


def illegal(t: CoreTask, new: TaskState, cause: Cause) -> NoReturn:
    """Refuse the move of ``t`` to ``new`` on ``cause``: the lifecycle does not have it."""
    raise TandemInternalError(
        f"illegal transition of task {t.id} ({t.spec.name!r}): {t.state.value} -> "
        f"{new.value} on {cause.value!r}")


# -- waiting -------------------------------------------------------------------------------
def submit(s: CoreState, ev: Submitted, now: float, out: list[Action]) -> None:
    """Add the task of ``ev`` (the handler of :class:`Submitted`: it checks the id, the request
    and the dependencies before it changes anything); queue it if it has nothing to wait
    for, end it at once if a dependency already failed."""
    tid = ev.task_id
    tasks = s.tasks
    if tid in tasks:
        raise TandemInternalError(f"task id {tid} submitted twice")
    spec = ev.spec
    replaces = ev.replaces
    if replaces is not None:
        recompute.check(s, tid, replaces)
    if spec.resources is s.last_req and spec.pool is None:   # the last plain request
        bucket, pool = s.last_bucket, None
    else:
        bucket, pool = s.bucket_of(spec)
    deps = ev.deps
    if s.recomputing and deps:
        deps = recompute.extend(s, deps)    # it needs a result being recomputed: wait for it
    t = CoreTask(tid, spec, deps, now, bucket, pool)
    failed_dep = graph.link(t, deps, tasks) if deps else None
    tasks[tid] = t
    s.unfinished += 1
    if replaces is not None:
        recompute.start(s, t, replaces)
    if s.barrier:
        s.levels.add(t.level)
    if failed_dep is not None:
        end_downstream(s, t, failed_dep, now, out)
    elif s.cp and deps:
        # Bottom levels are settled once per run of submissions (:func:`settle`). A task
        # without dependencies raises no one's: it is queued now, and re-keyed by the
        # settling if a task of the same run depends on it.
        s.burst.append(t)
        if t.deps_left == 0:
            s.burst_ready.append(t)
    elif t.deps_left == 0:
        make_ready(s, t, now)


def restore(s: CoreState, ev: Restored, now: float, out: list[Action]) -> None:
    """Add the task of ``ev``, done in an earlier run (the handler of :class:`Restored`): it is
    resolved at once, never queued nor launched, and its dependents proceed."""
    tid = ev.task_id
    tasks = s.tasks
    if tid in tasks:
        raise TandemInternalError(f"task id {tid} submitted twice")
    spec = ev.spec
    t = CoreTask(tid, spec, ev.deps, now)     # never queued: no bucket, no feasibility check
    if ev.deps and (graph.link(t, ev.deps, tasks) is not None or t.deps_left):
        raise TandemInternalError(
            f"task {tid} ({spec.name!r}) restored while a dependency is not done")
    tasks[tid] = t
    s.unfinished += 1
    if s.barrier:
        s.levels.add(t.level)
    finish(s, t, DONE, None, now, out, Cause.RESTORED)


def submit_burst(s: CoreState, events: Sequence[Submitted], now: float) -> None:
    """Submissions that :func:`tandem.core.validate.plain_burst` passed (new ids, no
    dependencies, no pools, one request that fits), not in barrier mode: each is queued as
    :func:`submit` would, without its checks."""
    bucket = s.bucket_of(events[0].spec)[0]
    tasks, push, entry = s.tasks, s.push, s.entry
    for ev in events:
        tid = ev.task_id
        t = tasks[tid] = CoreTask(tid, ev.spec, (), now, bucket)
        if ON_DEPS_DONE[t.state] is not READY:      # make_ready, inlined
            illegal(t, READY, DEPS_DONE)
        t.state = READY
        t.ready_at = now
        push(t, entry(t), bucket)
    s.unfinished += len(events)
    s.dirty = True


def make_ready(s: CoreState, t: CoreTask, now: float) -> None:
    """``t``'s dependencies are done: queue it (in barrier mode, once its level is open)."""
    if s.barrier and s.levels.hold(t):
        return
    if ON_DEPS_DONE[t.state] is not READY:      # advance(t, READY, DEPS_DONE), inlined
        illegal(t, READY, DEPS_DONE)
    t.state = READY
    if t.ready_at is None:
        t.ready_at = now
    if s.locality and t.deps:
        near = home_bucket(s, t)        # its inputs are kept on a node: it prefers that one
        if near is not None:
            t.bucket = near
    s.push(t, s.entry(t), t.bucket)
    s.dirty = True


def rekey(s: CoreState, t: CoreTask) -> None:
    """``t``'s order key changed (bottom level, priority): re-queue it if it waits."""
    if t.entry is not None:
        s.push(t, s.entry(t), s.resume_bucket(t) if t.state is RESUMING else t.bucket)
        s.dirty = True


def settle(s: CoreState, now: float) -> None:
    """Critical path, after a run of submissions: settle bottom levels, then queue the new
    tasks that are ready."""
    burst, ready = s.burst, s.burst_ready
    s.burst, s.burst_ready = [], []
    critical_path.settle(burst, s.tasks, lambda p: rekey(s, p))
    for t in ready:
        if t.state is PENDING:
            make_ready(s, t, now)


# -- running -------------------------------------------------------------------------------
def launch(s: CoreState, t: CoreTask, placement: Placement, now: float,
           out: list[Action]) -> None:
    """``t`` was placed: launch it (a resuming task is re-pinned and continued instead)."""
    if ON_PLACED[t.state] is not LAUNCHED:      # advance(t, LAUNCHED, PLACED), inlined
        if t.state is RESUMING:
            placed_again(s, t, placement, now, out)
            return
        illegal(t, LAUNCHED, PLACED)
    t.state = LAUNCHED
    t.entry = None
    t.placement = placement
    t.launched = now
    t.attempt += 1
    t.kill = None
    s.running[t.id] = t
    if t.est:
        s.releases.launched(t, now)
    timeout = t.spec.timeout
    if timeout is not None:
        arm(s, t, now + timeout)
    if t.req.cores:
        out.append(Launch(t.id, placement, t.attempt, t.preempted))
    else:
        out.append(Launch(t.id, placement, t.attempt, t.preempted,
                          s.pool.shared_cores(placement.node)))


def arm(s: CoreState, t: CoreTask, deadline: float) -> None:
    """Arm the timeout of ``t``'s live attempt at ``deadline``."""
    t.deadline = deadline
    heapq.heappush(s.live_deadlines(), (deadline, t.id, t.attempt))


def start(s: CoreState, ev: Started, now: float, out: list[Action]) -> None:
    """The handler of :class:`Started`: ignored unless the task is launched (a late report)."""
    try:
        t = s.tasks[ev.task_id]
    except KeyError:
        t = s.task(ev.task_id)      # raises: no such task
    if t.state is LAUNCHED:
        if ON_STARTED[t.state] is not RUNNING:  # advance(t, RUNNING, STARTED), inlined
            illegal(t, RUNNING, STARTED)
        t.state = RUNNING
        t.started = now


def kill(t: CoreTask, cause: KillCause, message: str = "", by: str | None = None) -> None:
    """Mark ``t``'s live attempt as killed for ``cause`` (the caller sends the action)."""
    t.preempting = False
    t.preempt_next = None
    t.kill = cause
    t.kill_message = message
    t.kill_by = by
    t.entry = None        # a resuming task leaves the queue


def exited(s: CoreState, ev: Exited, now: float, out: list[Action]) -> None:
    """The attempt of ``ev``'s task ended (the handler of :class:`Exited`: it checks that the
    task has one before it changes anything): give its resources back, then finish, retry
    or requeue it."""
    try:
        t = s.tasks[ev.task_id]
    except KeyError:
        t = s.task(ev.task_id)      # raises: no such task
    st = t.state
    if ON_EXIT[st] is None:         # not launched, running or stopped
        raise TandemInternalError(
            f"task {t.id} ({t.spec.name!r}) reported exited while {st.value}")
    del s.running[t.id]
    if s.releases.overdue:
        s.releases.ended(t)
    assert t.placement is not None
    s.pool.release(t.placement, t.req)
    if t.pool is not None and s.quotas is not None:
        released = st is SUSPENDED or st is RESUMING    # its cores were given back
        s.quotas.give(t.pool, 0 if released else t.req.total_cores, t.req.total_gpus)
    if st is RESUMING:
        t.entry = None
    t.preempt_next = None
    s.dirty = True
    if t.started is None:
        t.started = t.launched
    if t.preempting:
        requeue_preempted(s, t)
        return
    failure = ev.failure
    if failure is None and t.kill is None:
        t.kept = ev.kept
        finish(s, t, DONE, None, now, out)
        return
    state, failure, again = outcome.of_exit(t, failure)
    if again:
        retry(s, t, failure)
    else:
        finish(s, t, state, failure, now, out)


def retry(s: CoreState, t: CoreTask, failure: Failure) -> None:
    """A failed (or timed-out) attempt with a retry left: back to the queue."""
    advance(t, READY, RETRY)
    t.failure = failure
    t.placement = None
    t.started = None
    s.push(t, s.entry(t), t.bucket)
    s.dirty = True


def requeue_preempted(s: CoreState, t: CoreTask) -> None:
    """A preempted attempt exited (its resources are back): queue ``t`` again, same key."""
    advance(t, READY, PREEMPTED)
    t.preempting = False
    t.preempted += 1
    t.placement = None
    t.started = None
    t.deadline = t.left = None
    s.push(t, s.entry(t), t.bucket)
    s.dirty = True


def preempt(t: CoreTask, sig: int, grace: float, out: list[Action]) -> None:
    """Tell ``t``'s tree to checkpoint and exit; its exit requeues it."""
    t.kill = _PREEMPT
    t.preempting = True
    out.append(Preempt(t.id, sig, grace))


# -- ending --------------------------------------------------------------------------------
def finish(s: CoreState, t: CoreTask, state: TaskState, failure: Failure | None, now: float,
           out: list[Action], cause: Cause | None = None) -> None:
    """``t`` reached the final ``state`` (for ``cause``; default: the state's own cause):
    resolve it, then its dependents and held tasks."""
    if cause is None:
        if END_STEP[state][t.state] is not state:   # advance(t, state, END_CAUSE[state])
            illegal(t, state, END_CAUSE[state])
    elif STEP[cause][t.state] is not state:
        illegal(t, state, cause)
    t.state = state
    t.entry = None
    t.failure = failure
    t.ended = now
    s.unfinished -= 1
    out.append(Resolve(t.id, state, failure))
    if s.recompute_of:
        recompute.ended(s, t)
    if s.barrier:
        for held in s.levels.finished(t.level):
            if held.state is PENDING and held.deps_left == 0:
                make_ready(s, held, now)
    dependents = t.dependents
    if dependents is None:
        return
    t.dependents = None
    if state is DONE:
        for c in dependents:
            c.deps_left -= 1
            if c.deps_left == 0 and c.state is PENDING:
                make_ready(s, c, now)
    else:
        for c in dependents:
            if c.state is PENDING:
                end_downstream(s, c, t, now, out)


def end_downstream(s: CoreState, t: CoreTask, upstream: CoreTask, now: float,
                   out: list[Action]) -> None:
    """``upstream`` did not succeed, so ``t`` never runs (and nor do its dependents)."""
    state, failure = outcome.of_upstream(upstream, s.tasks)
    finish(s, t, state, failure, now, out)


# -- pausing and resuming ------------------------------------------------------------------
def pause(s: CoreState, t: CoreTask, release: bool, now: float) -> None:
    """Stop the running ``t``; with ``release`` its cores go back to the pool and its quota
    (it keeps its GPUs and node). The timeout's time left is kept for the resume."""
    if release:
        assert t.placement is not None
        n = len(t.placement.cores)
        t.placement = s.pool.release_cores(t.placement)
        if s.quotas is not None and t.pool is not None:
            s.quotas.give(t.pool, n, 0)
        s.dirty = True
        advance(t, SUSPENDED, Cause.SUSPENDED)
    else:
        advance(t, PAUSED, Cause.PAUSED)
    if t.deadline is not None:
        t.left = max(0.0, t.deadline - now)
        t.deadline = None


def pause_resuming(t: CoreTask) -> None:
    """A resuming task (not placed yet) is paused again: it stays stopped, off the queue."""
    advance(t, SUSPENDED, Cause.PAUSED)
    t.entry = None
    t.preempt_next = None


def resume(s: CoreState, t: CoreTask, now: float) -> None:
    """Continue a paused task (or a resuming one just placed): re-arm its timeout."""
    advance(t, RUNNING, RESUMED)
    if t.left is not None:
        arm(s, t, now + t.left)
        t.left = None


def continue_to_checkpoint(t: CoreTask) -> None:
    """A paused task is continued so that a preemption's signal reaches it."""
    advance(t, RUNNING, RESUMED)
    t.left = None


def queue_resume(s: CoreState, t: CoreTask) -> None:
    """A suspended task asked to resume: it waits for cores on its node."""
    advance(t, RESUMING, RESUMED)
    s.push(t, s.entry(t), s.resume_bucket(t))
    s.dirty = True


def placed_again(s: CoreState, t: CoreTask, placement: Placement, now: float,
                 out: list[Action]) -> None:
    """A resuming task got ``placement`` (cores on its node): re-pin and continue it."""
    held = t.placement
    assert held is not None
    slot = held.slots[0]
    t.placement = Placement(slots=(Slot(node=slot.node, cores=placement.cores,
                                         gpus=slot.gpus),))
    t.entry = None
    advance(t, RUNNING, PLACED)
    if t.left is not None:
        arm(s, t, now + t.left)
        t.left = None
    out.append(Resume(t.id, t.placement))
    if t.preempt_next is not None:
        sig, grace = t.preempt_next
        t.preempt_next = None
        preempt(t, sig, grace, out)


def preempt_later(s: CoreState, t: CoreTask, sig: int, grace: float) -> None:
    """A stopped task without cores is preempted: signalled once it has cores again (a
    suspended one is queued to get them)."""
    t.preempt_next = (sig, grace)
    if t.state is SUSPENDED:
        queue_resume(s, t)


def move_quota(s: CoreState, source: str, target: str, cores: int, gpus: int) -> None:
    """Move pool quota (checked by :meth:`~tandem.core.pools.Quotas.move`); running tasks are
    never ended, a pool over its quota admits nothing until enough of them have."""
    assert s.quotas is not None
    s.quotas.move(source, target, cores, gpus)
    s.dirty = True


def reprioritise(s: CoreState, t: CoreTask, priority: int) -> None:
    """Give ``t`` a new priority; a waiting task is re-keyed at once."""
    t.prio = priority
    rekey(s, t)

