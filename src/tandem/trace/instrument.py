"""Instrument hooks: subscribe to task events from Python (dashboards, OpenTelemetry, traces).

Contract: a base class whose methods do nothing; subclass and override what you need. Both
drivers call the hooks on their own thread, in event order, with the driver's clock. A hook must
not block; an exception in a hook is reported and the hook is dropped, the run goes on.
"""

from __future__ import annotations

from tandem.core.actions import Launch, Steered
from tandem.core.record import TaskRecord
from tandem.spec.platform import Platform
from tandem.spec.task import TaskSpec


class Instrument:
    """Override any of these methods."""

    def run_started(self, platform: Platform, policy: str, now: float, epoch: float) -> None:
        """The session or simulation began. ``epoch`` is wall-clock time at ``now``."""

    def task_submitted(self, task_id: int, spec: TaskSpec, now: float) -> None:
        """A task was submitted (before the scheduler has seen it)."""

    def task_launched(self, launch: Launch, now: float) -> None:
        """The core placed a task and its backend was told to start it."""

    def task_ended(self, record: TaskRecord) -> None:
        """A task reached a final state; ``record`` has its timestamps and placement."""

    def steered(self, action: Steered, now: float) -> None:
        """A steering action (cancel, pause, resume, preempt, priority, pool move) took
        effect: who decided what, when."""

    def run_ended(self, now: float) -> None:
        """The session or simulation is over."""
