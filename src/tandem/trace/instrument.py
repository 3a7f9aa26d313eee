"""Instrument hooks: subscribe to task events from Python (dashboards, OpenTelemetry, traces).

Contract: a base class whose methods do nothing; subclass and override what you need. Both
drivers call the hooks through one :class:`~tandem.trace.instruments.Instruments` object, on
their own thread, in event order, with the driver's clock. A hook must not block; a hook that
raises is logged on the ``tandem`` logger (naming the instrument and the hook) and that
instrument is removed; the run goes on.

Two hooks serve instruments that read tasks themselves (the run directory's trace): ``bind``
hands them the driver's read-only view of its tasks before anything runs, and ``flush`` is
called at least every 50 ms of a real run (and every few thousand tasks of a simulation) and
at the end. ``task_resolved`` is the cheap twin of ``task_ended``: the task's id only, no
record is built for it.
Imports: tandem.core.actions, tandem.core.pools, tandem.core.record, tandem.core.view,
tandem.spec.platform, tandem.spec.task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tandem.core.actions import Launch, Steered
from tandem.core.record import TaskRecord
from tandem.spec.platform import Platform
from tandem.spec.task import TaskSpec

if TYPE_CHECKING:
    from tandem.core.pools import PoolUsage
    from tandem.core.view import TaskView

HOOKS = ("bind", "run_started", "task_submitted", "task_restored", "task_launched",
         "task_memory", "data_held", "task_resolved", "task_ended", "steered", "noted",
         "flush", "run_ended")
"""Every hook's name, in the order a run calls them."""


class Instrument:
    """Override any of these methods."""

    def bind(self, tasks: Mapping[int, TaskView],
             pools: Callable[[], Mapping[str, PoolUsage]]) -> None:
        """Before the run: the driver's tasks (read-only, by id; a task may be forgotten once
        it is final and flushed) and a function giving the resource pools' use now."""

    def run_started(self, platform: Platform, policy: str, now: float, epoch: float) -> None:
        """The session or simulation began. ``epoch`` is wall-clock time at ``now``."""

    def task_submitted(self, task_id: int, spec: TaskSpec, now: float) -> None:
        """A task was submitted (before the scheduler has seen it)."""

    def task_restored(self, task_id: int, key: str, now: float) -> None:
        """A task submitted is restored from the journal of an earlier run (key ``key``): it
        is done without running; it ends (``task_resolved``) like any other task."""

    def task_launched(self, launch: Launch, now: float) -> None:
        """The core placed a task and its backend is told to start it."""

    def task_memory(self, task_id: int, peak_mb: float) -> None:
        """An attempt of the task ended having used at most ``peak_mb`` MiB of memory (called
        only where its backend measured it, before the end is handled: see
        :mod:`tandem.backends.memory`)."""

    def data_held(self, task_id: int, node: str, change: int, held: int, now: float) -> None:
        """The bytes of results kept by reference on ``node`` changed by ``change`` (positive:
        task ``task_id``'s result was kept; negative: it was freed); ``held`` is the node's
        total now (see :mod:`tandem.runtime.kept`)."""

    def task_resolved(self, task_id: int) -> None:
        """A task reached a final state (its id only: read it from the tasks given to
        :meth:`bind`, until the next :meth:`flush` returns)."""

    def task_ended(self, record: TaskRecord) -> None:
        """A task reached a final state; ``record`` has its timestamps and placement."""

    def steered(self, action: Steered, now: float) -> None:
        """A steering action (cancel, pause, resume, preempt, priority, pool move) took
        effect: who decided what, when."""

    def noted(self, kind: str, fields: Mapping[str, Any], now: float) -> None:
        """Code of the run asked for a record of its own in the trace (``Session.note``):
        ``kind`` names it (a surrogate's decisions, audits, retrainings and swaps are
        ``surrogate``), ``fields`` are JSON values."""

    def flush(self) -> None:
        """Write out what is buffered. Tasks resolved before the call may be forgotten by the
        driver once it returns."""

    def run_ended(self, now: float) -> None:
        """The session or simulation is over."""
