"""The task lifecycle as a transition function: ``(state, cause) -> state``.

Contract: pure data and a pure function. :data:`NEXT` maps a task's state and what moves it
(a :class:`Cause`) to its next state; a pair that is not in it is an illegal move, which
:func:`tandem.core.transitions.advance` reports as a :class:`~tandem.errors.TandemInternalError`
naming the task, its state and the cause. :func:`render_markdown` writes the table that
docs/concepts.md shows (a test checks the docs hold exactly that rendering). Final states have
no way out.

Imports: tandem.core.states.
"""

from __future__ import annotations

from enum import Enum

from tandem.core.states import FINAL, TaskState


class Cause(Enum):
    """What moves a task from one state to the next."""

    DEPS_DONE = "dependencies done"
    """Every dependency succeeded (and, in barrier mode, its level's turn came)."""
    PLACED = "placed"
    """The pool gave it cores and GPUs (a resuming task: cores on its own node again)."""
    STARTED = "started"
    """The backend reported that it is running."""
    EXITED_OK = "exited with a result"
    RESTORED = "restored from the journal"
    """It finished in an earlier run of the campaign; its stored result is its result."""
    FAILED = "failed"
    """Its attempt failed and no retry is left."""
    TIMED_OUT = "timed out"
    """Killed for running past its timeout, and no retry is left."""
    CANCELLED = "cancelled"
    """Cancelled (by somebody, by the session closing, or because a dependency was)."""
    UPSTREAM_FAILED = "a dependency failed"
    RETRY = "retry"
    """Its attempt failed or timed out and a retry is left."""
    NODE_LOST = "a node was lost"
    """A node was lost and the task, not placed yet, can no longer fit the nodes left."""
    PREEMPTED = "preempted"
    """A preempted attempt exited: back to the queue, same key, not a failure."""
    PAUSED = "paused"
    """Stopped, keeping its cores (a resuming task: paused again before it got cores)."""
    SUSPENDED = "paused, releasing its cores"
    RESUMED = "resumed"
    """Continued (a suspended task first waits for cores on its node)."""
    INPUT_LOST = "an input was lost"
    """A dependency's kept result went with its node; it waits for the task recomputing it."""

    __hash__ = object.__hash__


S, C = TaskState, Cause
_ENDINGS_STOPPED = {C.EXITED_OK: S.DONE, C.FAILED: S.FAILED, C.CANCELLED: S.CANCELLED,
                    C.RETRY: S.READY}
_ENDINGS = {**_ENDINGS_STOPPED, C.TIMED_OUT: S.TIMED_OUT, C.PREEMPTED: S.READY,
            C.PAUSED: S.PAUSED, C.SUSPENDED: S.SUSPENDED}

NEXT: dict[tuple[TaskState, Cause], TaskState] = {
    (S.PENDING, C.DEPS_DONE): S.READY,
    (S.PENDING, C.RESTORED): S.DONE,
    (S.PENDING, C.CANCELLED): S.CANCELLED,
    (S.PENDING, C.UPSTREAM_FAILED): S.DEPENDENCY_FAILED,
    (S.READY, C.PLACED): S.LAUNCHED,
    (S.READY, C.CANCELLED): S.CANCELLED,
    (S.PENDING, C.NODE_LOST): S.FAILED,
    (S.READY, C.NODE_LOST): S.FAILED,
    (S.READY, C.INPUT_LOST): S.PENDING,
    (S.LAUNCHED, C.STARTED): S.RUNNING,
    **{(S.LAUNCHED, c): s for c, s in _ENDINGS.items()},
    **{(S.RUNNING, c): s for c, s in _ENDINGS.items()},
    (S.PAUSED, C.RESUMED): S.RUNNING,   # resumed, or continued to checkpoint on a preemption
    **{(S.PAUSED, c): s for c, s in _ENDINGS_STOPPED.items()},
    (S.SUSPENDED, C.RESUMED): S.RESUMING,
    **{(S.SUSPENDED, c): s for c, s in _ENDINGS_STOPPED.items()},
    (S.RESUMING, C.PAUSED): S.SUSPENDED,   # paused again before it got cores
    (S.RESUMING, C.PLACED): S.RUNNING,     # placed again: re-pinned and continued
    **{(S.RESUMING, c): s for c, s in _ENDINGS_STOPPED.items()},
}
"""The lifecycle: a stopped process can still end (killed, by the OOM killer, by someone
else), but paused time never times out."""
del S, C

LEGAL: frozenset[tuple[TaskState, TaskState]] = frozenset(
    (old, new) for (old, _), new in NEXT.items())
"""The ``(old, new)`` pairs of :data:`NEXT`, for readers that ask only which moves exist."""

BY_CAUSE: dict[Cause, dict[TaskState, TaskState]] = {c: {} for c in Cause}
""":data:`NEXT` by cause, then state (the cheaper lookup: no tuple key)."""
for (_old, _cause), _new in NEXT.items():
    BY_CAUSE[_cause][_old] = _new
del _old, _cause, _new

STEP: dict[Cause, dict[TaskState, TaskState | None]] = {
    c: {s: NEXT.get((s, c)) for s in TaskState} for c in Cause}
""":data:`NEXT` as one total row per cause (``None``: no such move), for the hot paths: the
legal-move check ``STEP[cause][state] is new`` needs no tuple key and raises no KeyError."""

END_CAUSE: dict[TaskState, Cause] = {
    TaskState.DONE: Cause.EXITED_OK, TaskState.FAILED: Cause.FAILED,
    TaskState.TIMED_OUT: Cause.TIMED_OUT, TaskState.CANCELLED: Cause.CANCELLED,
    TaskState.DEPENDENCY_FAILED: Cause.UPSTREAM_FAILED,
}
"""The cause that ends a task in each final state."""

END_STEP: dict[TaskState, dict[TaskState, TaskState | None]] = {
    end: STEP[cause] for end, cause in END_CAUSE.items()}
"""The :data:`STEP` row of the cause that ends a task in each final state."""

MEANING: dict[TaskState, str] = {
    TaskState.PENDING: "submitted; waiting for dependencies (in barrier mode, also for its "
                       "level's turn)",
    TaskState.READY: "every dependency succeeded; waiting for its resources",
    TaskState.LAUNCHED: "placed on specific cores and GPUs; the backend was told to start it",
    TaskState.RUNNING: "the backend reports it running",
    TaskState.PAUSED: "stopped (SIGSTOP to its tree) by a pause; still holds its cores and GPUs",
    TaskState.SUSPENDED: "stopped by a pause that released its cores to others; keeps its "
                         "GPUs, memory and node",
    TaskState.RESUMING: "a suspended task asked to resume: still stopped, waits in the ready "
                        "queue for cores on its node",
    TaskState.DONE: "finished with a result",
    TaskState.FAILED: "its own code failed and no retry is left: exit code, signal, exception",
    TaskState.TIMED_OUT: "ran past its timeout; its process tree was ended",
    TaskState.CANCELLED: "cancelled by the user, by the session closing on an error, or "
                         "because a dependency was cancelled",
    TaskState.DEPENDENCY_FAILED: "never ran: an upstream task failed or timed out; names the "
                                 "root task and its cause",
}


def render_markdown() -> str:
    """The lifecycle as docs/concepts.md shows it: the states, then every move of :data:`NEXT`
    (one row per state and its causes, in the enums' order)."""
    lines = ["| state | meaning |", "| --- | --- |"]
    for s in TaskState:
        final = " (final)" if s in FINAL else ""
        lines.append(f"| `{s.value}` | {MEANING[s]}{final} |")
    lines += ["", "| from | on | to |", "| --- | --- | --- |"]
    for s in TaskState:
        for c in Cause:
            new = NEXT.get((s, c))
            if new is not None:
                lines.append(f"| `{s.value}` | {c.value} | `{new.value}` |")
    return "\n".join(lines) + "\n"
