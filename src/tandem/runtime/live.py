"""The driver's tasks between submission and resolution: what each one is, where it writes,
and what it ended with.

Contract: :class:`Live` holds, per task the core has not resolved yet, its spec and its future,
and from its exit to its resolution its value; it names task directories
(:class:`~tandem.runtime.workdirs.WorkDirs`) and asks the journal keeper
(:class:`~tandem.runtime.durable.Durable`, when the session has one) about each submission.
It turns the core's ``Launch`` into a backend's
:class:`~tandem.backends.base.LaunchRequest` (dependency results in place of futures, the
task's directory, the attempts of earlier runs counted on) and a ``Resolve`` into the
future's outcome, after which it keeps nothing of the task. The driver owns one; nothing else
writes to it.
Imports: tandem.backends.base, tandem.core.actions, tandem.core.scheduler, tandem.core.states,
tandem.errors,
tandem.runtime.args, tandem.runtime.durable, tandem.runtime.failures, tandem.runtime.future,
tandem.runtime.workdirs, tandem.spec.task.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tandem.backends.base import LaunchRequest
from tandem.core.actions import Launch, Resolve
from tandem.core.scheduler import Scheduler
from tandem.core.states import DONE
from tandem.errors import TandemError
from tandem.runtime.args import substitute
from tandem.runtime.durable import Durable
from tandem.runtime.failures import to_exception
from tandem.runtime.future import TaskFuture
from tandem.runtime.workdirs import ProcessResult, WorkDirs
from tandem.spec.task import Executable, FunctionCall, TaskSpec


class Live:
    """The tasks of one driver that are not resolved yet (see the module docstring)."""

    __slots__ = ("durable", "futures", "specs", "values", "workdirs")

    def __init__(self, run_dir: Path, durable: Durable | None) -> None:
        self.durable = durable
        self.futures: dict[int, TaskFuture] = {}     # until resolved
        self.specs: dict[int, TaskSpec] = {}         # until resolved
        self.values: dict[int, Any] = {}             # from the exit to the resolution
        # A resumed run's new tasks get directories of their own (r<run>-...).
        self.workdirs = WorkDirs(run_dir / "tasks", prefix=f"r{durable.run}-"
                                 if durable is not None and durable.resumed else "")

    def add(self, task_id: int, spec: TaskSpec, future: TaskFuture) -> None:
        self.futures[task_id] = future
        self.specs[task_id] = spec

    def admit(self, task_id: int, spec: TaskSpec, future: TaskFuture,
              deps: Sequence[TaskFuture], now: float) -> tuple[bool, Any]:
        """Ask the journal about a submission: whether it is restored, and its value (a task
        an earlier run knew keeps its directory)."""
        assert self.durable is not None
        return self.durable.admit(task_id, spec, future, deps, self.workdirs, now)

    def request(self, action: Launch, spec: TaskSpec) -> LaunchRequest:
        """What the backend is asked to run for ``action``, a launch of ``spec``."""
        tid = action.task_id
        work = spec.work
        if type(work) is FunctionCall and (work.args or work.kwargs):
            work = FunctionCall(fn=work.fn, args=substitute(work.args),
                                kwargs=substitute(work.kwargs) if work.kwargs else work.kwargs,
                                ref=work.ref)
        attempt, preempted = action.attempt, action.preempted
        durable = self.durable
        if durable is not None:     # the attempts of earlier runs count on
            before, pre = durable.offsets(tid)
            attempt, preempted = attempt + before, preempted + pre
        name = spec.name
        return LaunchRequest(
            task_id=tid, name=name, kind=spec.kind, work=work,
            placement=action.placement, workdir=self.workdirs.path(tid, name),
            attempt=attempt, preempted=preempted,
            shared_cores=action.shared_cores, memory_mb=spec.resources.memory_mb,
        )

    def outcome(self, action: Resolve, core: Scheduler
                ) -> tuple[TaskFuture, Any, TandemError | None] | None:
        """The resolved task's future, value and error, forgetting the task (``None``: a
        restored task, whose future was resolved when it was submitted)."""
        tid = action.task_id
        fut = self.futures.pop(tid, None)
        if fut is None:
            return None
        spec = self.specs.pop(tid)
        value = self.values.pop(tid, None)
        if action.state is DONE:
            error = None
            if type(spec.work) is Executable and value is None:
                value = ProcessResult(self.workdirs.path(tid, spec.name))
        else:
            error = to_exception(action, spec.name, core)
        if self.durable is not None:
            self.durable.resolved(tid, spec, action.state, value)
            self.workdirs.unpin(tid)
        return fut, value, error

    def tracked(self) -> dict[str, int]:
        return {"futures": len(self.futures), "specs": len(self.specs),
                "values": len(self.values)}
