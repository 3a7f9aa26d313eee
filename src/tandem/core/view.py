"""What readers outside the core may see of a task: a read-only view.

Contract: a :class:`typing.Protocol` of read-only attributes; the core's own task record
(:class:`~tandem.core.task.CoreTask`) satisfies it. Readers outside the core (the trace, the
drivers) type against :class:`TaskView`, never against ``CoreTask``, so the core may change its
bookkeeping without changing them.

Imports: tandem.core.states, tandem.core.values, tandem.spec.
"""

from __future__ import annotations

from typing import Protocol

from tandem.core.states import TaskState
from tandem.core.values import Failure, Placement
from tandem.spec.task import TaskSpec


class TaskView(Protocol):
    """One task as the core sees it now. Timestamps are in the driver's clock; ``None`` where
    a step did not happen (yet)."""

    @property
    def id(self) -> int: ...
    @property
    def spec(self) -> TaskSpec: ...
    @property
    def state(self) -> TaskState: ...
    @property
    def deps(self) -> tuple[int, ...]: ...
    @property
    def placement(self) -> Placement | None: ...
    @property
    def attempt(self) -> int: ...
    @property
    def failure(self) -> Failure | None: ...
    @property
    def submitted(self) -> float: ...
    @property
    def ready_at(self) -> float | None: ...
    @property
    def launched(self) -> float | None: ...
    @property
    def started(self) -> float | None: ...
    @property
    def ended(self) -> float | None: ...
    @property
    def level(self) -> int: ...
    @property
    def preempted(self) -> int: ...
