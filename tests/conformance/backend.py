"""A scripted fake backend: each task "runs" for its scripted duration on loop timers.

``launch`` reports ``started`` at once (from the session's own pump, as a real backend's
start-up callback would) and arms ``loop.call_later(duration)``; the exit then carries the
scripted failure, if any. ``kill`` cancels the timer and reports the exit from the next loop
callback. Nothing else is simulated: no processes, no pinning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping

from tandem.backends.base import Backend, LaunchRequest, Outcome, Reporter
from tandem.core.values import Failure, FailureKind
from tandem.spec.task import Mock, Work


class ScriptedBackend(Backend):
    """Runs each task for ``durations[task_id]`` seconds; tasks in ``fails`` exit with code 1."""

    name = "scripted"

    def __init__(self, durations: Mapping[int, float], fails: Collection[int] = ()) -> None:
        self.durations = dict(durations)
        self.fails = frozenset(fails)
        self._reporter: Reporter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: dict[int, asyncio.TimerHandle] = {}

    def accepts(self, work: Work) -> bool:
        return isinstance(work, Mock)

    async def start(self, reporter: Reporter) -> None:
        self._reporter = reporter
        self._loop = asyncio.get_running_loop()

    def launch(self, request: LaunchRequest) -> None:
        assert self._loop is not None and self._reporter is not None
        tid = request.task_id
        self._reporter.started(tid)
        self._timers[tid] = self._loop.call_later(self.durations[tid], self._exit, tid)

    def _exit(self, tid: int) -> None:
        assert self._reporter is not None
        del self._timers[tid]
        failure = None
        if tid in self.fails:
            failure = Failure(kind=FailureKind.EXIT, message="scripted failure", exit_code=1)
        self._reporter.exited(Outcome(task_id=tid, failure=failure))

    def kill(self, task_id: int) -> None:
        timer = self._timers.pop(task_id, None)
        if timer is None:
            return
        timer.cancel()
        assert self._loop is not None and self._reporter is not None
        reporter = self._reporter
        self._loop.call_soon(reporter.exited, Outcome(
            task_id=task_id, failure=Failure(kind=FailureKind.SIGNAL, message="killed")))

    async def shutdown(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
