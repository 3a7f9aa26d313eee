"""Tasks that hold their placed slots for a number of seconds on loop timers, steerable.

Contract: the shared base of :class:`~tandem.backends.mock.MockBackend` (real seconds) and
:class:`~tandem.sim.model_backend.ModelBackend` (virtual seconds): no processes, no threads.
A subclass decides how long a launch runs (it calls :meth:`_run_for`) and what the task gives
when its time is up (:meth:`_outcome`).
Imports: tandem.backends.base, tandem.core.values, tandem.errors.

- A launch reports ``started`` from the next loop callback and arms one ``call_later`` timer
  there, so a task's measured running time is its seconds.
- ``kill`` cancels the task's pending callback and reports, from a later callback, an exit with
  a ``SIGNAL`` failure; killing a task that already ended does nothing.
- ``pause`` stops the task's clock (its timer is cancelled, the time left kept), ``resume``
  starts it again; ``preempt`` ends it at once, as if it wrote a perfect checkpoint: the
  seconds it ran are kept (:meth:`_ran`), so its next launch can run only for what is left.
- ``shutdown`` cancels every pending timer and reports each of those tasks as killed.
"""

from __future__ import annotations

import asyncio
import signal

from tandem.backends.base import Backend, Outcome, Reporter
from tandem.core.values import Failure, FailureKind, Placement
from tandem.errors import BackendError


class TimedBackend(Backend):
    """The timers, kill and steering of tasks that run for a number of seconds."""

    multi_rank = True   # a multi-rank task holds every rank's slots; nothing is launched
    steerable = True
    killed_message = "task killed on request"

    def __init__(self) -> None:
        self._reporter: Reporter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # task id -> the handle of its next callback (the start, then the exit timer)
        self._pending: dict[int, asyncio.Handle] = {}
        self._ends: dict[int, float] = {}       # running: when its timer fires
        self._paused: dict[int, float] = {}     # paused: seconds it has left
        self._done: dict[int, float] = {}       # preempted: seconds it had run
        self._given: dict[int, float] = {}      # seconds of its current launch

    async def start(self, reporter: Reporter) -> None:
        self._reporter = reporter
        self._loop = asyncio.get_running_loop()

    @property
    def running(self) -> int:
        """How many tasks are launched and not yet ended."""
        return len(self._pending)

    # -- for subclasses -------------------------------------------------------------------
    def _started_loop(self) -> tuple[asyncio.AbstractEventLoop, Reporter]:
        if self._loop is None or self._reporter is None:
            raise BackendError(f"{type(self).__name__}.launch called before start()")
        return self._loop, self._reporter

    def _ran(self, task_id: int) -> float:
        """Seconds a preempted task already ran (0 for a first launch)."""
        return self._done.get(task_id, 0.0)

    def _run_for(self, task_id: int, seconds: float) -> None:
        """Start ``task_id`` now; it ends, with :meth:`_outcome`, after ``seconds``."""
        loop, _ = self._started_loop()
        self._given[task_id] = seconds
        self._pending[task_id] = loop.call_soon(self._on_start, task_id, seconds)

    def _outcome(self, task_id: int) -> Outcome:
        """What a task gives when its time is up (default: nothing)."""
        return Outcome(task_id)

    def _forget(self, task_id: int) -> None:
        """The task ended for good: drop what a subclass keeps about it."""

    # -- timers ---------------------------------------------------------------------------
    def _on_start(self, task_id: int, seconds: float) -> None:
        assert self._reporter is not None
        self._arm(task_id, seconds)
        self._reporter.started(task_id)

    def _arm(self, task_id: int, seconds: float) -> None:
        assert self._loop is not None
        self._ends[task_id] = self._loop.time() + seconds
        self._pending[task_id] = self._loop.call_later(seconds, self._on_exit, task_id)

    def _on_exit(self, task_id: int) -> None:
        assert self._reporter is not None
        del self._pending[task_id]
        for d in (self._ends, self._given, self._done):
            d.pop(task_id, None)
        outcome = self._outcome(task_id)
        self._forget(task_id)
        self._reporter.exited(outcome)

    # -- kill and steering ----------------------------------------------------------------
    def kill(self, task_id: int) -> None:
        if self._stop(task_id):
            self._done.pop(task_id, None)
            self._forget(task_id)

    def _stop(self, task_id: int) -> bool:
        """End a launched task now, reported as killed; whether it was running."""
        handle = self._pending.pop(task_id, None)
        if handle is None:
            return False
        handle.cancel()
        for d in (self._ends, self._paused, self._given):
            d.pop(task_id, None)
        assert self._loop is not None and self._reporter is not None
        self._loop.call_soon(self._reporter.exited, self._killed(task_id))
        return True

    def pause(self, task_id: int) -> None:
        end = self._ends.pop(task_id, None)
        if end is None:          # not started yet, or ended: nothing runs
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
        end, left = self._ends.get(task_id), self._paused.get(task_id)
        if left is None:
            left = self._given[task_id] if end is None else max(0.0, end - self._loop.time())
        self._done[task_id] = self._done.get(task_id, 0.0) + self._given[task_id] - left
        self._stop(task_id)

    async def shutdown(self) -> None:
        pending, self._pending = self._pending, {}
        for task_id, handle in pending.items():
            handle.cancel()
            if self._reporter is not None:
                self._reporter.exited(self._killed(task_id))

    def _killed(self, task_id: int) -> Outcome:
        return Outcome(task_id, failure=Failure(
            kind=FailureKind.SIGNAL, signal=int(signal.SIGTERM), message=self.killed_message))
