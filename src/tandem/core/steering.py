"""Steering in the core: cancel, pause, resume, preempt, change priority, move pool quota.

Contract: the scheduler's handlers for steering events, and what happens when a resuming task
is placed again or a preempted one exits. Pure (no I/O, no clock; ``now`` comes in); imports
the other ``tandem.core`` modules and ``tandem.spec``. Every state change goes through the
lifecycle table; every action that takes effect is announced with a :class:`Steered` action
(for instruments and the trace), placed before the actions it causes.

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
"""

from __future__ import annotations

import heapq
import weakref
from typing import TYPE_CHECKING

from tandem.core import states
from tandem.core.actions import Action, Kill, Pause, Preempt, Resume, Steered
from tandem.core.events import (
    CancelRequested,
    PauseRequested,
    PreemptRequested,
    PriorityChanged,
    QuotaMoved,
    ResumeRequested,
)
from tandem.core.policy import Bucket
from tandem.core.pool import Reservation
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
    TaskState,
)
from tandem.core.task import CoreTask
from tandem.core.values import Failure, FailureKind, Placement, Slot
from tandem.errors import SpecError
from tandem.spec.resources import Resources

if TYPE_CHECKING:
    from tandem.core.scheduler import Scheduler



class Steering:
    """The steering half of a :class:`~tandem.core.scheduler.Scheduler`."""

    def __init__(self, core: Scheduler) -> None:
        # A proxy: the scheduler owns its steering half, not the other way round (no cycle).
        self.core: Scheduler = weakref.proxy(core)

    # -- cancel ----------------------------------------------------------------------------
    def on_cancel(self, ev: CancelRequested, now: float, out: list[Action]) -> None:
        core = self.core
        t = core._task(ev.task_id)
        st = t.state
        if st in FINAL:
            return
        if ev.by is not None:
            out.append(Steered("cancel", t.id, ev.by, ev.reason))
        if st is LAUNCHED or st is RUNNING or st in STOPPED:
            if t.kill_reason is None or t.preempting:
                t.preempting = False
                t.preempt_next = None
                t.kill_reason = ev.reason
                t.kill_by = ev.by
                t.entry = None        # a resuming task leaves the queue
                out.append(Kill(t.id, ev.reason))
            return
        failure = Failure(kind=FailureKind.CANCELLED, message=ev.reason, root_task_id=t.id,
                          by=ev.by)
        core._finish(t, CANCELLED, failure, now, out)

    # -- pause and resume ------------------------------------------------------------------
    def on_pause(self, ev: PauseRequested, now: float, out: list[Action]) -> None:
        core = self.core
        t = core._task(ev.task_id)
        st = t.state
        if st is RESUMING:      # asked to resume, not placed yet: stays stopped, off the queue
            self._move(t, SUSPENDED, "pause")
            t.entry = None
            t.preempt_next = None
            out.append(Steered("pause", t.id, ev.by, ev.reason, (("release", True),)))
            return
        if (st is not RUNNING and st is not LAUNCHED) or t.kill_reason is not None:
            return
        placement = t.placement
        assert placement is not None
        release = ev.release and len(placement.slots) == 1 and bool(placement.cores)
        if release:
            slot = placement.slots[0]
            n = len(slot.cores)
            core.pool.release(Placement(slots=(Slot(node=slot.node, cores=slot.cores),)),
                              Resources(cores=n))
            t.placement = Placement(slots=(Slot(node=slot.node, cores=(), gpus=slot.gpus),))
            if core.quotas is not None and t.pool is not None:
                core.quotas.give(t.pool, n, 0)
            core._dirty = True
        self._move(t, SUSPENDED if release else PAUSED, "pause")
        if t.deadline is not None:
            t.left = max(0.0, t.deadline - now)
            t.deadline = None
        out.append(Steered("pause", t.id, ev.by, ev.reason, (("release", release),)))
        out.append(Pause(t.id, release))

    def on_resume(self, ev: ResumeRequested, now: float, out: list[Action]) -> None:
        t = self.core._task(ev.task_id)
        st = t.state
        if st is PAUSED:
            out.append(Steered("resume", t.id, ev.by, ev.reason))
            self._continue(t, now)
            out.append(Resume(t.id))
        elif st is SUSPENDED:
            out.append(Steered("resume", t.id, ev.by, ev.reason))
            self._queue_resume(t)

    def _queue_resume(self, t: CoreTask) -> None:
        core = self.core
        self._move(t, RESUMING, "resume")
        core._push(t, core._entry(t), self.bucket(t))
        core._dirty = True

    def bucket(self, t: CoreTask) -> Bucket:
        """The queue bucket of a resuming task: its cores, on its node, from its pool."""
        assert t.placement is not None
        return self.core._queue.bucket_for(Resources(cores=t.req.cores), t.pool, t.placement.node)

    def placed(self, t: CoreTask, placement: Placement, now: float, out: list[Action]) -> None:
        """A resuming task got ``placement`` (cores on its node): re-pin and continue it."""
        held = t.placement
        assert held is not None
        slot = held.slots[0]
        t.placement = Placement(slots=(Slot(node=slot.node, cores=placement.cores,
                                             gpus=slot.gpus),))
        t.entry = None
        self._continue(t, now)
        out.append(Resume(t.id, t.placement))
        if t.preempt_next is not None:
            sig, grace = t.preempt_next
            t.preempt_next = None
            self._preempt(t, sig, grace, out)

    def _continue(self, t: CoreTask, now: float) -> None:
        self._move(t, RUNNING, "resume")
        if t.left is not None:
            t.deadline = now + t.left
            t.left = None
            heapq.heappush(self.core._deadlines, (t.deadline, t.id, t.attempt))

    def reserve(self, t: CoreTask, now: float) -> Reservation | None:
        """When a blocked resuming task gets its cores on its node, if running tasks end as
        their estimates say."""
        assert t.placement is not None
        node = t.placement.node
        need = t.req.cores
        cores, gpus = self.core.pool.free_on(node)
        at = now
        if cores < need:
            for when, placement in self.core._releases.in_order(now):
                for s in placement.slots:
                    if s.node == node:
                        cores += len(s.cores)
                        gpus += len(s.gpus)
                if cores >= need:
                    at = when
                    break
            else:
                return None
        return Reservation(at=at, node=node, spare_cores=cores - need, spare_gpus=gpus)

    # -- preemption ------------------------------------------------------------------------
    def on_preempt(self, ev: PreemptRequested, now: float, out: list[Action]) -> None:
        t = self.core._task(ev.task_id)
        st = t.state
        if st in FINAL or st is PENDING or st is READY or t.kill_reason is not None \
                or t.preempt_next is not None:
            return
        details = (("grace", ev.grace), ("signal", ev.signal))
        out.append(Steered("preempt", t.id, ev.by, ev.reason, details))
        if st is SUSPENDED or st is RESUMING:
            t.preempt_next = (ev.signal, ev.grace)   # signalled once it has cores again
            if st is SUSPENDED:
                self._queue_resume(t)
            return
        if st is PAUSED:
            self._move(t, RUNNING, "preempt")     # continued to write its checkpoint
            t.left = None
        self._preempt(t, ev.signal, ev.grace, out)

    def _preempt(self, t: CoreTask, sig: int, grace: float, out: list[Action]) -> None:
        t.kill_reason = "preempted"
        t.preempting = True
        out.append(Preempt(t.id, sig, grace))

    def requeue(self, t: CoreTask, now: float) -> None:
        """A preempted task exited (its resources are back): queue it again, same key."""
        core = self.core
        t.preempting = False
        t.preempted += 1
        t.placement = None
        t.started = None
        t.deadline = t.left = None
        self._move(t, READY, "preempted")
        core._push(t, core._entry(t), t.bucket)
        core._dirty = True

    # -- priority and pools ----------------------------------------------------------------
    def on_priority(self, ev: PriorityChanged, now: float, out: list[Action]) -> None:
        core = self.core
        t = core._task(ev.task_id)
        if t.state in FINAL:
            return
        if isinstance(ev.priority, bool) or not isinstance(ev.priority, int):
            raise SpecError(f"task {t.spec.name!r}: priority must be an integer, "
                            f"got {ev.priority!r}")
        out.append(Steered("priority", t.id, ev.by, ev.reason,
                           (("priority", ev.priority), ("was", t.prio))))
        t.prio = ev.priority
        if t.entry is not None:   # waiting in the queue: re-key it now (the old entry goes stale)
            core._push(t, core._entry(t), self.bucket(t) if t.state is RESUMING else t.bucket)
            core._dirty = True

    def on_move(self, ev: QuotaMoved, now: float, out: list[Action]) -> None:
        core = self.core
        if core.quotas is None:
            raise SpecError("move: this session has no resource pools (open it with pools=...)")
        core.quotas.move(ev.source, ev.target, ev.cores, ev.gpus)
        core._dirty = True
        out.append(Steered("move", None, ev.by, ev.reason, (
            ("from", ev.source), ("to", ev.target), ("cores", ev.cores), ("gpus", ev.gpus))))

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _move(t: CoreTask, new: TaskState, event: str) -> None:
        states.check(t.id, t.state, new, event)
        t.state = new
