"""Actions: what the core asks drivers to do. Frozen values.

Contract: frozen values only (built by :func:`~tandem.core.fastinit.fast_init`).

Imports: tandem.core.fastinit, tandem.core.states, tandem.core.values.
"""

from __future__ import annotations

from dataclasses import dataclass

from tandem.core.fastinit import fast_init
from tandem.core.states import TaskState
from tandem.core.values import Failure, KillCause, Placement, SteerAction


@fast_init
@dataclass(frozen=True, slots=True)
class Launch:
    """Start task ``task_id`` on exactly ``placement``; ``attempt`` counts from 1 (retries and
    preemptions each add one); ``preempted`` counts the earlier attempts that were preempted
    (the task continues from its checkpoint when it is not 0). ``shared_cores``: for a task
    whose slot has no cores (``cores=0``), the core ids of its node that were free right after
    it was placed, or the node's last core when none was (backends pin it there); ``()`` for a
    task that holds cores."""

    task_id: int
    placement: Placement
    attempt: int = 1
    preempted: int = 0
    shared_cores: tuple[int, ...] = ()


@fast_init
@dataclass(frozen=True, slots=True)
class Kill:
    """End the running task's whole process tree (SIGTERM, grace period, SIGKILL). The backend
    still reports ``Exited`` afterwards; the resources stay held until then. ``cause`` says
    why (a timeout, a cancel, the session shutting down)."""

    task_id: int
    cause: KillCause


@fast_init
@dataclass(frozen=True, slots=True)
class Resolve:
    """The task reached a final ``state``; ``failure`` says why when it is not ``DONE``."""

    task_id: int
    state: TaskState
    failure: Failure | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Pause:
    """Stop the task's whole process tree (SIGSTOP). With ``release`` its cores were given back
    to the pool: other tasks may be placed on them from now on."""

    task_id: int
    release: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class Resume:
    """Continue the task's process tree (SIGCONT). ``placement`` is set when the task released
    its cores and was placed again: re-pin every thread of its tree to it before continuing."""

    task_id: int
    placement: Placement | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Preempt:
    """Send ``signal`` to the task's tree (continuing it if stopped) and end the tree after
    ``grace`` seconds if it has not exited. The backend reports ``Exited`` as usual; the core
    puts the task back in the ready queue."""

    task_id: int
    signal: int
    grace: float


Scalar = str | int | float | bool | None


@fast_init
@dataclass(frozen=True, slots=True)
class Steered:
    """A steering action took effect (for instruments and the trace): ``action`` is a
    :class:`~tandem.core.values.SteerAction` (a ``str`` enum: ``cancel``, ``pause``,
    ``resume``, ``preempt``, ``priority``, ``move``); ``task_id`` is
    ``None`` for a pool move; ``details`` are the action's own values (``release``,
    ``priority``, ``grace``, ``signal``, ``from``, ``to``, ``cores``, ``gpus``)."""

    action: SteerAction
    task_id: int | None
    by: str
    reason: str
    details: tuple[tuple[str, Scalar], ...] = ()


Action = Launch | Kill | Resolve | Pause | Resume | Preempt | Steered
