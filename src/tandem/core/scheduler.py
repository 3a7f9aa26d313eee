"""The scheduler: a pure state machine over a growing task graph and a resource pool.

Contract: ``Scheduler.handle(event, now) -> list[Action]``, ``handle_many(events, now)`` (all
or nothing: every event is checked before any is applied) and ``next_deadline()``; queries
(``state``, ``record``, ``tasks`` as read-only :class:`~tandem.core.view.TaskView` values,
``counts``, ``unfinished``, ``pool_usage``) and ``forget``. No asyncio, no threads, no clock
reads, no I/O; ``now`` is whatever clock the driver uses (wall seconds for the runtime, virtual
seconds for the simulator).

Rules:

- the state lives in :mod:`tandem.core.state`; every change of a task goes through
  :mod:`tandem.core.transitions` and its lifecycle check (a submission is
  ``transitions.submit``); the other handlers are in :mod:`tandem.core.handlers` (start, exit,
  timer) and :mod:`tandem.core.steering`
  (cancel, pause, resume, preempt, priority, pool moves); the scheduling pass in
  :mod:`tandem.core.dispatch`; the walltime (``walltime=``: deferral, the end's preemption)
  in :mod:`tandem.core.walltime`;
- the pool never hands one core or GPU id to two running tasks;
- a task is launched only after each of its dependencies is ``DONE`` (and, in barrier mode,
  after every task of a lower DAG level has ended);
- a failed or timed-out task fails its dependents (``DEPENDENCY_FAILED``, naming the root task
  and cause); a cancelled task cancels its dependents; both propagate transitively;
- a killed task keeps its resources until its backend reports ``Exited``;
- with resource pools, a task is placed only while its pool's use plus its request is within
  the pool's quota (:mod:`tandem.core.pools`); a task refused by its quota reserves nothing;
- ties break on task id (submission order): the same events give the same actions.

Imports: tandem.core.actions, tandem.core.dispatch, tandem.core.events, tandem.core.handlers,
tandem.core.locality, tandem.core.nodes, tandem.core.policy, tandem.core.pool,
tandem.core.pools, tandem.core.record, tandem.core.state, tandem.core.states,
tandem.core.steering, tandem.core.transitions, tandem.core.validate, tandem.core.values,
tandem.core.view, tandem.core.walltime, tandem.spec.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tandem.core import handlers, nodes, steering, walltime
from tandem.core.actions import Action
from tandem.core.dispatch import schedule
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
from tandem.core.locality import next_wait
from tandem.core.policy import Policy
from tandem.core.pool import ResourcePool
from tandem.core.pools import PoolUsage, Quotas
from tandem.core.record import TaskRecord
from tandem.core.state import CoreState
from tandem.core.states import TaskState
from tandem.core.transitions import restore, settle, submit, submit_burst
from tandem.core.validate import check_batch, unknown
from tandem.core.values import Walltime
from tandem.core.view import TaskView
from tandem.spec.platform import Platform
from tandem.spec.pools import Quota
from tandem.spec.task import TaskSpec

_new_record = tuple.__new__


def _earliest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None or a <= b else b
_live_deadline = handlers.live_deadline


class Scheduler:
    """Pure scheduler core. Drive it with :meth:`handle`; wake it at :meth:`next_deadline`."""

    def __init__(self, platform: Platform, policy: Policy | None = None, *,
                 pools: Mapping[str, Quota] | None = None,
                 walltime: Walltime | None = None) -> None:
        self.platform = platform
        self.policy = policy or Policy()
        self.walltime = walltime
        self._s = CoreState(platform, self.policy, pools, walltime)
        self.pool: ResourcePool = self._s.pool
        self.quotas: Quotas | None = self._s.quotas

    # -- events ----------------------------------------------------------------------------
    def handle(self, event: object, now: float) -> list[Action]:
        """Apply one event at time ``now`` and return what the driver must do, in order. An
        event that raises was not applied."""
        out: list[Action] = []
        s = self._s
        try:
            handler = _HANDLERS[type(event)]
        except KeyError:
            unknown(event)
        handler(s, event, now, out)
        # The end of a step, written out here and in handle_many: a shared function costs
        # about 2 % of a lifecycle (bench/core_instructions.py).
        if s.burst:
            settle(s, now)
        if s.dirty:
            s.dirty = False
            schedule(s, now, out)
        return out

    def handle_many(self, events: Iterable[object], now: float) -> list[Action]:
        """Apply several events that happened at the same time ``now``, in order, then make one
        scheduling pass. Every event is checked first: if one would raise, it raises and none
        was applied. Cheaper than one ``handle`` each when many arrive together (a burst of
        submissions, a read that returns several exits), and the policy sees the whole burst
        before it chooses (a high-priority task submitted last still goes first)."""
        out: list[Action] = []
        s = self._s
        batch = events if isinstance(events, (list, tuple)) else list(events)
        # One event is checked by its own handler before any change.
        if len(batch) > 1 and check_batch(s, batch) and not s.barrier:
            submit_burst(s, batch, now)  # type: ignore[arg-type]  # submissions, checked
        else:
            handlers_ = _HANDLERS
            for event in batch:
                tp = type(event)
                if s.burst and tp is not Submitted:
                    settle(s, now)
                handlers_[tp](s, event, now, out)
        if s.burst:
            settle(s, now)
        if s.dirty:
            s.dirty = False
            schedule(s, now, out)
        return out

    def next_deadline(self) -> float | None:
        """The earliest time at which :class:`TimerFired` must be handled (timeouts, and the
        walltime's preemption while it has not been handled)."""
        s = self._s
        d = s.deadlines
        at = _next_timeout(s, d)
        if s.wait_heap:
            at = _earliest(at, next_wait(s))
        if s.wall is not None:
            return _earliest(walltime.deadline(s), at)
        return at

    @property
    def walltime_over(self) -> bool:
        """Whether the walltime's end was handled (nothing is launched any more)."""
        return self._s.wall_over

    def deferred(self) -> tuple[int, ...]:
        """Ids of the tasks the walltime holds back now (they wait, ``READY``, until it ends
        or until nothing else can run)."""
        s = self._s
        return tuple(tid for tid, t in s.deferred.items() if t.state is TaskState.READY)

    def forget(self, task_id: int) -> None:
        """Drop the final task ``task_id`` (its record lives in the trace): afterwards nothing
        in the core refers to it, ``state``/``record`` of it raise :class:`SpecError`, and so
        does a submission that names it as a dependency. A task that is not final is a
        :class:`SpecError`."""
        self._s.forget(task_id)

    # -- queries ---------------------------------------------------------------------------
    def check_feasible(self, spec: TaskSpec) -> None:
        """Raise :class:`~tandem.errors.InfeasibleRequest` if ``spec`` can never run here, and
        :class:`~tandem.errors.SpecError` if it names a pool that does not exist."""
        self._s.check_feasible(spec)

    def pool_usage(self) -> dict[str, PoolUsage]:
        """Each pool's quota and use now (empty without pools)."""
        q = self.quotas
        return {} if q is None else {name: q.usage(name) for name in q.names}

    def state(self, task_id: int) -> TaskState:
        return self._s.task(task_id).state

    def record(self, task_id: int) -> TaskRecord:
        t = self._s.task(task_id)
        spec = t.spec
        # Positional, straight to tuple.__new__ (field order of TaskRecord): a record is built
        # for every task that ends while instruments listen, and keywords cost 5x as much.
        return _new_record(TaskRecord, (
            t.id, spec.name, spec.kind, t.state, t.req, t.deps, t.placement, t.attempt,
            t.failure, t.submitted, t.ready_at, t.launched, t.started, t.ended, t.level,
            t.preempted,
        ))

    @property
    def tasks(self) -> Mapping[int, TaskView]:
        """Every task not forgotten, by id, as read-only views (cheaper than :meth:`record`,
        for the trace). Only the core changes a task."""
        return self._s.tasks

    @property
    def unfinished(self) -> int:
        """How many submitted tasks have not reached a final state."""
        return self._s.unfinished

    def only_running(self, ids: Iterable[int]) -> bool:
        """Whether the tasks ``ids`` are running and nothing else can change on its own: every
        task that holds a placement is one of them and ``RUNNING``, and every other unfinished
        task is ``PENDING`` (it waits for one of them, or for another pending one)."""
        s = self._s
        mine = set(ids)
        if not s.running or len(s.running) > len(mine):
            return False
        running = TaskState.RUNNING
        if any(tid not in mine or t.state is not running for tid, t in s.running.items()):
            return False
        left = s.unfinished - len(s.running)
        if left:
            pending = TaskState.PENDING
            if sum(1 for t in s.tasks.values() if t.state is pending) != left:
                return False
        return True

    def counts(self) -> dict[TaskState, int]:
        out = dict.fromkeys(TaskState, 0)
        for t in self._s.tasks.values():
            out[t.state] += 1
        return out

    def footprint(self) -> dict[str, int]:
        """How many entries each internal structure holds (see
        :meth:`tandem.core.state.CoreState.footprint`), for memory checks."""
        return self._s.footprint()


def _next_timeout(s: CoreState, d: list[tuple[float, int, int]]) -> float | None:
    """The earliest live timeout (stale entries are popped on the way)."""
    while d:
        when, tid, attempt = d[0]
        t = s.tasks.get(tid)
        if t is not None and _live_deadline(t, when, attempt):
            return when
        heapq.heappop(d)
    return None


Handler = Callable[[CoreState, Any, float, list[Action]], None]

# Event type -> handler: module-level functions over the state (which holds no reference to
# itself), so a scheduler that is dropped is freed at once, its tasks with it.
_HANDLERS: dict[type, Handler] = {
    Submitted: submit,
    Restored: restore,
    Started: handlers.on_started,
    Exited: handlers.on_exited,
    TimerFired: walltime.on_timer,
    CancelRequested: steering.on_cancel,
    PauseRequested: steering.on_pause,
    ResumeRequested: steering.on_resume,
    PreemptRequested: steering.on_preempt,
    PriorityChanged: steering.on_priority,
    QuotaMoved: steering.on_move,
    NodeLost: nodes.on_node_lost,
}
