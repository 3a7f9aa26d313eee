"""Run a :class:`~tandem.spec.workflow.Workflow` for real on this machine.

Contract: expands the workflow for one mode, submits its tasks to a
:func:`~tandem.runtime.session.open_session` session (dependencies as ``after=``), waits, and
returns the measured makespan (first task start to last task end, monotonic wall clock) with
the tasks' records; the run directory gets the session's ``trace.jsonl`` and a
``summary.json``. Mock task sets run on the :class:`~tandem.backends.mock.MockBackend`, on the
workflow's own (possibly logical) platform: 16 Summit nodes are emulated by slot counters.
Command and function task sets run as real processes, which needs a platform of this machine
(``local: true``) or the Slurm allocation the run is inside (no platform key: job steps and
node workers); anything else is a :class:`~tandem.errors.SpecError`.
Imports: tandem.backends, tandem.core, tandem.errors, tandem.runtime.future, tandem.runtime.open,
tandem.runtime.walltime, tandem.spec, tandem.trace.progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tandem.backends.base import Backend
from tandem.core.policy import Mode, Policy
from tandem.core.record import TaskRecord
from tandem.core.states import TaskState
from tandem.core.values import FailureKind
from tandem.errors import SpecError
from tandem.runtime.future import TaskFuture
from tandem.runtime.open import default_backends, default_run_dir, open_session
from tandem.runtime.walltime import WalltimeSummary
from tandem.spec.checks import is_number
from tandem.spec.task import Executable, Mock
from tandem.spec.workflow import ModeName, Workflow
from tandem.trace.progress import Progress

SUMMARY_FILE = "summary.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """What one real run of a workflow measured. Times are seconds of the monotonic clock;
    ``makespan`` is ``last_end - first_start`` (0 when nothing ran)."""

    workflow: str
    mode: ModeName
    time_scale: float
    run_dir: Path
    makespan: float
    first_start: float | None
    last_end: float | None
    records: tuple[TaskRecord, ...]
    task_sets: tuple[str, ...]   # the task set of each record
    walltime: WalltimeSummary | None = None   # what the walltime left (run with walltime=)

    @property
    def failed(self) -> tuple[TaskRecord, ...]:
        """Records of the tasks that did not end ``DONE``."""
        return tuple(r for r in self.records if r.state is not TaskState.DONE)

    @property
    def left_by_walltime(self) -> tuple[TaskRecord, ...]:
        """Records of the tasks the walltime ended (``resume=True`` continues them)."""
        return tuple(r for r in self.failed
                     if r.failure is not None and r.failure.kind is FailureKind.WALLTIME)


def backends_for(workflow: Workflow, run_dir: Path, *, kill_grace: float = 3.0
                 ) -> list[Backend]:
    """The backends the workflow's task sets need, of the session's defaults for its platform
    (:func:`~tandem.runtime.open.default_backends`: local processes and function workers on
    this machine, job steps inside a Slurm allocation; mock tasks anywhere). Raises
    :class:`SpecError`, naming the task set, when a command or function task set would run
    on nodes, cores or GPUs those backends cannot execute (only mock tasks run on a logical
    platform)."""
    works = [(s.name, s.work if s.work is not None else _MOCK) for s in workflow.task_sets]
    defaults = default_backends(workflow.platform, run_dir, kill_grace)
    out = [b for b in defaults if any(b.accepts(w) for _, w in works)]
    for name, work in works:
        if work is _MOCK:
            continue
        backend = next(b for b in out if b.accepts(work))
        problem = backend.unreachable(workflow.platform)
        if problem is None:
            continue
        what = "a command" if isinstance(work, Executable) else "a Python function"
        raise SpecError(
            f"workflow {workflow.name!r}: task set {name!r} runs {what}, and real processes "
            f"can only be pinned to cores and GPUs that exist (this machine's, or a Slurm "
            f"allocation's), but the platform is {workflow.platform.describe()} ({problem}); "
            "declare `platform: {local: true}` (optionally with virtual_gpus: N), run inside "
            "an allocation with no platform key, or make the task set a mock (a duration only)")
    return out


_MOCK = Mock(seconds=0.0)


async def run_workflow_async(
    workflow: Workflow,
    *,
    mode: ModeName | None = None,
    time_scale: float | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    policy: Policy | None = None,
    backends: Sequence[Backend] | None = None,
    progress: Progress | None = None,
    resume: bool = False,
    walltime: float | None = None,
) -> RunResult:
    """Run ``workflow`` once in ``mode`` (default: the workflow's) with durations drawn with
    ``seed`` and multiplied by ``time_scale`` (default: the workflow's). ``progress`` shows
    live counts per kind while it runs. ``resume``: continue the campaign of ``run_dir``
    (tasks its journal finished are restored, not run). ``walltime``: seconds the run may
    take (see ``open_session``); the result's ``walltime`` says what it left."""
    mode = mode or workflow.mode
    if mode not in ("async", "barrier"):
        raise SpecError(f"run: mode must be async or barrier, got {mode!r}")
    scale = workflow.time_scale if time_scale is None else time_scale
    if not is_number(scale) or not scale > 0:
        raise SpecError(f"run: time_scale must be a number > 0, got {scale!r}")
    modelled = [s.name for s in workflow.task_sets if s.surrogate is not None]
    if modelled:
        raise SpecError(f"run: task set {modelled[0]!r} has a surrogate: block, a model for "
                        "`tandem predict`; a campaign that uses a surrogate calls "
                        "tandem.Surrogate from Python (docs/surrogate.md)")
    rd = Path(run_dir) if run_dir is not None else default_run_dir(f"{workflow.name}-{mode}")
    if backends is None:
        backends = backends_for(workflow, rd)
    tasks = workflow.expand(mode=mode, seed=seed, time_scale=scale)
    rd.mkdir(parents=True, exist_ok=True)
    if policy is None:
        policy = Policy(mode=Mode(mode))
    futures: list[TaskFuture] = []
    async with open_session(workflow.platform, run_dir=rd, policy=policy, backends=backends,
                            instruments=[progress] if progress else [],
                            pools=workflow.pools, resume=resume,
                            walltime=walltime) as session:
        refresher = asyncio.create_task(progress.run()) if progress else None
        try:
            for t in tasks:
                futures.append(session.submit_spec(t.spec, after=[futures[d] for d in t.deps]))
            await session.wait_all()
        finally:
            if refresher is not None:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
    records = tuple(f.record for f in futures)
    starts = [r.started for r in records if r.started is not None]
    ends = [r.ended for r in records if r.ended is not None and r.started is not None]
    first = min(starts) if starts else None
    last = max(ends) if ends else None
    result = RunResult(
        workflow=workflow.name, mode=mode, time_scale=float(scale), run_dir=rd,
        makespan=(last - first) if first is not None and last is not None else 0.0,
        first_start=first, last_end=last, records=records,
        task_sets=tuple(t.task_set for t in tasks), walltime=session.walltime)
    _write_summary(result, workflow, seed)
    return result


def run_workflow(
    workflow: Workflow,
    *,
    mode: ModeName | None = None,
    time_scale: float | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    policy: Policy | None = None,
    backends: Sequence[Backend] | None = None,
    progress: Progress | None = None,
    resume: bool = False,
    walltime: float | None = None,
) -> RunResult:
    """:func:`run_workflow_async` from synchronous code (starts its own event loop)."""
    return asyncio.run(run_workflow_async(workflow, mode=mode, time_scale=time_scale,
                                          run_dir=run_dir, seed=seed, policy=policy,
                                          backends=backends, progress=progress,
                                          resume=resume, walltime=walltime))


def _write_summary(result: RunResult, workflow: Workflow, seed: int) -> None:
    t0 = result.first_start
    per_set: dict[str, dict[str, object]] = {}
    for name in dict.fromkeys(result.task_sets):
        recs = [r for n, r in zip(result.task_sets, result.records, strict=True) if n == name]
        starts = [r.started - t0 for r in recs if r.started is not None and t0 is not None]
        ends = [r.ended - t0 for r in recs
                if r.ended is not None and r.started is not None and t0 is not None]
        per_set[name] = {"tasks": len(recs),
                         "failed": sum(r.state is not TaskState.DONE for r in recs),
                         "first_start": min(starts, default=None),
                         "last_end": max(ends, default=None)}
    summary = {
        "workflow": result.workflow, "mode": result.mode, "time_scale": result.time_scale,
        "seed": seed, "makespan": result.makespan, "tasks": len(result.records),
        "failed": len(result.failed), "platform": workflow.platform.describe(),
        "task_sets": per_set, "task_set_of": list(result.task_sets),
    }
    (result.run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
