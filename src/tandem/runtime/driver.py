"""The runtime's driver: the scheduler core on real time, carried out through backends.

Contract: a :class:`Driver` owns the core, the backends, the instruments and the clock (an
injectable ``() -> float``, ``time.monotonic`` by default, on the same axis as the event loop's
``time()``: the simulator passes its virtual loop's), and is the only place that feeds the core
events and carries out its actions. Event-driven throughout: backends report exits from loop
callbacks, the core's next deadline is one ``loop.call_at`` handle, leaving waits on an event;
nothing sleeps and scans. It is the backends' :class:`~tandem.backends.base.Reporter` and the
futures' :class:`~tandem.runtime.future.Owner`. :class:`~tandem.runtime.session.Session` (the
public API) and an agent's session are views over one driver.

Lifecycle (public, driven by :func:`~tandem.runtime.open.open_session`): :meth:`Driver.start`,
:meth:`use_group` (the task group :meth:`spawn` uses), :meth:`abort` (cancel everything, with
``KillCause.SHUTDOWN``) and :meth:`close` (wait, shut the backends down, end the run).

Forgetting: a task whose future was resolved and is no longer reachable is forgotten (the
core's ``forget``) once the instruments have flushed it, so a long session does not grow with
the tasks it has run. The tasks not resolved yet (spec, future, value, directory) are its
:class:`~tandem.runtime.live.Live`; nothing of a task is kept past its resolution. Results a
backend kept by reference become handles of its :class:`~tandem.runtime.kept.KeptStore`; its
:class:`~tandem.runtime.streams.StreamBroker` (``streams``) serves the session's streams, its
address in the tasks' environment (``TANDEM_STREAMS``) from the start, and hears of every task's
end.
Imports: tandem.backends.base, tandem.core, tandem.errors, tandem.guardian,
tandem.data.refs, tandem.data.stream, tandem.history.estimates, tandem.runtime.args,
tandem.runtime.durable, tandem.runtime.future, tandem.runtime.kept, tandem.runtime.live,
tandem.runtime.routing, tandem.runtime.streams, tandem.runtime.spawned, tandem.spec,
tandem.trace.instrument, tandem.trace.instruments, tandem.trace.jsonl.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import deque
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
    TimerFired,
)
from tandem.core.policy import Policy
from tandem.core.record import TaskRecord
from tandem.core.scheduler import Scheduler
from tandem.core.states import DONE, TaskState
from tandem.core.values import FailureKind, KillCause, Walltime
from tandem.data.refs import Kept
from tandem.data.stream import ENV as STREAMS_ENV
from tandem.data.stream import SEGMENTS_ENV
from tandem.errors import TandemError
from tandem.history.estimates import Estimates
from tandem.runtime.args import detached
from tandem.runtime.durable import Durable
from tandem.runtime.future import TaskFuture
from tandem.runtime.kept import DEFAULT_ABOVE, KeptStore
from tandem.runtime.live import Live
from tandem.runtime.routing import Routing
from tandem.runtime.spawned import Spawned
from tandem.runtime.streams import StreamBroker
from tandem.spec.platform import Platform
from tandem.spec.pools import Quota
from tandem.spec.task import FunctionCall, TaskSpec
from tandem.trace.instrument import Instrument
from tandem.trace.instruments import Instruments
from tandem.trace.jsonl import JsonlTrace

TRACE_FLUSH_S = 0.05   # the longest a trace line waits in memory before reaching the file


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
        self._kept = KeptStore(self._ins, self.clock)  # results kept by reference
        self.streams = StreamBroker()                  # streams between running tasks
        self._env_before: str | None = None
        self._ref_above = ref_above
        self._dropped: list[int] = []                 # resolved, future gone: to forget
        self._inbox: deque[Any] = deque()
        self._pumping = False
        self._pump_soon = False
        self._step_pending = False
        self._next_id = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flush_at: asyncio.TimerHandle | None = None
        self._idle: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._spawned = Spawned()
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
        return {**self._live.tracked(), "dropped": len(self._dropped)}

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

    def dropped(self, task_id: int) -> None:
        """A resolved task's future is gone (called from its finalizer, on any thread: note
        it; it is forgotten after the instruments' next flush)."""
        first = not self._dropped
        self._dropped.append(task_id)
        loop = self._loop
        if first and loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing left to forget for
                if threading.get_ident() == self._thread:
                    loop.call_soon(self._after_drop)
                else:
                    loop.call_soon_threadsafe(self._after_drop)

    def _after_drop(self) -> None:
        if not self._step_pending:
            self._step_pending = True
            self._end_step()

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
            work = spec.work
            if ids and type(work) is FunctionCall and (work.args or work.kwargs):
                # the core keeps marks, not futures: a finished task holds no inputs alive
                spec = spec.with_work(FunctionCall(
                    fn=work.fn, args=detached(work.args), kwargs=detached(work.kwargs),
                    ref=work.ref))
            self._inbox.append(Submitted(task_id=tid, spec=spec, deps=ids))
        if not self._pumping and not self._pump_soon:
            self._pump_soon = True
            assert self._loop is not None
            self._loop.call_soon(self._pump_later)
        return fut

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
        self._inbox.append(Restored(task_id=tid, spec=spec, deps=ids))
        return True

    # -- feeding the core ------------------------------------------------------------------
    def feed(self, event: Any) -> None:
        """Hand ``event`` to the core now (after what is queued) and carry out its actions."""
        self._inbox.append(event)
        if not self._pumping:
            self._pump()

    def settle(self) -> None:
        """Hand the core what is queued now (before reading its state)."""
        if self._inbox and not self._pumping:
            self._pump()

    def _pump_later(self) -> None:
        self._pump_soon = False
        if self._inbox and not self._pumping:
            self._pump()

    def _pump(self) -> None:
        self._pumping = True
        inbox = self._inbox
        handle = self._core.handle
        handle_many = self._core.handle_many
        now_fn = self.clock
        try:
            while inbox:
                now = now_fn()
                if len(inbox) == 1:
                    actions = handle(inbox.popleft(), now)
                else:
                    batch = list(inbox)
                    inbox.clear()
                    actions = handle_many(batch, now)
                action: Any
                for action in actions:
                    tp = type(action)
                    if tp is Launch:
                        self._launch(action, now)
                    elif tp is Resolve:
                        self._resolve(action)
                    elif tp is Kill:
                        self.backend_of(self._live.specs[action.task_id]).kill(action.task_id)
                    else:
                        self._carry(action, now)
        finally:
            self._pumping = False
        if not self._step_pending and self._loop is not None:
            self._step_pending = True
            self._loop.call_soon(self._end_step)
        elif self._loop is None:
            self._end_step()

    def _end_step(self) -> None:
        """Once per loop iteration in which events were handled: schedule the instruments'
        flush (or forget dropped tasks when nobody buffers), re-arm the deadline timer, wake
        ``wait_idle``."""
        self._step_pending = False
        if self._ins.wants("flush"):
            if self._flush_at is None and self._loop is not None:
                # Lines reach the file within TRACE_FLUSH_S of being written, not one write
                # per loop iteration: a crash loses at most that much of the trace.
                self._flush_at = self._loop.call_later(TRACE_FLUSH_S, self.flush)
        elif self._dropped:
            self._forget()
        self._arm_timer()
        if self._idle is not None and not self._core.unfinished:
            self._idle.set()

    def flush(self) -> None:
        """Flush the instruments, then forget the tasks whose futures were dropped before."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        dropped, self._dropped = self._dropped, []
        self._ins.call("flush")
        if dropped:
            self._forget(dropped)

    def _forget(self, dropped: list[int] | None = None) -> None:
        if dropped is None:
            dropped, self._dropped = self._dropped, []
        forget = self._core.forget
        for tid in dropped:
            forget(tid)

    def _arm_timer(self) -> None:
        at = self._core.next_deadline()
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is not None and self._loop is not None:
            self._timer = self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.feed(TimerFired())

    # -- carrying out actions --------------------------------------------------------------
    def _launch(self, action: Launch, now: float) -> None:
        spec = self._live.specs[action.task_id]
        backend = self._routing.backend_of(spec)
        self._ins.call("task_launched", action, now)
        backend.launch(self._live.request(action, spec))

    def _resolve(self, action: Resolve) -> None:
        tid = action.task_id
        got = self._live.outcome(action, self._core)
        ins = self._ins
        ins.call("task_resolved", tid)
        if ins.wants("task_ended"):
            ins.call("task_ended", self._core.record(tid))
        if self.streams.active:
            self.streams.task_ended(tid, None if action.state is DONE else (
                str(got[2]) if got is not None and got[2] is not None else action.state.value))
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
            if value is not None:
                if type(value) is Kept:
                    placement = self._core.tasks[tid].placement
                    node = placement.slots[0].node if placement is not None else "?"
                    value = self._kept.adopt(tid, node, value)
                self._live.values[tid] = value
        elif failure.kind is FailureKind.NODE_FAILED and failure.node is not None \
                and failure.node in self._node_names:
            self.feed(NodeLost(node=failure.node, message=failure.message))
        self.feed(Exited(tid, failure))

    # -- lifecycle -------------------------------------------------------------------------
    async def wait_idle(self) -> None:
        """Wait until every task submitted so far has ended."""
        self.settle()
        if self._core.unfinished:
            assert self._idle is not None
            self._idle.clear()
            await self._idle.wait()

    def spawn(self, coro: Coroutine[Any, Any, Any], *,
              name: str | None = None) -> asyncio.Task[Any]:
        """Run a coroutine inside the driver's task group."""
        return self._spawned.spawn(coro, name)

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
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._idle = asyncio.Event()
        desc = f"{self.policy.mode.value}/{self.policy.order.value}"
        self._ins.call("run_started", self.platform, desc, self.clock(), time.time())
        backends = self._routing.backends
        self._env_before = os.environ.get(STREAMS_ENV)
        os.environ[STREAMS_ENV] = self.streams.address    # tasks started from now see it
        where = self._kept.open()
        if not [b for b in backends if b.keep_results(where, self._ref_above)]:
            self._kept.close()      # no backend keeps results: no directory
        else:
            os.environ[SEGMENTS_ENV] = where      # large stream items go there
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
            if self._timer is not None:
                self._timer.cancel()
            await self.streams.aclose()
            await asyncio.gather(*(b.shutdown() for b in self._routing.backends),
                                 return_exceptions=True)
            self._kept.close()
            os.environ.pop(SEGMENTS_ENV, None)
            if self._env_before is None:
                os.environ.pop(STREAMS_ENV, None)
            else:
                os.environ[STREAMS_ENV] = self._env_before
            self.open = False
            self.flush()
            self._ins.call("run_ended", self.clock())
            guardian.stop()
