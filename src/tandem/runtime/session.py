"""The asyncio Session: drives the pure core on real time with real backends.

Contract: the only place that feeds the scheduler core with wall-clock events and carries out
its actions. Event-driven throughout: backends report exits from loop callbacks, the core's next
deadline is one ``loop.call_at`` handle, leaving waits on an event; nothing sleeps and scans.
Imports ``tandem.core``, ``tandem.spec``, ``tandem.trace``, ``tandem.backends`` and the runtime
helpers. The Session owns one :class:`asyncio.TaskGroup`: coroutines started with
:meth:`Session.spawn` live in it, and leaving the ``async with`` block awaits (or, on error,
cancels) everything that was started. Steering (cancel, pause, resume, preempt, priority, pool
moves) is in :mod:`tandem.runtime.steering`, which the Session inherits.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack

from tandem.backends.base import Backend, LaunchRequest, Outcome
from tandem.core.actions import Kill, Launch, Resolve
from tandem.core.events import CancelRequested, Exited, Started, Submitted, TimerFired
from tandem.core.policy import Policy
from tandem.core.scheduler import Scheduler
from tandem.core.states import DONE, TaskState
from tandem.errors import SpecError, TandemError
from tandem.runtime.args import find_futures, substitute
from tandem.runtime.failures import to_exception
from tandem.runtime.future import TaskFuture
from tandem.runtime.options import TaskOptions, build_spec
from tandem.runtime.steering import Steering
from tandem.spec.platform import Platform
from tandem.spec.pools import Quota
from tandem.spec.task import Executable, FunctionCall, TaskSpec, Work
from tandem.trace.instrument import Instrument
from tandem.trace.jsonl import JsonlTrace

log = logging.getLogger("tandem")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
TRACE_FLUSH_S = 0.05   # the longest a trace line waits in memory before reaching the file


class ProcessResult:
    """What an executable task returns: its exit code and where its output went."""

    __slots__ = ("returncode", "stderr", "stdout", "workdir")

    def __init__(self, workdir: Path) -> None:
        self.returncode = 0
        self.workdir = workdir
        self.stdout = workdir / "stdout"
        self.stderr = workdir / "stderr"

    def __repr__(self) -> str:
        return f"ProcessResult(returncode=0, workdir={str(self.workdir)!r})"


class Session(Steering):
    """Runs tasks on a platform. Create it with :func:`open_session`."""

    def __init__(
        self,
        platform: Platform,
        run_dir: Path,
        *,
        policy: Policy,
        backends: Sequence[Backend],
        instruments: Sequence[Instrument] = (),
        trace: bool = True,
        pools: Mapping[str, Quota] | None = None,
    ) -> None:
        self.platform = platform
        self.run_dir = run_dir
        self.policy = policy
        self._core = Scheduler(platform, policy, pools=pools)
        self._backends = list(backends)
        self._backend_for: dict[type, Backend] = {}
        # The run directory's trace reads tasks from the core itself (see tandem.trace.jsonl);
        # instruments get the per-task hooks, with records.
        self._trace = JsonlTrace(run_dir) if trace else None
        self._instruments: list[Instrument] = list(instruments)
        # Traces flushed as the run goes: the run directory's, and any given as instruments.
        self._traces = [t for t in (self._trace, *self._instruments) if isinstance(t, JsonlTrace)]
        for t in self._traces:
            t.bind(self._core)
        # Instruments that want submissions.
        self._watchers = [i for i in self._instruments
                          if type(i).task_submitted is not Instrument.task_submitted]
        self._futures: dict[int, TaskFuture] = {}
        self._specs: dict[int, TaskSpec] = {}
        self._values: dict[int, Any] = {}
        self._inbox: deque[Any] = deque()
        self._pumping = False
        self._next_id = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._idle: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._group: asyncio.TaskGroup | None = None
        self._open = False
        self._step_pending = False
        self._flush_at: asyncio.TimerHandle | None = None
        self._pump_soon = False
        self._tasks_dir = str(run_dir / "tasks")
        self._safe_names: dict[str, str] = {}
        self._spawned: set[asyncio.Task[Any]] = set()
        self._time = time.monotonic

    # -- public API ------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any,
               kwargs: Mapping[str, Any] | None = None,
               **options: Unpack[TaskOptions]) -> TaskFuture:
        """Run ``fn(*args, **kwargs)`` in a warm worker process; returns a future at once.

        Futures anywhere in ``args``/``kwargs`` are dependencies, replaced by their results.
        ``options``: see :class:`~tandem.runtime.options.TaskOptions` (name, kind, cores, gpus,
        ranks, memory_mb or resources, priority, timeout, estimate, retries, pool, after).
        """
        work = FunctionCall(fn=fn, args=args, kwargs=kwargs or {})
        return self._enqueue(build_spec(work, options), options.get("after", ()))

    def execute(self, argv: Sequence[str] | str, *, env: Mapping[str, str] | None = None,
                cwd: str | None = None, shell: bool = False,
                **options: Unpack[TaskOptions]) -> TaskFuture:
        """Run an executable (``argv`` list; a command string needs ``shell=True``) in its own
        process group, pinned to its placed cores. The result is a :class:`ProcessResult`.
        ``options`` as for :meth:`submit`."""
        argv_: Any = argv if isinstance(argv, str) else tuple(argv)
        work = Executable(argv=argv_, env=env or {}, cwd=cwd, shell=shell)
        return self._enqueue(build_spec(work, options), options.get("after", ()))

    def submit_spec(self, spec: TaskSpec, *, after: Iterable[TaskFuture] = ()) -> TaskFuture:
        """Submit a ready-made :class:`TaskSpec`."""
        return self._enqueue(spec, after)

    def spawn(self, coro: Any, *, name: str | None = None) -> asyncio.Task[Any]:
        """Run a coroutine (steering code) inside the session's task group."""
        if self._group is None:
            raise TandemError("Session.spawn: the session is not open")
        task = self._group.create_task(coro, name=name)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)
        return task

    async def wait_all(self) -> None:
        """Wait until every task submitted so far has ended."""
        self._flush()
        if self._core.unfinished:
            assert self._idle is not None
            self._idle.clear()
            await self._idle.wait()

    @property
    def unfinished(self) -> int:
        self._flush()
        return self._core.unfinished

    def counts(self) -> dict[TaskState, int]:
        self._flush()
        return self._core.counts()

    def idle(self) -> tuple[int, int]:
        """(cores, GPUs) of the platform idle now, after queued submissions were placed."""
        self._flush()
        return self._core.pool.free_cores, self._core.pool.free_gpus

    def add_instrument(self, instrument: Instrument) -> Callable[[], None]:
        """Subscribe ``instrument`` to this open session's events from now on; returns the
        function that unsubscribes it."""
        if isinstance(instrument, JsonlTrace):
            instrument.bind(self._core)
            self._traces.append(instrument)
        self._instruments.append(instrument)
        watches = type(instrument).task_submitted is not Instrument.task_submitted
        if watches:
            self._watchers.append(instrument)

        def remove() -> None:
            if instrument in self._instruments:
                self._instruments.remove(instrument)
            if instrument in self._watchers:
                self._watchers.remove(instrument)
            if isinstance(instrument, JsonlTrace) and instrument in self._traces:
                instrument.flush()
                self._traces.remove(instrument)
        return remove

    # -- submission ------------------------------------------------------------------------
    def _enqueue(self, spec: TaskSpec, after: Iterable[TaskFuture]) -> TaskFuture:
        if not self._open:
            raise TandemError("the session is not open: submit inside `async with open_session`")
        found: list[TaskFuture] = []
        work = spec.work
        if type(work) is FunctionCall and (work.args or work.kwargs):
            find_futures(work.args, found)
            if work.kwargs:
                find_futures(work.kwargs.values(), found)
        for f in after:
            if type(f) is not TaskFuture:
                raise SpecError(f"task {spec.name!r}: after= takes task futures, got {f!r}")
            found.append(f)
        for f in found:
            if f._session is not self:
                raise SpecError(f"task {spec.name!r} depends on {f!r} from another session")
        self._core.check_feasible(spec)
        backend = self._backend_for.get(type(work)) or self._find_backend(work)
        if spec.resources.ranks > 1 and not backend.multi_rank:
            raise SpecError(
                f"task {spec.name!r} asks for {spec.resources.ranks} ranks, but the "
                f"{backend.name} backend launches one process per task; multi-rank (MPI) "
                "tasks need an MPI launcher backend (the simulator places them already)")
        tid = self._next_id
        self._next_id = tid + 1
        fut = TaskFuture(self, tid, spec.name)
        self._futures[tid] = fut
        self._specs[tid] = spec
        if self._watchers:
            now = self._time()
            for ins in self._watchers:
                ins.task_submitted(tid, spec, now)
        deps = tuple(dict.fromkeys(f.task_id for f in found)) if found else ()
        # Submissions made in one loop iteration reach the core together (one scheduling pass,
        # and the policy sees the whole burst); the task starts once the caller next yields.
        self._inbox.append(Submitted(task_id=tid, spec=spec, deps=deps))
        if not self._pumping and not self._pump_soon:
            self._pump_soon = True
            assert self._loop is not None
            self._loop.call_soon(self._pump_later)
        return fut

    # -- the driver ------------------------------------------------------------------------
    def _feed(self, event: Any) -> None:
        self._inbox.append(event)
        if not self._pumping:
            self._pump()

    def _pump_later(self) -> None:
        self._pump_soon = False
        if self._inbox and not self._pumping:
            self._pump()

    def _flush(self) -> None:
        """Hand the core what is queued now (before reading its state)."""
        if self._inbox and not self._pumping:
            self._pump()

    def _pump(self) -> None:
        """Hand queued events to the core and carry out its actions, until none is left."""
        self._pumping = True
        inbox = self._inbox
        handle = self._core.handle
        handle_many = self._core.handle_many
        now_fn = self._time
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
                        self._kill(action)
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
        """Once per loop iteration in which events were handled: schedule a trace flush,
        re-arm the deadline timer, wake ``wait_all``."""
        self._step_pending = False
        if self._traces and self._flush_at is None and self._loop is not None:
            # Lines reach the file within TRACE_FLUSH_S of being written, not one write per
            # loop iteration: a crash loses at most that much of the trace.
            self._flush_at = self._loop.call_later(TRACE_FLUSH_S, self._flush_trace)
        self._arm_timer()
        if self._idle is not None and not self._core.unfinished:
            self._idle.set()

    def _flush_trace(self) -> None:
        self._flush_at = None
        for t in self._traces:
            t.flush()

    def _arm_timer(self) -> None:
        at = self._core.next_deadline()
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is not None and self._loop is not None:
            # loop.time() and time.monotonic() share a clock on every asyncio loop we run on.
            self._timer = self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._feed(TimerFired())

    def _launch(self, action: Launch, now: float) -> None:
        tid = action.task_id
        spec = self._specs[tid]
        work = spec.work
        if type(work) is FunctionCall and (work.args or work.kwargs):
            work = FunctionCall(fn=work.fn, args=substitute(work.args),
                                kwargs=substitute(work.kwargs) if work.kwargs else work.kwargs)
        backend = self._backend_for.get(type(work)) or self._find_backend(work)
        if self._trace is not None:
            self._trace.launched(tid)
        for ins in self._instruments:
            ins.task_launched(action, now)
        backend.launch(LaunchRequest(
            task_id=tid, name=spec.name, kind=spec.kind, work=work,
            placement=action.placement, workdir=self._workdir_str(tid, spec.name),
            attempt=action.attempt, preempted=action.preempted,
        ))

    def _workdir(self, tid: int, name: str) -> Path:
        return Path(self._workdir_str(tid, name))

    def _workdir_str(self, tid: int, name: str) -> str:
        safe = self._safe_names.get(name)
        if safe is None:
            safe = self._safe_names[name] = _SAFE.sub("_", name)[:60]
        return f"{self._tasks_dir}/{tid:06d}-{safe}"

    def _find_backend(self, work: Work) -> Backend:
        for b in self._backends:
            if b.accepts(work):
                self._backend_for[type(work)] = b
                return b
        raise SpecError(f"no backend of this session runs {type(work).__name__} tasks "
                        f"(backends: {', '.join(b.name for b in self._backends)})")

    def _backend_for_work(self, spec: TaskSpec) -> Backend:
        return self._backend_for.get(type(spec.work)) or self._find_backend(spec.work)

    def _kill(self, action: Kill) -> None:
        self._backend_for_work(self._specs[action.task_id]).kill(action.task_id)

    def _resolve(self, action: Resolve) -> None:
        tid = action.task_id
        fut = self._futures.pop(tid)
        spec = self._specs.pop(tid)
        value = self._values.pop(tid, None)
        if action.state is DONE:
            error = None
            if type(spec.work) is Executable and value is None:
                value = ProcessResult(self._workdir(tid, spec.name))
        else:
            error = to_exception(action, spec.name, self._core)
        if self._trace is not None:
            self._trace.ended(tid)
        if self._instruments:
            record = self._core.record(tid)
            for ins in self._instruments:
                ins.task_ended(record)
        fut._resolve(action.state, value, error)

    # -- reporter (called by backends on the loop thread) ------------------------------------
    def started(self, task_id: int) -> None:
        self._feed(Started(task_id))

    def exited(self, outcome: Outcome) -> None:
        if outcome.failure is None and outcome.value is not None:
            self._values[outcome.task_id] = outcome.value
        self._feed(Exited(outcome.task_id, outcome.failure))

    # -- for futures -----------------------------------------------------------------------
    def _core_state(self, task_id: int) -> TaskState:
        self._flush()
        return self._core.state(task_id)

    def _record(self, task_id: int) -> Any:
        self._flush()
        return self._core.record(task_id)

    # -- lifecycle -------------------------------------------------------------------------
    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._idle = asyncio.Event()
        now = self._time()
        desc = f"{self.policy.mode.value}/{self.policy.order.value}"
        for ins in self._observers():
            ins.run_started(self.platform, desc, now, time.time())
        try:
            await asyncio.gather(*(b.start(self) for b in self._backends))
        except BaseException:
            if self._trace is not None:
                self._trace.close()
            raise
        self._open = True

    def _observers(self) -> list[Instrument]:
        """The trace and the instruments: what hears of the run's start, end and steering."""
        return self._instruments if self._trace is None else [self._trace, *self._instruments]

    def _abort(self, reason: str) -> None:
        """Cancel every unfinished task and every spawned coroutine."""
        for tid in list(self._futures):
            if tid in self._futures:
                self._feed(CancelRequested(tid, reason))
        for task in self._spawned:
            task.cancel()

    async def _close(self) -> None:
        try:
            await self.wait_all()
        finally:
            if self._timer is not None:
                self._timer.cancel()
            if self._flush_at is not None:
                self._flush_at.cancel()
                self._flush_at = None
            await asyncio.gather(*(b.shutdown() for b in self._backends),
                                 return_exceptions=True)
            self._open = False
            for ins in self._observers():
                ins.run_ended(self._time())
