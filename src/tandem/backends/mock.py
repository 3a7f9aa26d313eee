"""The mock backend: a :class:`~tandem.spec.task.Mock` task holds its placed slots for its
``seconds`` of real time, in-process.

Contract: runs ``Mock`` work only, with loop timers (:class:`~tandem.backends.timed.TimedBackend`):
no processes, no threads, no pinning (the placed cores and GPUs may be logical slots of a
machine that does not exist, as in the papers' sleep-based experiments). Never touches
scheduler state. It executes any node of any platform (``Backend.unreachable`` is ``None``).
Imports: tandem.backends.base, tandem.backends.timed, tandem.core.values, tandem.errors,
tandem.spec.

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

from tandem.backends.base import LaunchRequest, Outcome
from tandem.backends.timed import TimedBackend
from tandem.core.values import Failure, FailureKind
from tandem.errors import TandemInternalError
from tandem.spec.task import Mock, Work


class MockBackend(TimedBackend):
    """Runs ``Mock`` tasks as timers on the event loop (logical CPU and GPU slots)."""

    name = "mock"
    killed_message = "mock task killed on request"

    def accepts(self, work: Work) -> bool:
        return isinstance(work, Mock)

    def launch(self, request: LaunchRequest) -> None:
        loop, reporter = self._started_loop()
        task_id, work = request.task_id, request.work
        if task_id in self._pending:
            raise TandemInternalError(f"MockBackend: task {task_id} launched while running")
        if not isinstance(work, Mock):
            failure = Failure(kind=FailureKind.LAUNCH,
                              message=f"task {request.name!r}: the mock backend runs Mock work, "
                                      f"not {type(work).__name__}")
            loop.call_soon(reporter.exited, Outcome(task_id, failure=failure))
            return
        self._run_for(task_id, max(0.0, float(work.seconds) - self._ran(task_id)))
