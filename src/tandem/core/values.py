"""Values the core hands out: where a task was placed, why a task did not succeed, why the
core asked for a task to be killed, which steering action took effect, and the walltime the
core schedules within.

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
    MEMORY = "memory"             # exceeded its memory_mb (the OOM killer, a refused allocation)
    WALLTIME = "walltime"         # the session's walltime ended first (resume=True continues it)


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
    WALLTIME = "walltime"   # the walltime ended: the task ends CANCELLED (failure WALLTIME)

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
    DEFER = "defer"         # the walltime: a task that would not finish in time is held back


@dataclass(frozen=True, slots=True, kw_only=True)
class Walltime:
    """When the session's resources go away, on the driver's clock axis (the runtime converts
    a Unix end time to its monotonic clock; the simulator uses virtual seconds).

    At ``ends_at - grace`` the core preempts every running task with ``grace`` seconds to
    checkpoint and exit, launches nothing more and ends every task left (failure
    ``WALLTIME``). Before that, a task is launched only if its expected run (its estimate,
    or its timeout when that is shorter or it has no estimate) ends by :attr:`launch_by`:
    ``margin`` seconds before that preemption."""

    ends_at: float
    margin: float = 0.0
    grace: float = 0.0

    def __post_init__(self) -> None:
        for name in ("ends_at", "margin", "grace"):
            v = getattr(self, name)
            if type(v) not in (int, float) or v != v or v in (float("inf"), float("-inf")):
                raise ValueError(f"Walltime: {name} must be a finite number, got {v!r}")
        if self.margin < 0 or self.grace < 0:
            raise ValueError(f"Walltime: margin and grace must be >= 0 seconds, got "
                             f"margin={self.margin!r}, grace={self.grace!r}")

    @property
    def preempt_at(self) -> float:
        """When running tasks are preempted: ``ends_at - grace``."""
        return self.ends_at - self.grace

    @property
    def launch_by(self) -> float:
        """The latest expected end of a task launched: ``ends_at - grace - margin``."""
        return self.ends_at - self.grace - self.margin
