"""Values the core hands out: where a task was placed, why a task did not succeed, why the
core asked for a task to be killed, and which steering action took effect.

Contract: frozen values and enums only; imports only the standard library.

Imports: nothing from tandem.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    """The exact resources of one rank: a node, its core ids and its GPU ids."""

    node: str
    cores: tuple[int, ...]
    gpus: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """Where a task runs: one :class:`Slot` per rank (one for a non-MPI task)."""

    slots: tuple[Slot, ...]

    @property
    def cores(self) -> tuple[int, ...]:
        """Core ids of the first slot (the only one for non-MPI tasks)."""
        return self.slots[0].cores

    @property
    def gpus(self) -> tuple[str, ...]:
        return self.slots[0].gpus

    @property
    def node(self) -> str:
        return self.slots[0].node


class FailureKind(Enum):
    """Why a task did not produce a result."""

    EXIT = "exit"                 # an executable exited non-zero
    SIGNAL = "signal"             # a process was killed by a signal it did not expect
    EXCEPTION = "exception"       # a Python function raised
    WORKER_DIED = "worker_died"   # the worker process running a function died
    TIMEOUT = "timeout"           # ran past its timeout
    CANCELLED = "cancelled"       # cancelled (reason in message)
    DEPENDENCY = "dependency"     # an upstream task did not succeed
    LAUNCH = "launch"             # could not be started (bad executable, unpicklable function)
    NODE_FAILED = "node_failed"   # its node failed or became unreachable (``Failure.node``)


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """The cause carried by a task that did not succeed.

    ``root_task_id`` is the task that failed first (itself, or an upstream task for
    ``DEPENDENCY``). ``by`` names who cancelled it (a person, an agent), when somebody did.
    ``node``: for ``NODE_FAILED``, the node that was lost (the core places nothing there
    again)."""

    kind: FailureKind
    message: str
    exit_code: int | None = None
    signal: int | None = None
    stderr_tail: str = ""
    traceback: str = ""
    root_task_id: int | None = None
    by: str | None = None
    node: str | None = None


class KillCause(Enum):
    """Why the core ends an attempt (the ``cause`` of a :class:`~tandem.core.actions.Kill`).
    A typed value, never the user's free-text reason: that is only ever a message."""

    TIMEOUT = "timeout"     # ran past its timeout: the task ends TIMED_OUT (or is retried)
    CANCEL = "cancel"       # somebody cancelled it: the task ends CANCELLED, never retried
    PREEMPT = "preempt"     # preempted: it checkpoints, exits and goes back to the queue
    SHUTDOWN = "shutdown"   # the session is closing (on an error): the task ends CANCELLED

    __hash__ = object.__hash__


class SteerAction(StrEnum):
    """Which steering action took effect (the first field of a
    :class:`~tandem.core.actions.Steered`). A ``str`` subclass whose value is the word the
    trace writes, so ``action == "cancel"`` and ``json.dumps`` keep working."""

    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    PREEMPT = "preempt"
    PRIORITY = "priority"
    MOVE = "move"
