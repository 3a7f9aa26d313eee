"""Turn a task's final state and failure into the exception its future raises.

Contract: a pure mapping from core values to :mod:`tandem.errors`; imports ``tandem.core``.
Imports: tandem.core.actions, tandem.core.scheduler, tandem.core.states, tandem.core.values,
tandem.errors.
"""

from __future__ import annotations

from tandem.core.actions import Resolve
from tandem.core.scheduler import Scheduler
from tandem.core.states import TaskState
from tandem.core.values import FailureKind
from tandem.errors import (
    DependencyFailed,
    SpecError,
    TaskCancelled,
    TaskError,
    TaskFailed,
    TaskTimedOut,
)


def to_exception(action: Resolve, name: str, core: Scheduler) -> TaskError:
    """The exception for task ``name`` that ended as ``action`` says."""
    f = action.failure
    tid = action.task_id
    message = f.message if f is not None else action.state.value
    state = action.state
    if state is TaskState.TIMED_OUT:
        return TaskTimedOut(message, task=name, task_id=tid)
    if state is TaskState.CANCELLED:
        who = f" by {f.by}" if f is not None and f.by else ""
        return TaskCancelled(f"task {name!r} cancelled{who}: {message}", task=name, task_id=tid)
    if state is TaskState.DEPENDENCY_FAILED:
        root_name = ""
        if f is not None and f.root_task_id is not None:
            try:
                root_name = core.record(f.root_task_id).name
            except SpecError:      # the root was forgotten (its future is gone)
                root_name = f"task {f.root_task_id}"
        return DependencyFailed(f"task {name!r} did not run: {message}", task=name,
                                task_id=tid, root_task=root_name, root_cause=message)
    if f is not None and f.kind is FailureKind.LAUNCH:
        return TaskFailed(f"task {name!r} could not be started: {message}", task=name,
                          task_id=tid)
    return TaskFailed(
        message if f is None or name in message else f"task {name!r}: {message}",
        task=name, task_id=tid,
        exit_code=f.exit_code if f else None, signal=f.signal if f else None,
        stderr_tail=f.stderr_tail if f else "", remote_traceback=f.traceback if f else "",
    )
