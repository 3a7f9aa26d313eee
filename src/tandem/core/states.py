"""The task lifecycle, as one table.

Contract: pure data; imports only ``tandem.errors``. Every state change in the core goes through
:func:`check`, which raises :class:`TandemInternalError` naming the task, both states and the
event for a move the table does not allow.
"""

from __future__ import annotations

from enum import Enum

from tandem.errors import TandemInternalError


class TaskState(Enum):
    """Where a task is in its life."""

    PENDING = "pending"
    """Submitted; waiting for its dependencies (or, in barrier mode, for its level's turn)."""
    READY = "ready"
    """Every dependency succeeded; waiting for the resources it asked for."""
    LAUNCHED = "launched"
    """Placed on specific cores and GPUs; the backend was told to start it."""
    RUNNING = "running"
    """The backend reports that its process (or function call) is running."""
    PAUSED = "paused"
    """Stopped by a pause (SIGSTOP to its process tree); still holds its cores and GPUs."""
    SUSPENDED = "suspended"
    """Stopped by a pause that released its cores to other tasks; it keeps its GPU ids and
    memory (a stopped process cannot move them) and its node."""
    RESUMING = "resuming"
    """A suspended task asked to resume: still stopped, it waits in the ready queue (same order
    as ready tasks) for cores on its node; once placed it is re-pinned and continued."""
    DONE = "done"
    """Finished with a result. Final."""
    FAILED = "failed"
    """Its own code failed (non-zero exit, exception, crashed worker); no retry left. Final."""
    TIMED_OUT = "timed_out"
    """Ran past its timeout; its process tree was ended. Final."""
    CANCELLED = "cancelled"
    """Cancelled by the user, by the session closing on an error, or because a dependency was
    cancelled. Final."""
    DEPENDENCY_FAILED = "dependency_failed"
    """Never ran: a task it depends on failed or timed out. Final."""

    # Members are singletons: identity hashing is exact and much cheaper than Enum's default
    # (which hashes the name in Python) on the scheduler's hot path.
    __hash__ = object.__hash__

    @property
    def final(self) -> bool:
        return self in FINAL


STOPPED = frozenset({TaskState.PAUSED, TaskState.SUSPENDED, TaskState.RESUMING})
"""States of a task whose processes exist but are stopped."""

FINAL = frozenset({
    TaskState.DONE, TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED,
    TaskState.DEPENDENCY_FAILED,
})

# The states as module globals, for hot paths: reading a member through the Enum class goes
# through EnumType's attribute lookup (about 50 ns in CPython 3.11); a global is about 8 ns.
PENDING = TaskState.PENDING
READY = TaskState.READY
LAUNCHED = TaskState.LAUNCHED
RUNNING = TaskState.RUNNING
PAUSED = TaskState.PAUSED
SUSPENDED = TaskState.SUSPENDED
RESUMING = TaskState.RESUMING
DONE = TaskState.DONE
FAILED = TaskState.FAILED
TIMED_OUT = TaskState.TIMED_OUT
CANCELLED = TaskState.CANCELLED
DEPENDENCY_FAILED = TaskState.DEPENDENCY_FAILED

S = TaskState
LEGAL: frozenset[tuple[TaskState, TaskState]] = frozenset({
    (S.PENDING, S.READY),
    (S.PENDING, S.CANCELLED),
    (S.PENDING, S.DEPENDENCY_FAILED),
    (S.READY, S.LAUNCHED),
    (S.READY, S.CANCELLED),
    (S.LAUNCHED, S.RUNNING),
    (S.LAUNCHED, S.DONE),
    (S.LAUNCHED, S.FAILED),
    (S.LAUNCHED, S.TIMED_OUT),
    (S.LAUNCHED, S.CANCELLED),
    (S.LAUNCHED, S.READY),   # retry after a failed attempt
    (S.RUNNING, S.DONE),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.TIMED_OUT),
    (S.RUNNING, S.CANCELLED),
    (S.RUNNING, S.READY),    # retry after a failed attempt, or requeued after a preemption
    (S.LAUNCHED, S.PAUSED),
    (S.RUNNING, S.PAUSED),
    (S.LAUNCHED, S.SUSPENDED),
    (S.RUNNING, S.SUSPENDED),
    (S.PAUSED, S.RUNNING),   # resumed, or continued to checkpoint on a preemption
    (S.SUSPENDED, S.RESUMING),
    (S.RESUMING, S.SUSPENDED),  # paused again before it got cores
    (S.RESUMING, S.RUNNING),    # placed again: re-pinned and continued
    # A stopped process can still end: killed (cancel), by the OOM killer, by someone else.
    (S.PAUSED, S.DONE),
    (S.PAUSED, S.FAILED),
    (S.PAUSED, S.CANCELLED),
    (S.PAUSED, S.READY),
    (S.SUSPENDED, S.DONE),
    (S.SUSPENDED, S.FAILED),
    (S.SUSPENDED, S.CANCELLED),
    (S.SUSPENDED, S.READY),
    (S.RESUMING, S.DONE),
    (S.RESUMING, S.FAILED),
    (S.RESUMING, S.CANCELLED),
    (S.RESUMING, S.READY),
})
del S


def check(task_id: int, old: TaskState, new: TaskState, event: str) -> None:
    """Raise if ``old -> new`` is not in :data:`LEGAL`."""
    if (old, new) not in LEGAL:
        raise TandemInternalError(
            f"illegal transition of task {task_id}: {old.value} -> {new.value} on {event}"
        )
