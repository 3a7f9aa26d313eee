"""The mock backend: a :class:`~tandem.spec.task.Mock` task holds its placed slots for its
``seconds`` of real time, in-process.

Contract: runs ``Mock`` work only, with loop timers: no processes, no threads, no pinning (the
placed cores and GPUs may be logical slots of a machine that does not exist, as in the papers'
sleep-based experiments). Never touches scheduler state. Imports the standard library,
``tandem.core.values``, ``tandem.spec.task`` and ``tandem.runtime.backend``.

Rules:

- ``launch`` reports ``started`` from the next loop callback (``call_soon``) and arms one
  ``call_later(seconds)`` timer there, so a task's measured running time is its ``seconds``.
- ``kill`` cancels the task's pending callback and reports, from a later callback, an exit with a
  ``SIGNAL`` failure. Killing a task that already ended does nothing.
- Work that is not a ``Mock`` is reported as a ``LAUNCH`` failure; ``launch`` never raises for it.
- ``shutdown`` cancels every pending timer and reports each of those tasks as killed.
- Multi-rank mock tasks are accepted: they hold the slots of all their ranks.
- Steering: ``pause`` stops the task's clock (its exit timer is cancelled, the time left kept),
  ``resume`` starts it again; ``preempt`` ends it at once, as if it wrote a perfect checkpoint:
  its next launch holds its slots only for the seconds it had left (as the simulator models it).
"""

from __future__ import annotations

import asyncio
import signal

from tandem.core.values import Failure, FailureKind, Placement
from tandem.errors import BackendError, TandemInternalError
from tandem.runtime.backend import Backend, LaunchRequest, Outcome, Reporter
from tandem.spec.task import Mock, Work


class MockBackend(Backend):
    """Runs ``Mock`` tasks as timers on the event loop (logical CPU and GPU slots)."""

    name = "mock"
    multi_rank = True   # a multi-rank mock holds every rank's slots; nothing is launched
    steerable = True

    def __init__(self) -> None:
        self._reporter: Reporter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # task id -> the handle of its next callback (the start, then the exit timer)
        self._pending: dict[int, asyncio.Handle] = {}
        self._ends: dict[int, float] = {}       # running: when its timer fires
        self._paused: dict[int, float] = {}     # paused: seconds it has left
        self._done: dict[int, float] = {}       # preempted: seconds it had run
        self._given: dict[int, float] = {}      # seconds of its current launch

    def accepts(self, work: Work) -> bool:
        return isinstance(work, Mock)

    async def start(self, reporter: Reporter) -> None:
        self._reporter = reporter
        self._loop = asyncio.get_running_loop()

    @property
    def running(self) -> int:
        """How many tasks are launched and not yet ended."""
        return len(self._pending)

    def launch(self, request: LaunchRequest) -> None:
        loop = self._loop
        if loop is None or self._reporter is None:
            raise BackendError("MockBackend.launch called before start()")
        task_id, work = request.task_id, request.work
        if task_id in self._pending:
            raise TandemInternalError(f"MockBackend: task {task_id} launched while running")
        if not isinstance(work, Mock):
            failure = Failure(kind=FailureKind.LAUNCH,
                              message=f"task {request.name!r}: the mock backend runs Mock work, "
                                      f"not {type(work).__name__}")
            loop.call_soon(self._reporter.exited, Outcome(task_id, failure=failure))
            return
        seconds = max(0.0, float(work.seconds) - self._done.get(task_id, 0.0))
        self._given[task_id] = seconds
        self._pending[task_id] = loop.call_soon(self._on_start, task_id, seconds)

    def _on_start(self, task_id: int, seconds: float) -> None:
        assert self._loop is not None and self._reporter is not None
        self._arm(task_id, seconds)
        self._reporter.started(task_id)

    def _arm(self, task_id: int, seconds: float) -> None:
        assert self._loop is not None
        self._ends[task_id] = self._loop.time() + seconds
        self._pending[task_id] = self._loop.call_later(seconds, self._on_exit, task_id)

    def _on_exit(self, task_id: int) -> None:
        assert self._reporter is not None
        del self._pending[task_id]
        self._ends.pop(task_id, None)
        self._done.pop(task_id, None)
        self._given.pop(task_id, None)
        self._reporter.exited(Outcome(task_id))

    def kill(self, task_id: int) -> None:
        handle = self._pending.pop(task_id, None)
        if handle is None:
            return
        handle.cancel()
        self._ends.pop(task_id, None)
        self._paused.pop(task_id, None)
        self._given.pop(task_id, None)
        assert self._loop is not None and self._reporter is not None
        self._loop.call_soon(self._reporter.exited, _killed(task_id))

    def pause(self, task_id: int) -> None:
        end = self._ends.pop(task_id, None)
        if end is None:   # not started yet (or ended): nothing runs
            return
        assert self._loop is not None
        self._pending[task_id].cancel()
        self._paused[task_id] = max(0.0, end - self._loop.time())

    def resume(self, task_id: int, placement: Placement | None = None) -> None:
        left = self._paused.pop(task_id, None)
        if left is not None and task_id in self._pending:
            self._arm(task_id, left)

    def preempt(self, task_id: int, signal: int, grace: float) -> None:
        if task_id not in self._pending:
            return
        assert self._loop is not None
        end = self._ends.get(task_id)
        left = self._paused.get(task_id)
        if left is None:
            left = self._given[task_id] if end is None else max(0.0, end - self._loop.time())
        self._done[task_id] = self._done.get(task_id, 0.0) + self._given[task_id] - left
        self.kill(task_id)

    async def shutdown(self) -> None:
        pending, self._pending = self._pending, {}
        for task_id, handle in pending.items():
            handle.cancel()
            if self._reporter is not None:
                self._reporter.exited(_killed(task_id))


def _killed(task_id: int) -> Outcome:
    return Outcome(task_id, failure=Failure(
        kind=FailureKind.SIGNAL, signal=int(signal.SIGTERM),
        message="mock task killed on request"))
