"""The core's bookkeeping of one task: where it is in its life (the spec is what was asked).

Contract: a plain mutable record; no logic. Only :mod:`tandem.core.transitions` (and the
handlers that call it) change one; readers outside the core see it as a
:class:`~tandem.core.view.TaskView`.

Imports: tandem.core.states, tandem.core.values, tandem.spec.
"""

from __future__ import annotations

from typing import Any

from tandem.core.states import TaskState
from tandem.core.values import Failure, KillCause, Placement
from tandem.spec.resources import Resources
from tandem.spec.task import TaskSpec


class CoreTask:
    """Core bookkeeping of one task (the spec is what was asked; this is where it is)."""

    __slots__ = (
        "attempt", "bottom", "bucket", "deadline", "dependents", "deps", "deps_left", "entry",
        "est", "failure", "id", "kept", "kill", "kill_by", "kill_message", "launched", "left",
        "level",
        "placement", "pool", "preempt_next", "preempted", "preempting", "prio", "ready_at", "req",
        "spec", "started", "state", "submitted", "ended",
    )

    def __init__(self, task_id: int, spec: TaskSpec, deps: tuple[int, ...], now: float,
                 bucket: Any = None, pool: str | None = None) -> None:
        self.id = task_id
        self.spec = spec
        self.req: Resources = spec.resources
        self.deps = deps
        self.deps_left = 0
        self.dependents: list[CoreTask] | None = None   # tasks waiting on this one
        self.state = TaskState.PENDING
        self.entry: tuple[Any, ...] | None = None   # live ready-queue entry (READY state)
        self.bucket: Any = bucket                    # the ready-queue bucket of its shape
        self.est = spec.estimate or 0.0
        self.bottom = self.est
        self.level = 0
        self.placement: Placement | None = None
        self.attempt = 0
        self.kill: KillCause | None = None           # why the core had the live attempt killed
        self.kill_message = ""                       # the canceller's reason (a message only)
        self.kill_by: str | None = None              # who asked for the kill (a cancel)
        self.prio = spec.priority                    # may be changed while the task waits
        self.pool = pool                             # its quota pool, when pools are in use
        self.deadline: float | None = None           # timeout of the live attempt, if any
        self.left: float | None = None               # timeout seconds left while paused
        self.preempting = False                      # told to checkpoint and exit: requeue
        self.preempt_next: tuple[int, float] | None = None  # (signal, grace) once resumed
        self.preempted = 0                           # attempts that ended by a preemption
        self.failure: Failure | None = None
        self.kept = 0                                # bytes of its result kept on its node
        self.submitted = now
        self.ready_at: float | None = None
        self.launched: float | None = None
        self.started: float | None = None
        self.ended: float | None = None
