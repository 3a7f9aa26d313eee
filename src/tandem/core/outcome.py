"""How a task ends: what an exited attempt means, and what a task whose dependency did not
succeed becomes.

Contract: pure functions over the core's task records; no I/O, no clock. Why the core had an
attempt killed is a :class:`~tandem.core.values.KillCause`, never the canceller's message: a
cancel ends the task ``CANCELLED`` (never retried) whatever its reason says.

Imports: tandem.core.states, tandem.core.task, tandem.core.values.
"""

from __future__ import annotations

from collections.abc import Mapping

from tandem.core.states import CANCELLED, DEPENDENCY_FAILED, FAILED, TIMED_OUT, TaskState
from tandem.core.task import CoreTask
from tandem.core.values import Failure, FailureKind, KillCause


def of_exit(t: CoreTask, failure: Failure | None) -> tuple[TaskState, Failure, bool]:
    """An attempt of ``t`` that did not simply succeed exited (``failure`` is what the backend
    reported; ``t.kill`` says whether and why the core had it killed). Returns the final
    state, the failure that says why, and whether the task gets another attempt."""
    kill = t.kill
    retry = t.attempt - t.preempted <= t.spec.retries
    if kill is KillCause.TIMEOUT:
        return TIMED_OUT, Failure(
            kind=FailureKind.TIMEOUT, root_task_id=t.id,
            message=f"task {t.spec.name!r} ran past its timeout of {t.spec.timeout} s",
        ), retry
    if kill is KillCause.WALLTIME:   # ended by the walltime's end (tandem.core.walltime)
        return CANCELLED, Failure(kind=FailureKind.WALLTIME, message=t.kill_message,
                                  root_task_id=t.id, by=t.kill_by), False
    if kill is not None:     # a cancel or a shutdown (a preemption's exit is a requeue)
        return CANCELLED, Failure(kind=FailureKind.CANCELLED, message=t.kill_message,
                                  root_task_id=t.id, by=t.kill_by), False
    if failure is None:
        raise ValueError(f"task {t.id} exited without a failure and was not killed: it is done")
    if failure.root_task_id is None:
        failure = with_root(failure, t.id)
    return FAILED, failure, retry


def of_upstream(upstream: CoreTask, tasks: Mapping[int, CoreTask]) -> tuple[TaskState, Failure]:
    """``upstream`` ended without succeeding, so a task waiting on it never runs: cancelled
    when ``upstream`` was cancelled (with the walltime's cause when the walltime ended it),
    dependency-failed otherwise; the failure names the task where it started (the root) and
    its cause."""
    cause = upstream.failure
    root_id = cause.root_task_id if cause and cause.root_task_id is not None else upstream.id
    root = tasks.get(root_id, upstream)     # the root may have been forgotten since
    name = root.spec.name if root is not upstream or root_id == upstream.id else None
    named = f"dependency {name!r} (task {root_id})" if name is not None \
        else f"dependency task {root_id}"
    why = cause.message if cause else upstream.state.value
    if cause is not None and cause.kind is FailureKind.WALLTIME:
        return CANCELLED, Failure(
            kind=FailureKind.WALLTIME, root_task_id=root_id, by=cause.by,
            message=f"never started: {named} was ended by the walltime: {why}",
        )
    if upstream.state is CANCELLED:
        return CANCELLED, Failure(
            kind=FailureKind.CANCELLED, root_task_id=root_id, by=cause.by if cause else None,
            message=f"{named} was cancelled: {why}",
        )
    how = root.state.value.replace('_', ' ') if name is not None else "failed"
    return DEPENDENCY_FAILED, Failure(
        kind=FailureKind.DEPENDENCY, root_task_id=root_id,
        message=f"{named} {how}: {why}",
    )


def with_root(f: Failure, task_id: int) -> Failure:
    """``f``, naming ``task_id`` as the task where it started."""
    return Failure(kind=f.kind, message=f.message, exit_code=f.exit_code, signal=f.signal,
                   stderr_tail=f.stderr_tail, traceback=f.traceback, root_task_id=task_id,
                   by=f.by, node=f.node)
