"""tandem's exceptions: each one says who must act.

Contract: this module imports nothing from tandem; every other module may import it.

::

    TandemError                      base of everything tandem raises on purpose
    ├── SpecError                    your input is wrong (names the key path / task)
    │   ├── InfeasibleRequest        a resource request that can never fit the platform
    │   └── JournalError             the run directory's journal cannot be used as asked
    ├── TaskError                    a task did not produce a result
    │   ├── TaskFailed               your code failed: exit code, signal, exception, stderr tail
    │   ├── TaskTimedOut             it ran past its timeout and was killed
    │   ├── TaskCancelled            somebody cancelled it (the reason says who)
    │   └── DependencyFailed         an upstream task failed; names the root task and cause
    ├── BackendError                 the machinery that runs tasks failed (not your code)
    └── TandemInternalError          a bug in tandem: please report it
Imports: nothing from tandem.
"""

from __future__ import annotations


class TandemError(Exception):
    """Base class of every error tandem raises on purpose."""


class SpecError(TandemError, ValueError):
    """The input is wrong; the message names where (key path, task name) and what was expected."""


class InfeasibleRequest(SpecError):
    """A resource request that no node (or set of nodes) of the platform can ever satisfy."""


class TaskError(TandemError):
    """A task ended without a result. ``task`` is the task's name, ``task_id`` its id."""

    def __init__(self, message: str, *, task: str = "", task_id: int = -1) -> None:
        super().__init__(message)
        self.task = task
        self.task_id = task_id


class TaskFailed(TaskError):
    """The task's own code failed.

    ``exit_code`` (executables, or a worker that died), ``signal`` (killed by a signal),
    ``stderr_tail`` (last lines of stderr) and ``remote_traceback`` (functions) say how.
    """

    def __init__(
        self,
        message: str,
        *,
        task: str = "",
        task_id: int = -1,
        exit_code: int | None = None,
        signal: int | None = None,
        stderr_tail: str = "",
        remote_traceback: str = "",
    ) -> None:
        super().__init__(message, task=task, task_id=task_id)
        self.exit_code = exit_code
        self.signal = signal
        self.stderr_tail = stderr_tail
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        text = super().__str__()
        if self.remote_traceback:
            text += "\n\nRemote traceback:\n" + self.remote_traceback.rstrip()
        elif self.stderr_tail:
            text += "\n\nstderr (tail):\n" + self.stderr_tail.rstrip()
        return text


class TaskTimedOut(TaskError):
    """The task ran longer than its timeout; its whole process tree was ended."""


class TaskCancelled(TaskError):
    """The task was cancelled before it finished; the message carries the reason."""


class DependencyFailed(TaskError):
    """A task this one depends on (directly or through others) did not succeed.

    ``root_task`` names the upstream task that failed first, ``root_cause`` says why.
    """

    def __init__(
        self, message: str, *, task: str = "", task_id: int = -1, root_task: str = "",
        root_cause: str = "",
    ) -> None:
        super().__init__(message, task=task, task_id=task_id)
        self.root_task = root_task
        self.root_cause = root_cause


class JournalError(SpecError):
    """The run directory's journal cannot be used as asked: it is not a journal, it is damaged,
    of another format version, or a campaign is there and ``resume`` was not asked. The file
    is never changed; the message says what to do."""


class BackendError(TandemError):
    """The machinery that executes tasks failed (could not spawn, lost a worker pipe, ...)."""


class TandemInternalError(TandemError, AssertionError):
    """tandem broke one of its own invariants. This is a bug: please report it with the message."""
