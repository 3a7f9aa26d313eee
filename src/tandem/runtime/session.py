"""The Session: tandem's one public API for running tasks, as a view over a driver.

Contract: :class:`Session` submits tasks, waits for them and steers them (cancel, pause,
resume, preempt, priority, pool moves); every method checks its arguments, raising
:class:`SpecError` to the caller, and hands the driver (:mod:`tandem.runtime.driver`) a
submission or an event; the core decides. A session is a view: several may share one driver,
each with its own default ``by`` (who submits and who steers: ``"user"`` here, an agent's name
in an :class:`~tandem.runtime.agent_session.AgentSession`), recorded on each task
(``TaskSpec.by``) and each steering action (the trace's ``steer`` records). Create one with
:func:`~tandem.runtime.open.open_session`.

A steering request that does not apply to the task's state now (pausing a task that is not
running, anything on a task that has ended) is ignored and not recorded.
Imports: tandem.backends.base, tandem.core.events, tandem.core.policy, tandem.core.pools,
tandem.core.record, tandem.core.states, tandem.errors, tandem.runtime.args,
tandem.runtime.driver, tandem.runtime.future, tandem.runtime.options,
tandem.runtime.stream_state, tandem.runtime.walltime, tandem.runtime.workdirs, tandem.spec,
tandem.trace.instrument, tandem.trace.jsonl.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import signal as _signal
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from tandem.backends.base import Backend
from tandem.core.events import (
    CancelRequested,
    PauseRequested,
    PreemptRequested,
    PriorityChanged,
    QuotaMoved,
    ResumeRequested,
)
from tandem.core.pools import PoolUsage
from tandem.core.states import TaskState
from tandem.errors import SpecError
from tandem.runtime.args import find_futures
from tandem.runtime.driver import Driver
from tandem.runtime.future import TaskFuture
from tandem.runtime.options import TaskOptions, build_spec
from tandem.runtime.stream_state import Stream
from tandem.runtime.walltime import WalltimeSummary, summary_of
from tandem.runtime.workdirs import ProcessResult
from tandem.spec.checks import is_int, is_number
from tandem.spec.platform import Platform
from tandem.spec.task import Executable, FunctionCall, TaskSpec

if TYPE_CHECKING:
    from tandem.core.policy import Policy
    from tandem.core.record import TaskRecord
    from tandem.trace.instrument import Instrument
    from tandem.trace.jsonl import JsonlTrace

__all__ = ["ProcessResult", "Session"]

_SIGNALS = frozenset(s.value for s in _signal.Signals)
_TRACE_KINDS = frozenset({"run", "launch", "end", "steer", "data", "close"})


class Session:
    """Runs tasks on a platform. Create it with :func:`open_session`."""

    #: The reason a cancel records when none is given.
    cancel_reason = "cancelled by the user"

    def __init__(self, driver: Driver, *, by: str = "user") -> None:
        self._driver = driver
        self._by = by

    # -- what it is ------------------------------------------------------------------------
    @property
    def driver(self) -> Driver:
        """The driver this session is a view of."""
        return self._driver

    @property
    def by(self) -> str:
        """Who this session's submissions and steering actions are by, unless told."""
        return self._by

    @property
    def platform(self) -> Platform:
        return self._driver.platform

    @property
    def run_dir(self) -> Path:
        return self._driver.run_dir

    @property
    def policy(self) -> Policy:
        return self._driver.policy

    @property
    def trace(self) -> JsonlTrace | None:
        """The run directory's trace (``None`` when opened with ``trace=False``)."""
        return self._driver.trace

    @property
    def walltime(self) -> WalltimeSummary | None:
        """What the walltime left: done, deferred, preempted, never started (``None``: the
        session has no walltime); final once the session has closed."""
        return summary_of(self._driver.instruments)

    def time(self) -> float:
        """The session's clock now (virtual seconds under the simulator)."""
        return self._driver.clock()

    def note(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Add a record of your own to the run's trace: ``{"ev": kind, "t": now, **fields}``
        (``fields``: JSON values), for ``tandem.read_trace`` and your tools. ``kind`` is a word
        that is not one of the trace's own (``run``, ``launch``, ``end``, ``steer``,
        ``data``, ``close``)."""
        if not isinstance(kind, str) or not kind.replace("-", "_").isidentifier() \
                or kind in _TRACE_KINDS:
            raise SpecError(f"note: kind must be a word that is not one of the trace's own "
                            f"({', '.join(sorted(_TRACE_KINDS))}), got {kind!r}")
        if not isinstance(fields, Mapping):
            raise SpecError(f"note: fields must be a mapping, got {type(fields).__name__}")
        self._driver.note(kind, fields)

    def owns(self, future: object) -> bool:
        """Whether ``future`` is a task of this session (of its driver)."""
        return type(future) is TaskFuture and future.owner is self._driver

    # -- tasks -----------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any,
               kwargs: Mapping[str, Any] | None = None, ref: bool | None = None,
               **options: Unpack[TaskOptions]) -> TaskFuture:
        """Run ``fn(*args, **kwargs)`` in a warm worker process; returns a future at once.

        Futures anywhere in ``args``/``kwargs`` are dependencies, replaced by their results.
        ``ref``: keep the result on its node and pass it to dependents by reference
        (``True``), send it back by value (``False``), or decide by its size (``None``: from the
        session's ``ref_above`` bytes; see docs/data.md).
        ``options``: see :class:`~tandem.runtime.options.TaskOptions` (name, kind, cores, gpus,
        ranks, memory_mb or resources, priority, timeout, estimate, retries, pool, by, after).
        """
        if "by" not in options:
            options["by"] = self._by
        work = FunctionCall(fn=fn, args=args, kwargs=kwargs or {}, ref=ref)
        return self._enqueue(build_spec(work, options), options.get("after", ()))

    def stream(self, name: str, *, maxsize: int = 64, writers: int | None = None) -> Stream:
        """Open stream ``name`` for the session's tasks (``tandem.data.stream.writer(name)``,
        ``reader(name)``) and for this code (``await s.put(x)``, ``async for x in s``). At
        most ``maxsize`` items wait in it (a writer waits beyond: back-pressure). It ends after
        ``writers`` writers have closed, or, without ``writers``, once :meth:`Stream.close`
        was called and every writer has closed. A writer that fails fails it for its readers
        (see docs/data.md, "Streams")."""
        return self._driver.data.streams.open(name, maxsize=maxsize, writers=writers)

    def execute(self, argv: Sequence[str] | str, *, env: Mapping[str, str] | None = None,
                cwd: str | None = None, shell: bool = False,
                **options: Unpack[TaskOptions]) -> TaskFuture:
        """Run an executable (``argv`` list; a command string needs ``shell=True``) in its own
        process group, pinned to its placed cores. The result is a :class:`ProcessResult`.
        ``options`` as for :meth:`submit`."""
        if "by" not in options:
            options["by"] = self._by
        argv_: Any = argv if isinstance(argv, str) else tuple(argv)
        work = Executable(argv=argv_, env=env or {}, cwd=cwd, shell=shell)
        return self._enqueue(build_spec(work, options), options.get("after", ()))

    def submit_spec(self, spec: TaskSpec, *, after: Iterable[TaskFuture] = ()) -> TaskFuture:
        """Submit a ready-made :class:`TaskSpec` (one by the default ``"user"`` is submitted
        in this session's name)."""
        if spec.by == "user" and self._by != "user":
            spec = dataclasses.replace(spec, by=self._by)
        return self._enqueue(spec, after)

    def _enqueue(self, spec: TaskSpec, after: Iterable[TaskFuture]) -> TaskFuture:
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
        driver = self._driver
        for f in found:
            if f.owner is not driver:
                raise SpecError(f"task {spec.name!r} depends on {f!r} from another session")
        return self._submitted(driver.enqueue(spec, found), spec)

    def _submitted(self, future: TaskFuture, spec: TaskSpec) -> TaskFuture:
        """What a view does with each task it submitted (nothing here)."""
        return future

    def spawn(self, coro: Coroutine[Any, Any, Any], *,
              name: str | None = None) -> asyncio.Task[Any]:
        """Run a coroutine (steering code) inside the session's task group."""
        return self._driver.spawn(coro, name=name)

    def sync_journal(self) -> None:
        """Write what the run directory's journal has recorded so far to its file, and wait
        until it is there: every task that ended before the call is restored by a resumed run,
        whatever ends this one (the journal is otherwise written every 50 ms)."""
        durable = self._driver.durable
        if durable is None:
            raise SpecError("sync_journal: this session keeps no journal (it was opened with "
                            "journal=False)")
        self._driver.flush()
        durable.sync()

    async def wait_all(self) -> None:
        """Wait until every task submitted so far has ended."""
        await self._driver.wait_idle()

    @property
    def unfinished(self) -> int:
        return self._driver.core.unfinished

    def counts(self) -> dict[TaskState, int]:
        return self._driver.core.counts()

    def idle(self) -> tuple[int, int]:
        """(cores, GPUs) of the platform idle now, after queued submissions were placed."""
        pool = self._driver.core.pool
        return pool.free_cores, pool.free_gpus

    def record(self, task_id: int) -> TaskRecord:
        """Timestamps, placement, attempts and failure of task ``task_id`` so far."""
        return self._driver.record_of(task_id)

    def add_instrument(self, instrument: Instrument) -> Callable[[], None]:
        """Subscribe ``instrument`` to this open session's events from now on; returns the
        function that flushes and unsubscribes it."""
        return self._driver.add_instrument(instrument)

    # -- steering --------------------------------------------------------------------------
    def cancel(self, future: TaskFuture | Iterable[TaskFuture], reason: str | None = None, *,
               by: str | None = None) -> None:
        """Cancel a task, or several, and everything downstream of them: dependents that have
        not started are cancelled too (transitively), naming the cancelled root; a running
        task's whole process tree is ended. ``reason`` (a message only: the task ends
        CANCELLED and is never retried, whatever it says) and ``by`` are recorded on each
        task's failure and in the trace."""
        futures = [future] if isinstance(future, TaskFuture) else list(future)
        for f in futures:
            self._own(f)
        why = self.cancel_reason if reason is None else reason
        who = self._by if by is None else by
        for f in futures:
            self._driver.feed(CancelRequested(task_id=f.task_id, reason=why, by=who))

    def pause(self, future: TaskFuture, *, release: bool = False, by: str | None = None,
              reason: str = "") -> None:
        """Stop a running task's whole process tree (SIGSTOP). ``release=False``: it keeps its
        cores and GPUs. ``release=True``: its cores go to other tasks while it is stopped; it
        keeps its GPU ids, memory and node, and on :meth:`resume` waits for as many cores on
        its node (in the ready queue's order) and is re-pinned to them. Paused time does not
        count towards its timeout."""
        backend = self._steerable(future, "pause")
        if release and backend is not None and not backend.repins:
            raise SpecError(f"pause: the {backend.name} backend cannot re-pin a task to other "
                            "cores on resume, so a pause cannot release its cores (pause it "
                            "with release=False)")
        self._driver.feed(PauseRequested(task_id=future.task_id, release=bool(release),
                                         by=self._who(by), reason=reason))

    def resume(self, future: TaskFuture, *, by: str | None = None, reason: str = "") -> None:
        """Continue a paused task (SIGCONT), after it got cores again if it released them."""
        self._steerable(future, "resume")
        self._driver.feed(ResumeRequested(task_id=future.task_id, by=self._who(by),
                                          reason=reason))

    def preempt(self, future: TaskFuture, *, grace: float = 10.0,
                signal: int = _signal.SIGTERM, by: str | None = None, reason: str = "") -> None:
        """Ask a running task to checkpoint and leave: it gets ``signal`` (SIGTERM or SIGUSR1,
        say) and ``grace`` seconds to exit; then its tree is killed. It goes back to the ready
        queue (not a failure, not a retry) and runs again later with ``TANDEM_PREEMPTED`` and
        ``TANDEM_ATTEMPT`` set and the same ``TANDEM_TASK_DIR``, to continue from its
        checkpoint. See docs/steering.md for the protocol."""
        self._steerable(future, "preempt")
        if not is_number(grace) or math.isnan(grace) or grace < 0:
            raise SpecError(f"preempt: grace must be a number of seconds >= 0, got {grace!r}")
        if not is_int(signal) or signal not in _SIGNALS:
            raise SpecError(f"preempt: signal must be a signal number, got {signal!r}")
        self._driver.feed(PreemptRequested(task_id=future.task_id, grace=float(grace),
                                           signal=int(signal), by=self._who(by),
                                           reason=reason))

    def set_priority(self, future: TaskFuture, priority: int, *, by: str | None = None,
                     reason: str = "") -> None:
        """Give a task a new priority (higher runs first). A waiting task is re-ordered at once;
        for a running one it matters when it waits again (a retry, a preemption, a resume)."""
        self._own(future)
        if not is_int(priority):
            raise SpecError(f"set_priority: priority must be an integer, got {priority!r}")
        self._driver.feed(PriorityChanged(task_id=future.task_id, priority=priority,
                                          by=self._who(by), reason=reason))

    def move(self, source: str, target: str, *, cores: int = 0, gpus: int = 0,
             by: str | None = None, reason: str = "") -> None:
        """Move ``cores`` and ``gpus`` of quota from pool ``source`` to pool ``target``
        (``"default"`` is the pool of tasks without one). Running tasks are never ended: a pool
        holding more than its new quota admits nothing until enough of its tasks have ended."""
        quotas = self._driver.core.quotas
        if quotas is None:
            raise SpecError("move: this session has no resource pools (open it with pools=...)")
        quotas.check_move(source, target, cores, gpus)
        self._driver.feed(QuotaMoved(source=source, target=target, cores=cores, gpus=gpus,
                                     by=self._who(by), reason=reason))

    def pools(self) -> dict[str, PoolUsage]:
        """Each resource pool's quota and what its running tasks hold now (empty without
        pools)."""
        return self._driver.core.pool_usage()

    # -- checks ----------------------------------------------------------------------------
    def _who(self, by: str | None) -> str:
        return self._by if by is None else by

    def _own(self, future: object) -> None:
        if not self.owns(future):
            raise SpecError(f"{future!r} is not a task of this session")

    def _steerable(self, future: TaskFuture, what: str) -> Backend | None:
        """The backend of a task that can be steered (``None``: it ended already)."""
        self._own(future)
        spec = self._driver.spec_of(future.task_id)
        if spec is None:     # ended already: the core ignores the request
            return None
        backend = self._driver.backend_of(spec)
        if not backend.steerable:
            raise SpecError(f"{what}: task {spec.name!r} runs on the {backend.name} backend, "
                            f"which cannot {what} tasks")
        return backend
