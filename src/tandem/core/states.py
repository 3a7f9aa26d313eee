"""The states of a task's life: one enum with a docstring per member, and its groups.

Contract: pure data. The moves between states are the transition function of
:mod:`tandem.core.lifecycle`; every move goes through :func:`tandem.core.transitions.advance`.

Imports: nothing from tandem.
"""

from __future__ import annotations

from enum import Enum


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
