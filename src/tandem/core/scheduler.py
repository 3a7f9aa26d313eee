"""The scheduler: a pure state machine over a growing task graph and a resource pool.

Contract: ``Scheduler.handle(event, now) -> list[Action]`` and ``next_deadline()``. No asyncio,
no threads, no clock reads, no I/O; ``now`` is whatever clock the driver uses (wall seconds for
the runtime, virtual seconds for the simulator). Imports ``tandem.spec``, ``tandem.errors`` and
the other ``tandem.core`` modules only.

Rules:

- every state change goes through the lifecycle table (:mod:`tandem.core.states`);
- the pool never hands one core or GPU id to two running tasks;
- a task is launched only after each of its dependencies is ``DONE`` (and, in barrier mode,
  after every task of a lower DAG level has ended);
- a failed or timed-out task fails its dependents (``DEPENDENCY_FAILED``, naming the root task
  and cause); a cancelled task cancels its dependents; both propagate transitively;
- a killed task keeps its resources until its backend reports ``Exited``;
- with resource pools, a task is placed only while its pool's use plus its request is within
  the pool's quota (:mod:`tandem.core.pools`); a task refused by its quota reserves nothing;
- steering (cancel, pause, resume, preempt, priority, pool moves) is in
  :mod:`tandem.core.steering`; the graph's edges in :mod:`tandem.core.graph`; how a task ends
  in :mod:`tandem.core.outcome`; order keys in :mod:`tandem.core.policy`; the scheduling pass
  in :mod:`tandem.core.dispatch`;
- ties break on task id (submission order): the same events give the same actions.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from tandem.core import critical_path, dispatch, graph, outcome, states
from tandem.core.actions import Action, Kill, Launch, Resolve
from tandem.core.backfill import Releases
from tandem.core.barrier import Barriers
from tandem.core.events import (
    CancelRequested,
    Exited,
    PauseRequested,
    PreemptRequested,
    PriorityChanged,
    QuotaMoved,
    ResumeRequested,
    Started,
    Submitted,
    TimerFired,
)
from tandem.core.policy import ENTRY, Mode, Order, Policy, ReadyQueue
from tandem.core.pool import ResourcePool
from tandem.core.pools import PoolUsage, Quotas
from tandem.core.record import TaskRecord
from tandem.core.states import (
    DONE,
    LAUNCHED,
    PENDING,
    READY,
    RESUMING,
    RUNNING,
    STOPPED,
    SUSPENDED,
    TaskState,
)
from tandem.core.steering import Steering
from tandem.core.task import CoreTask
from tandem.core.values import Failure, Placement
from tandem.errors import InfeasibleRequest, SpecError, TandemInternalError
from tandem.spec.platform import Platform
from tandem.spec.pools import Quota
from tandem.spec.resources import Resources
from tandem.spec.task import TaskSpec

_LEGAL = states.LEGAL
_schedule = dispatch.schedule
_new_record = tuple.__new__


class Scheduler:
    """Pure scheduler core. Drive it with :meth:`handle`; wake it at :meth:`next_deadline`."""

    def __init__(self, platform: Platform, policy: Policy | None = None, *,
                 pools: Mapping[str, Quota] | None = None) -> None:
        self.platform = platform
        self.policy = policy or Policy()
        self.pool = ResourcePool(platform, self.policy.fit)
        self.quotas = Quotas(platform, pools) if pools else None
        self._tasks: dict[int, CoreTask] = {}
        self._queue = ReadyQueue(self._tasks)
        self._running: dict[int, CoreTask] = {}
        self._releases = Releases(self._running)
        self._burst: list[CoreTask] = []       # critical path: submitted, bottoms not settled
        self._burst_ready: list[CoreTask] = []
        self._deadlines: list[tuple[float, int, int]] = []   # (deadline, task id, attempt)
        self._feasible: dict[Resources, bool] = {}
        self._unfinished = 0
        self._dirty = False
        self._cp = self.policy.order is Order.CRITICAL_PATH
        self._entry = ENTRY[self.policy.order]
        self._push = self._queue.push
        self._barrier = self.policy.mode is Mode.BARRIER
        self._levels = Barriers()
        self._steer = Steering(self)

    # -- public ----------------------------------------------------------------------------
    def handle(self, event: object, now: float) -> list[Action]:
        """Apply one event at time ``now`` and return what the driver must do, in order."""
        out: list[Action] = []
        handler = _HANDLERS.get(type(event)) or _unknown(event)
        handler(self, event, now, out)
        self._end_step(now, out)
        return out

    def handle_many(self, events: Iterable[object], now: float) -> list[Action]:
        """Apply several events that happened at the same time ``now``, in order, then make one
        scheduling pass. Cheaper than one ``handle`` each when many arrive together (a burst
        of submissions, a read that returns several exits), and the policy sees the whole burst
        before it chooses (a high-priority task submitted last still goes first)."""
        out: list[Action] = []
        handlers = _HANDLERS
        for event in events:
            tp = type(event)
            if self._burst and tp is not Submitted:
                self._settle(now)
            handler = handlers.get(tp) or _unknown(event)
            handler(self, event, now, out)
        self._end_step(now, out)
        return out

    def _end_step(self, now: float, out: list[Action]) -> None:
        """After the events of one instant: settle the submissions' bottom levels, then make
        one scheduling pass if anything changed."""
        if self._burst:
            self._settle(now)
        if self._dirty:
            self._dirty = False
            _schedule(self, now, out)

    def next_deadline(self) -> float | None:
        """The earliest time at which :class:`TimerFired` must be handled (timeouts)."""
        d = self._deadlines
        while d:
            when, tid, attempt = d[0]
            t = self._tasks[tid]
            if t.attempt == attempt and t.deadline == when and t.kill_reason is None \
                    and (t.state is LAUNCHED or t.state is RUNNING):
                return when
            heapq.heappop(d)
        return None

    def check_feasible(self, spec: TaskSpec) -> None:
        """Raise :class:`~tandem.errors.InfeasibleRequest` if ``spec`` can never run here, and
        :class:`~tandem.errors.SpecError` if it names a pool that does not exist."""
        if spec.pool is not None or self.quotas is not None:
            self._pool_of(spec)
        req = spec.resources
        if req not in self._feasible:
            try:
                self.platform.check_feasible(req, task=spec.name)
            except InfeasibleRequest as e:
                if spec.pool is None:
                    raise
                raise InfeasibleRequest(f"{e}; it asks for pool {spec.pool!r}") from None
            self._feasible[req] = True

    def _pool_of(self, spec: TaskSpec) -> str:
        if self.quotas is None:
            raise SpecError(f"task {spec.name!r} asks for pool {spec.pool!r}, but this session "
                            "has no resource pools (open it with pools=...)")
        return self.quotas.resolve(spec.pool, spec.resources, spec.name)

    def pool_usage(self) -> dict[str, PoolUsage]:
        """Each pool's quota and use now (empty without pools)."""
        q = self.quotas
        return {} if q is None else {name: q.usage(name) for name in q.names}

    def state(self, task_id: int) -> TaskState:
        return self._task(task_id).state

    def record(self, task_id: int) -> TaskRecord:
        t = self._task(task_id)
        spec = t.spec
        # Positional, straight to tuple.__new__ (field order of TaskRecord): a record is built
        # for every task that ends while instruments listen, and keywords cost 5x as much.
        return _new_record(TaskRecord, (
            t.id, spec.name, spec.kind, t.state, t.req, t.deps, t.placement, t.attempt,
            t.failure, t.submitted, t.ready_at, t.launched, t.started, t.ended, t.level,
            t.preempted,
        ))

    @property
    def tasks(self) -> Mapping[int, CoreTask]:
        """Every task's bookkeeping by id, for readers that must be cheaper than
        :meth:`record` (the trace). Read-only: only the scheduler changes a task."""
        return self._tasks

    @property
    def unfinished(self) -> int:
        """How many submitted tasks have not reached a final state."""
        return self._unfinished

    def counts(self) -> dict[TaskState, int]:
        out = dict.fromkeys(TaskState, 0)
        for t in self._tasks.values():
            out[t.state] += 1
        return out

    # -- events ----------------------------------------------------------------------------
    def _on_submitted(self, ev: Submitted, now: float, out: list[Action]) -> None:
        tid = ev.task_id
        if tid in self._tasks:
            raise TandemInternalError(f"task id {tid} submitted twice")
        spec = ev.spec
        pool = None
        if self.quotas is None and spec.pool is None:
            bucket = self._queue.buckets.get(spec.resources)
            if bucket is None:      # a shape not seen before: check it can ever fit
                self.check_feasible(spec)
                bucket = self._queue.bucket_for(spec.resources)
        else:
            self.check_feasible(spec)
            pool = self._pool_of(spec)
            bucket = self._queue.bucket_for(spec.resources, pool)
        deps = ev.deps
        t = CoreTask(tid, spec, deps, now, bucket, pool)
        failed_dep = graph.link(t, deps, self._tasks) if deps else None
        self._tasks[tid] = t
        self._unfinished += 1
        if self._barrier:
            self._levels.add(t.level)
        if failed_dep is not None:
            self._end_downstream(t, failed_dep, now, out)
            return
        if self._cp and deps:
            # Bottom levels are settled once per run of submissions (see _settle). A task
            # without dependencies raises no one's: it is queued now, and re-keyed by the
            # settling if a task of the same run depends on it.
            self._burst.append(t)
            if t.deps_left == 0:
                self._burst_ready.append(t)
        elif t.deps_left == 0:
            self._make_ready(t, now)

    def _on_started(self, ev: Started, now: float, out: list[Action]) -> None:
        t = self._task(ev.task_id)
        if t.state is LAUNCHED:
            states.check(t.id, t.state, RUNNING, "Started")
            t.state = RUNNING
            t.started = now

    def _on_exited(self, ev: Exited, now: float, out: list[Action]) -> None:
        t = self._tasks.get(ev.task_id) or self._task(ev.task_id)
        st = t.state
        if st is not RUNNING and st is not LAUNCHED and st not in STOPPED:
            raise TandemInternalError(
                f"task {t.id} ({t.spec.name!r}) reported exited while {st.value}"
            )
        del self._running[t.id]
        if self._releases.overdue:
            self._releases.ended(t)
        assert t.placement is not None
        self.pool.release(t.placement, t.req)
        if t.pool is not None and self.quotas is not None:
            released = st is SUSPENDED or st is RESUMING    # its cores were given back
            self.quotas.give(t.pool, 0 if released else t.req.total_cores, t.req.total_gpus)
        if st is RESUMING:
            t.entry = None
        t.preempt_next = None
        self._dirty = True
        if t.started is None:
            t.started = t.launched
        if t.preempting:
            self._steer.requeue(t, now)
            return
        failure = ev.failure
        reason = t.kill_reason
        if failure is None and reason is None:
            self._finish(t, DONE, None, now, out)
            return
        state, failure, retry = outcome.of_exit(t, failure)
        if retry:
            self._retry(t, failure, now)
        else:
            self._finish(t, state, failure, now, out)

    def _on_timer(self, ev: TimerFired, now: float, out: list[Action]) -> None:
        d = self._deadlines
        while d and d[0][0] <= now:
            when, tid, attempt = heapq.heappop(d)
            t = self._tasks[tid]
            if t.attempt == attempt and t.deadline == when and t.kill_reason is None and \
                    (t.state is LAUNCHED or t.state is RUNNING):
                t.kill_reason = "timeout"
                out.append(Kill(t.id, "timeout"))

    # -- transitions -----------------------------------------------------------------------
    def _task(self, task_id: int) -> CoreTask:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise SpecError(f"no task with id {task_id}") from None

    def _make_ready(self, t: CoreTask, now: float) -> None:
        if self._barrier and self._levels.hold(t):
            return
        if t.state is not PENDING:
            states.check(t.id, t.state, READY, "dependencies done")
        t.state = READY
        if t.ready_at is None:
            t.ready_at = now
        self._push(t, self._entry(t), t.bucket)
        self._dirty = True

    def _requeue(self, p: CoreTask) -> None:
        """``p``'s bottom level rose: re-key it if it is queued."""
        if p.entry is not None:
            self._push(p, self._entry(p), p.bucket)

    def _settle(self, now: float) -> None:
        """Critical path, after a run of submissions: settle bottom levels, then queue the new
        tasks that are ready."""
        burst, ready = self._burst, self._burst_ready
        self._burst, self._burst_ready = [], []
        critical_path.settle(burst, self._tasks, self._requeue)
        for t in ready:
            if t.state is PENDING:
                self._make_ready(t, now)

    def _retry(self, t: CoreTask, failure: Failure, now: float) -> None:
        t.failure = failure
        t.placement = None
        t.started = None
        states.check(t.id, t.state, READY, "retry")
        t.state = READY
        self._push(t, self._entry(t), t.bucket)
        self._dirty = True

    def _finish(self, t: CoreTask, state: TaskState, failure: Failure | None, now: float,
                out: list[Action]) -> None:
        if (t.state, state) not in _LEGAL:
            states.check(t.id, t.state, state, state.value)
        t.state = state
        t.entry = None
        t.failure = failure
        t.ended = now
        self._unfinished -= 1
        out.append(Resolve(t.id, state, failure))
        if self._barrier:
            for held in self._levels.finished(t.level):
                if held.state is PENDING:
                    self._make_ready(held, now)
        dependents = t.dependents
        if dependents is None:
            return
        t.dependents = None
        if state is DONE:
            for c in dependents:
                c.deps_left -= 1
                if c.deps_left == 0 and c.state is PENDING:
                    self._make_ready(c, now)
        else:
            for c in dependents:
                if c.state is PENDING:
                    self._end_downstream(c, t, now, out)

    def _end_downstream(self, t: CoreTask, upstream: CoreTask, now: float,
                        out: list[Action]) -> None:
        """``upstream`` did not succeed, so ``t`` never runs (and nor do its dependents)."""
        state, failure = outcome.of_upstream(upstream, self._tasks)
        self._finish(t, state, failure, now, out)

    # -- the scheduling pass is tandem.core.dispatch.schedule ------------------------------
    def _launch(self, t: CoreTask, placement: Placement, now: float, out: list[Action]) -> None:
        if t.state is not READY:
            if t.state is RESUMING:
                self._steer.placed(t, placement, now, out)
                return
            states.check(t.id, t.state, LAUNCHED, "placed")
        t.state = LAUNCHED
        t.entry = None
        t.placement = placement
        t.launched = now
        t.attempt += 1
        t.kill_reason = None
        self._running[t.id] = t
        if t.est:
            self._releases.launched(t, now)
        timeout = t.spec.timeout
        if timeout is not None:
            t.deadline = now + timeout
            heapq.heappush(self._deadlines, (t.deadline, t.id, t.attempt))
        out.append(Launch(t.id, placement, t.attempt, t.preempted))


Handler = Callable[[Scheduler, Any, float, list[Action]], None]


def _unknown(event: object) -> NoReturn:
    raise TandemInternalError(f"scheduler got an unknown event {event!r}")


def _steering(name: str) -> Handler:
    def handle(core: Scheduler, ev: Any, now: float, out: list[Action]) -> None:
        getattr(core._steer, name)(ev, now, out)
    return handle


# Event type -> handler. Module-level functions, not bound methods: a scheduler holds no
# reference to itself, so one that is dropped is freed at once, without waiting for the
# cycle collector (its tasks with it).
_HANDLERS: dict[type, Handler] = {
    Submitted: Scheduler._on_submitted,
    Started: Scheduler._on_started,
    Exited: Scheduler._on_exited,
    TimerFired: Scheduler._on_timer,
    CancelRequested: _steering("on_cancel"),
    PauseRequested: _steering("on_pause"),
    ResumeRequested: _steering("on_resume"),
    PreemptRequested: _steering("on_preempt"),
    PriorityChanged: _steering("on_priority"),
    QuotaMoved: _steering("on_move"),
}
