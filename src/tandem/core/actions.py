"""Actions: what the core asks drivers to do. Frozen values.

Contract: frozen values only; imports ``tandem.core.values`` and ``tandem.core.states``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tandem.core.states import TaskState
from tandem.core.values import Failure, Placement


@dataclass(frozen=True, slots=True)
class Launch:
    """Start task ``task_id`` on exactly ``placement``; ``attempt`` counts from 1."""

    task_id: int
    placement: Placement
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class Kill:
    """End the running task's whole process tree (SIGTERM, grace period, SIGKILL). The backend
    still reports ``Exited`` afterwards; the resources stay held until then."""

    task_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Resolve:
    """The task reached a final ``state``; ``failure`` says why when it is not ``DONE``."""

    task_id: int
    state: TaskState
    failure: Failure | None = None


Action = Launch | Kill | Resolve
