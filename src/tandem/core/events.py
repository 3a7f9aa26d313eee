"""Events: what drivers tell the core. Each is a frozen value; time comes separately as ``now``.

Contract: frozen values only; imports ``tandem.spec`` and ``tandem.core.values``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tandem.core.values import Failure
from tandem.spec.task import TaskSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted:
    """A new task ``task_id`` (unique, increasing) that must wait for ``deps`` to succeed."""

    task_id: int
    spec: TaskSpec
    deps: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Started:
    """The backend started the launched task ``task_id``."""

    task_id: int


@dataclass(frozen=True, slots=True)
class Exited:
    """The task's process or call ended: ``failure`` is ``None`` on success."""

    task_id: int
    failure: Failure | None = None


@dataclass(frozen=True, slots=True)
class CancelRequested:
    """Somebody asked to cancel ``task_id``; ``reason`` is recorded on it and its dependents."""

    task_id: int
    reason: str = "cancelled by the user"


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The deadline returned by ``Scheduler.next_deadline()`` was reached."""


Event = Submitted | Started | Exited | CancelRequested | TimerFired
