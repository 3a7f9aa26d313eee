"""The runtime's driver: the scheduler core on real time, carried out through backends.

Contract: a :class:`Driver` owns the core, the backends, the instruments and the clock (an
injectable ``() -> float``, ``time.monotonic`` by default, on the same axis as the event loop's
``time()``: the simulator passes its virtual loop's), and is the only place that feeds the core
events (through its :class:`~tandem.runtime.steps.Steps`: one scheduling step per loop
iteration, the deadline timer, the instruments' flush) and carries out its actions.
Event-driven throughout: backends report exits from loop callbacks; nothing sleeps and scans.
It is the backends' :class:`~tandem.backends.base.Reporter` and the
futures' :class:`~tandem.runtime.future.Owner`. :class:`~tandem.runtime.session.Session` (the
public API) and an agent's session are views over one driver.

Lifecycle (public, driven by :func:`~tandem.runtime.open.open_session`): :meth:`Driver.start`,
:meth:`use_group` (the task group :meth:`spawn` uses), :meth:`abort` (cancel everything, with
``KillCause.SHUTDOWN``) and :meth:`close` (wait, shut the backends down, end the run).

Forgetting: a task whose future was resolved and is no longer reachable is forgotten (the
core's ``forget``, by the steps) once the instruments have flushed it, so a long session does
not grow with the tasks it has run. The tasks not resolved yet (spec, future, value,
directory) are its :class:`~tandem.runtime.live.Live`; nothing of a task is kept past its
resolution. Results a backend kept by reference and the session's streams are its
:class:`~tandem.runtime.dataplane.DataPlane` (``data``), opened before the backends start
and told of every task's end.

Imports: tandem.backends.base, tandem.core, tandem.errors, tandem.guardian, tandem.data.refs,
tandem.history.estimates, tandem.runtime.args, tandem.runtime.dataplane,
tandem.runtime.durable, tandem.runtime.future, tandem.runtime.live, tandem.runtime.routing,
tandem.runtime.settle, tandem.runtime.spawned, tandem.runtime.steps, tandem.spec,
tandem.trace.instrument,
tandem.trace.instruments, tandem.trace.jsonl.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from tandem import guardian
from tandem.backends.base import Backend, Outcome
from tandem.core.actions import Kill, Launch, Pause, Preempt, Resolve, Resume, Steered
from tandem.core.events import (
    CancelRequested,
    Exited,
    NodeLost,
    Restored,
    Started,
    Submitted,
)
from tandem.core.policy import Policy
from tandem.core.record import TaskRecord
from tandem.core.scheduler import Scheduler
from tandem.core.states import DONE, TaskState
from tandem.core.values import FailureKind, KillCause, Walltime
from tandem.data.refs import DataRef, Kept
from tandem.errors import TandemError
from tandem.history.estimates import Estimates
from tandem.runtime.args import detached
from tandem.runtime.dataplane import DEFAULT_ABOVE, DataPlane
from tandem.runtime.durable import Durable
from tandem.runtime.future import TaskFuture
from tandem.runtime.live import Live
from tandem.runtime.routing import Routing
from tandem.runtime.settle import Settler
from tandem.runtime.spawned import Spawned
from tandem.runtime.steps import Steps
from tandem.spec.platform import Platform
from tandem.spec.pools import Quota
from tandem.spec.task import FunctionCall, TaskSpec
from tandem.trace.instrument import Instrument
from tandem.trace.instruments import Instruments
from tandem.trace.jsonl import JsonlTrace


class Driver:
    """Feeds the core and carries out its actions (see the module docstring)."""

    def __init__(self, platform: Platform, run_dir: Path, *, policy: Policy,
                 backends: Sequence[Backend], instruments: Sequence[Instrument] = (),
                 trace: bool = True, pools: Mapping[str, Quota] | None = None,
                 clock: Callable[[], float] | None = None,
                 durable: Durable | None = None, walltime: Walltime | None = None,
                 estimates: Estimates | None = None,
                 ref_above: int | None = DEFAULT_ABOVE) -> None:
        guardian.start()     # before any process is started: the trace writer is one
        self.platform = platform
        self._node_names = frozenset(n.name for n in platform.nodes)
        self.run_dir = run_dir
        self.policy = policy
        self.clock: Callable[[], float] = clock if clock is not None else time.monotonic
        self._core = Scheduler(platform, policy, pools=pools, walltime=walltime)
        self._routing = Routing(backends, platform)
        # The run directory's trace is an instrument like the others, first of them.
        self._trace = JsonlTrace(run_dir) if trace else None
        self._ins = Instruments([self._trace] if self._trace is not None else [])
        # The journal (when the run directory keeps one) records what the trace does.
        self._durable = durable
        self._estimates = estimates       # learned estimates for tasks given none
        if durable is not None:
            self._ins.add(durable)
        for ins in instruments:
            self._ins.add(ins)
        self._ins.bind(self._core.tasks, self._core.pool_usage)
        self._live = Live(run_dir, durable)           # tasks not resolved yet
        self.data = DataPlane(self._ins, self.clock, ref_above,
                              self._core.tasks)  # kept results, streams
        self._recomputes: dict[int, DataRef] = {}   # a lost result's recomputation -> its handle
        self._steps = steps = Steps(self._core, self._ins, self.clock, self._act)
        self.feed = steps.feed          # hand an event to the core now, carry out its actions
        self.settle = steps.settle      # hand the core what is queued (before reading it)
        self.flush = steps.flush        # flush the instruments, then forget dropped tasks
        self.wait_idle = steps.wait_idle  # wait until every task submitted so far has ended
        self._next_id = 0
        self._spawned = Spawned()
        self._settler = Settler(self.data.streams, self._spawned, self._core.only_running)
        self.open = False

    # -- what views read -------------------------------------------------------------------
    @property
    def core(self) -> Scheduler:
        """The scheduler, with every queued event handed to it (read it, never feed it)."""
        self.settle()
        return self._core

    @property
    def instruments(self) -> Instruments:
        return self._ins

    @property
    def durable(self) -> Durable | None:
        """The run directory's journal keeper (``None`` when the session keeps no journal)."""
        return self._durable

    @property
    def trace(self) -> JsonlTrace | None:
        """The run directory's trace (``None`` when the session was opened without one)."""
        return self._trace

    def tracked(self) -> dict[str, int]:
        """How many entries each per-task map of the driver holds now (they shrink back to 0
        once every task has ended and its future is gone)."""
        return {**self._live.tracked(), "dropped": len(self._steps.dropped)}

    def spec_of(self, task_id: int) -> TaskSpec | None:
        """The spec of a task that has not been resolved yet, else ``None``."""
        return self._live.specs.get(task_id)

    def backend_of(self, spec: TaskSpec) -> Backend:
        """The backend that runs ``spec`` (see :class:`~tandem.runtime.routing.Routing`)."""
        return self._routing.backend_of(spec)

    def workdir(self, task_id: int, name: str) -> str:
        """The path of a task's own directory (it may not exist)."""
        return self._live.workdirs.path(task_id, name)

    # -- the futures' owner ----------------------------------------------------------------
    def state_of(self, task_id: int) -> TaskState:
        self.settle()
        return self._core.state(task_id)

    def record_of(self, task_id: int) -> TaskRecord:
        self.settle()
        return self._core.record(task_id)

    def cancel_task(self, task_id: int, reason: str, by: str) -> None:
        self.feed(CancelRequested(task_id=task_id, reason=reason, by=by))

    def note(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Hand the instruments a record of the run's own (``Session.note``)."""
        if self._ins.wants("noted"):
            self._ins.call("noted", kind, fields, self.clock())

    def dropped(self, task_id: int) -> None:
        """A resolved task's future is gone (its finalizer, on any thread)."""
        self._steps.drop(task_id)

    def add_instrument(self, instrument: Instrument) -> Callable[[], None]:
        """Call ``instrument``'s hooks from now on; returns the function that flushes and
        removes it."""
        self._ins.add(instrument)

        def remove() -> None:
            self._ins.flush_and_remove(instrument)
        return remove

    # -- submission ------------------------------------------------------------------------
    def enqueue(self, spec: TaskSpec, deps: Sequence[TaskFuture] = ()) -> TaskFuture:
        """Check ``spec`` against the core and its backend, and queue its submission (it
        reaches the core with the other submissions of this loop iteration). With a journal, a
        task an earlier run finished is restored instead: its future is done at once. A task
        without an estimate gets one learned from the history, when the driver has one."""
        if not self.open:
            raise TandemError("the session is not open: submit inside `async with open_session`")
        self._core.check_feasible(spec)
        self._routing.check(spec)
        tid = self._next_id
        self._next_id = tid + 1
        fut = TaskFuture(self, tid, spec.name)
        ids = tuple(dict.fromkeys(f.task_id for f in deps)) if deps else ()
        if self._durable is None or not self._restored(tid, spec, fut, deps, ids):
            if spec.estimate is None and self._estimates is not None:
                spec = self._estimates.fill(spec)    # not a restored one's: it does not run
            self._live.add(tid, spec, fut)
            if self._ins.wants("task_submitted"):
                self._ins.call("task_submitted", tid, spec, self.clock())
            self._steps.post(Submitted(task_id=tid, spec=self._core_spec(spec, ids), deps=ids))
        return fut

    @staticmethod
    def _core_spec(spec: TaskSpec, ids: tuple[int, ...]) -> TaskSpec:
        """The spec the core keeps: marks in place of futures, so a finished task holds no
        inputs alive."""
        work = spec.work
        if ids and type(work) is FunctionCall and (work.args or work.kwargs):
            return spec.with_work(FunctionCall(
                fn=work.fn, args=detached(work.args), kwargs=detached(work.kwargs),
                ref=work.ref))
        return spec

    def _restored(self, tid: int, spec: TaskSpec, fut: TaskFuture, deps: Sequence[TaskFuture],
                  ids: tuple[int, ...]) -> bool:
        """Key the submission; if the journal restores it, resolve its future now and queue
        its restoration (its dependents see it done)."""
        now = self.clock()
        restored, value = self._live.admit(tid, spec, fut, deps, now)
        if not restored:
            return False
        if self._ins.wants("task_submitted"):
            self._ins.call("task_submitted", tid, spec, now)
        self._ins.call("task_restored", tid, fut.key, now)
        fut.resolve(DONE, value, None)
        self._steps.post(Restored(task_id=tid, spec=spec, deps=ids))
        return True

    # -- carrying out actions --------------------------------------------------------------
    def _act(self, action: Any, now: float) -> None:
        tp = type(action)
        if tp is Launch:
            spec = self._live.specs[action.task_id]
            backend = self._routing.backend_of(spec)
            self._ins.call("task_launched", action, now)
            backend.launch(self._live.request(action, spec))
        elif tp is Resolve:
            self._resolve(action)
        elif tp is Kill:
            self.backend_of(self._live.specs[action.task_id]).kill(action.task_id)
        else:
            self._carry(action, now)

    def _resolve(self, action: Resolve) -> None:
        tid = action.task_id
        got = self._live.outcome(action, self._core)
        ins = self._ins
        ins.call("task_resolved", tid)
        if ins.wants("task_ended"):
            ins.call("task_ended", self._core.record(tid))
        self.data.task_ended(tid, lambda: None if action.state is DONE else (
            str(got[2]) if got is not None and got[2] is not None else action.state.value))
        self._settler.soon()
        if self._recomputes:
            self._recomputes.pop(tid, None)   # a recomputation that failed for good
        if got is not None:          # None: restored, its future was resolved at submission
            fut, value, error = got
            fut.resolve(action.state, value, error)

    def _carry(self, action: Any, now: float) -> None:
        tp = type(action)
        if tp is Steered:
            self._ins.call("steered", action, now)
            return
        spec = self._live.specs.get(action.task_id)
        if spec is None:
            return
        backend = self.backend_of(spec)
        if tp is Pause:
            backend.pause(action.task_id)
        elif tp is Resume:
            backend.resume(action.task_id, action.placement)
        elif tp is Preempt:
            backend.preempt(action.task_id, action.signal, action.grace)

    # -- reporter (called by backends on the loop thread) ------------------------------------
    def started(self, task_id: int) -> None:
        self.feed(Started(task_id))

    def exited(self, outcome: Outcome) -> None:
        tid, failure = outcome.task_id, outcome.failure
        if outcome.peak_mb is not None:
            self._ins.call("task_memory", tid, outcome.peak_mb)
        if failure is None:
            value = outcome.value
            redo = self._recomputes.pop(tid, None) if self._recomputes else None
            if type(value) is Kept:     # it stays on its node: the core places near it
                placement = self._core.tasks[tid].placement
                node = placement.slots[0].node if placement is not None else "?"
                if redo is not None:    # a lost result made again: its handle names it
                    self._live.values[tid] = self.data.relocate(redo, node, value)
                else:
                    spec = self._live.specs.get(tid)
                    self._live.values[tid] = self.data.adopt(
                        tid, node, value, spec if spec is not None and spec.retries else None)
                self.feed(Exited(tid, None, value.nbytes))
                return
            if redo is not None:
                redo.replaced(value)
                value = redo
            if value is not None:
                self._live.values[tid] = value
        elif failure.kind is FailureKind.NODE_FAILED and failure.node is not None \
                and failure.node in self._node_names:
            lost = self.data.node_lost(failure.node, f"node {failure.node!r} was lost")
            self.feed(NodeLost(node=failure.node, message=failure.message))
            for ref in lost:
                self._recompute(ref)
        self.feed(Exited(tid, failure))

    def _recompute(self, ref: DataRef) -> None:
        """Submit a task that makes ``ref``'s lost result again, when its producer allowed a
        retry (its spec, with its inputs, was kept); what needs the result waits for it."""
        recipe = self.data.recipe(ref.task_id)
        producer = self._core.tasks.get(ref.task_id)
        if recipe is None or producer is None or producer.state is not DONE:
            return
        tid = self._next_id
        self._next_id = tid + 1
        spec = dataclasses.replace(recipe, name=f"{recipe.name} (recomputed)")
        fut = TaskFuture(self, tid, spec.name)
        self._live.add(tid, spec, fut)
        self._recomputes[tid] = ref
        if self._ins.wants("task_submitted"):
            self._ins.call("task_submitted", tid, spec, self.clock())
        self._steps.post(Submitted(task_id=tid, spec=self._core_spec(spec, producer.deps),
                                   deps=producer.deps, replaces=ref.task_id))

    # -- lifecycle -------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], *,
              name: str | None = None) -> asyncio.Task[Any]:
        """Run a coroutine inside the driver's task group."""
        task = self._spawned.spawn(coro, name)
        task.add_done_callback(lambda _: self._settler.soon())
        return task

    def drain(self) -> None:
        """The session's block has ended: streams nothing left can write to are settled from
        now on, so their readers do not wait forever (:mod:`tandem.runtime.settle`)."""
        self._settler.drain()

    def abort(self, reason: str) -> None:
        """Cancel every unfinished task (cause: shutdown) and every spawned coroutine."""
        futures = self._live.futures
        for tid in list(futures):
            if tid in futures:
                self.feed(CancelRequested(task_id=tid, reason=reason,
                                          cause=KillCause.SHUTDOWN))
        self._spawned.cancel_all()

    def use_group(self, group: asyncio.TaskGroup | None) -> None:
        """The task group :meth:`spawn` starts coroutines in (``None``: none now)."""
        self._spawned.group = group

    async def start(self) -> None:
        """Start the backends and tell the instruments the run began."""
        self._steps.bind()
        desc = f"{self.policy.mode.value}/{self.policy.order.value}"
        self._ins.call("run_started", self.platform, desc, self.clock(), time.time())
        backends = self._routing.backends
        self.data.open(backends)
        try:
            await asyncio.gather(*(b.start(self) for b in backends))
        except BaseException:
            if self._trace is not None:
                self._trace.close()
            if self._durable is not None:
                self._durable.close("the backends could not start")
            raise
        self.open = True

    async def close(self) -> None:
        """Wait for every task, shut the backends down, flush and end the instruments."""
        try:
            await self.wait_idle()
        finally:
            self._steps.stop()
            await self.data.aclose()
            await asyncio.gather(*(b.shutdown() for b in self._routing.backends),
                                 return_exceptions=True)
            self.data.close()
            self.open = False
            self.flush()
            self._ins.call("run_ended", self.clock())
            guardian.stop()
