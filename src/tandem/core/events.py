"""Events: what drivers tell the core. Each is a frozen value; time comes separately as ``now``.

Contract: frozen values only (built by :func:`~tandem.core.fastinit.fast_init`). ``Started``,
``Exited`` and ``TimerFired`` are positional (the hot path); every event that carries several
strings, and every steering event, is keyword-only.

Imports: tandem.core.fastinit, tandem.core.values, tandem.spec.
"""

from __future__ import annotations

from dataclasses import dataclass

from tandem.core.fastinit import fast_init
from tandem.core.values import Failure, KillCause
from tandem.spec.task import TaskSpec


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted:
    """A new task ``task_id`` (unique, increasing) that must wait for ``deps`` to succeed.
    ``replaces``: the id of a finished task whose kept result was lost with its node; the new
    task recomputes it, and every task that depends on that one and has not started waits for
    the new one too (:mod:`tandem.core.recompute`)."""

    task_id: int
    spec: TaskSpec
    deps: tuple[int, ...] = ()
    replaces: int | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Restored:
    """Task ``task_id`` finished in an earlier run of the campaign and its result is stored
    (the journal's): it is ``DONE`` at once, never launched, and its dependents proceed.
    Each of ``deps`` must be done already."""

    task_id: int
    spec: TaskSpec
    deps: tuple[int, ...] = ()


@fast_init
@dataclass(frozen=True, slots=True)
class Started:
    """The backend started the launched task ``task_id``."""

    task_id: int


@fast_init
@dataclass(frozen=True, slots=True)
class Exited:
    """The task's process or call ended: ``failure`` is ``None`` on success; ``kept`` is how
    many bytes of its result stay on the node it ran on (kept by reference), 0 if none."""

    task_id: int
    failure: Failure | None = None
    kept: int = 0


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRequested:
    """Somebody asked to cancel ``task_id``; ``reason`` is recorded on it and its dependents
    (a message only: whatever it says, the task ends ``CANCELLED`` and is never retried).
    ``by`` names who (a person, an agent); a cancel with ``by`` is a steering action and is
    recorded as one (the session's own cancels on closing have none). ``cause`` is
    ``KillCause.CANCEL`` or, for the session's abort, ``KillCause.SHUTDOWN``."""

    task_id: int
    reason: str = "cancelled by the user"
    by: str | None = None
    cause: KillCause = KillCause.CANCEL


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PauseRequested:
    """Stop the running task ``task_id``. ``release``: give its cores to other tasks while it
    is stopped (it keeps its GPUs and node, and is placed again on its node when resumed)."""

    task_id: int
    release: bool = False
    by: str = "user"
    reason: str = ""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeRequested:
    """Continue the paused task ``task_id``."""

    task_id: int
    by: str = "user"
    reason: str = ""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PreemptRequested:
    """Send ``signal`` to the task, give it ``grace`` seconds to checkpoint and exit (then end
    its tree), and put it back in the ready queue: its next launch continues from its
    checkpoint. Not counted as a failure or a retry."""

    task_id: int
    grace: float
    signal: int
    by: str = "user"
    reason: str = ""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PriorityChanged:
    """Give ``task_id`` a new priority: a waiting task is re-ordered at once; for a running one
    it matters when it is queued again (a retry, a preemption, a resume)."""

    task_id: int
    priority: int
    by: str = "user"
    reason: str = ""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class QuotaMoved:
    """Move ``cores`` and ``gpus`` of quota from pool ``source`` to pool ``target``. Running
    tasks are never ended: a pool holding more than its new quota admits nothing until enough
    of its tasks have finished."""

    source: str
    target: str
    cores: int = 0
    gpus: int = 0
    by: str = "user"
    reason: str = ""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class NodeLost:
    """Node ``node`` failed or became unreachable: nothing is placed there again. Tasks still
    running there are ended by their backend (their exits come as usual); a waiting task that
    can no longer fit the nodes left fails with ``NODE_FAILED``."""

    node: str
    message: str = ""


@fast_init
@dataclass(frozen=True, slots=True)
class TimerFired:
    """The deadline returned by ``Scheduler.next_deadline()`` was reached."""


Event = (Submitted | Restored | Started | Exited | CancelRequested | TimerFired | PauseRequested
         | ResumeRequested | PreemptRequested | PriorityChanged | QuotaMoved | NodeLost)
