"""A task's record: what happened to it and when (separate from the spec and the core state).

Contract: one immutable value; imports only core values and spec types. A typed NamedTuple
rather than a frozen dataclass: one is built for every task that ends, on the runtime's hot
path, and a NamedTuple is built four times faster.

Imports: tandem.core.states, tandem.core.values, tandem.spec.
"""

from __future__ import annotations

from typing import NamedTuple

from tandem.core.states import TaskState
from tandem.core.values import Failure, Placement
from tandem.spec.resources import Resources


class TaskRecord(NamedTuple):
    """Timestamps are in the driver's clock (seconds); ``None`` where a step did not happen."""

    task_id: int
    name: str
    kind: str
    state: TaskState
    resources: Resources
    deps: tuple[int, ...]
    placement: Placement | None
    attempts: int
    failure: Failure | None
    submitted: float
    ready: float | None
    launched: float | None
    started: float | None
    ended: float | None
    level: int
    preempted: int = 0
    """Attempts that ended by a preemption (they count in ``attempts``, not as failures)."""

    @property
    def cores(self) -> int:
        """Cores held, over all ranks."""
        return self.resources.total_cores

    @property
    def gpus(self) -> int:
        """GPUs held, over all ranks."""
        return self.resources.total_gpus

    @property
    def duration(self) -> float | None:
        """Running time of the last attempt (launch or start to end)."""
        begin = self.started if self.started is not None else self.launched
        if begin is None or self.ended is None:
            return None
        return self.ended - begin
