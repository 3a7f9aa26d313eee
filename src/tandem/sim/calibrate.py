"""Calibration: duration models and launch overheads fitted from a past run's trace.

Contract: :func:`calibrate` reads one run directory's ``trace.jsonl`` (through
:func:`tandem.trace.read_trace`); everything else is pure.

What is fitted, from the tasks that ended ``done``:

- a duration model per task *kind* and per task *set*: a task named ``<set>.<k>`` (``k`` a
  number, as :meth:`Workflow.expand` names them) belongs to set ``<set>``; a task with any other
  name is its own set. ``model="empirical"`` resamples the measured durations;
  ``model="normal"`` fits their mean and standard deviation. A task's duration is its
  ``ended - started`` (``launched`` when no start was recorded);
- ``launch_latency``: the median of ``started - launched`` (the backend's start-up cost);
- ``dispatch_gap``: for each group of tasks waiting for the same dependencies, the smallest
  delay from a task becoming ready (its ``ready`` time: the last dependency's end, or its stage
  barrier opening; the last dependency's end when the trace has no ``ready``) to its launch:
  the driver's reaction time, without the waits for resources that later tasks of the group
  may see; the median over groups, at least 0. The tandem runtime launches in the same step
  that handles the exit, so its own traces give about 0.

The simulator applies ``overhead = launch_latency + dispatch_gap`` as a launch delay: a task
holds its resources that long before it starts (see :mod:`tandem.sim.simulator`).

:func:`from_history` fits the same duration models to the task history instead
(:mod:`tandem.history`): for each task set, the done tasks of the key its tasks have
(:func:`tandem.history.describe.key_of`), over every earlier traced run the history holds;
``apply(workflow, missing_only=True)`` then gives durations only to the sets without one.
Imports: tandem.errors, tandem.history.describe, tandem.history.store, tandem.spec.task,
tandem.spec.workflow, tandem.trace.jsonl.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tandem.errors import SpecError
from tandem.history.describe import key_of, set_of
from tandem.history.store import HistoryStore
from tandem.spec.task import Mock, TaskSpec
from tandem.spec.workflow import Duration, TaskSet, Workflow
from tandem.trace.jsonl import read_trace

__all__ = ["Calibration", "FitModel", "calibrate", "describe", "fit", "from_history", "set_of"]

FitModel = Literal["empirical", "normal"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """Fitted durations (seconds as measured) and overheads of one run."""

    by_set: Mapping[str, Duration]
    by_kind: Mapping[str, Duration]
    launch_latency: float = 0.0
    dispatch_gap: float = 0.0
    model: FitModel = "empirical"
    tasks: int = 0
    """How many done tasks the fit used."""

    @property
    def overhead(self) -> float:
        """The launch delay the simulator applies: ``launch_latency + dispatch_gap``."""
        return self.launch_latency + self.dispatch_gap

    def duration_for(self, task_set: str, kind: str) -> Duration | None:
        """The fitted model of a set (by name, else by kind), or ``None``."""
        found = self.by_set.get(task_set)
        return found if found is not None else self.by_kind.get(kind)

    def apply(self, workflow: Workflow, *, missing_only: bool = False) -> Workflow:
        """``workflow`` with each set's duration replaced by its fitted model (sets with none
        keep theirs; with ``missing_only``, only sets without a duration get one). Fitted
        durations are measured seconds, so they are divided by the workflow's ``time_scale``
        (which :meth:`Workflow.expand` multiplies back)."""
        sets: list[TaskSet] = []
        for s in workflow.task_sets:
            fitted = None if missing_only and s.duration is not None \
                else self.duration_for(s.name, s.kind)
            if fitted is not None:
                s = dataclasses.replace(s, duration=fitted.scaled(1.0 / workflow.time_scale))
            sets.append(s)
        return dataclasses.replace(workflow, task_sets=tuple(sets))


def fit(samples: list[float], model: FitModel = "empirical") -> Duration:
    """A duration model of ``samples`` (seconds)."""
    if not samples:
        raise SpecError("calibrate: no duration samples to fit")
    mean = math.fsum(samples) / len(samples)
    if model == "empirical":
        return Duration(mean=mean, distribution="empirical", samples=tuple(samples))
    if model == "normal":
        sd = statistics.stdev(samples) if len(samples) > 1 else 0.0
        return Duration(mean=mean, sd=sd, distribution="normal" if sd else "fixed")
    raise SpecError(f"calibrate: model must be 'empirical' or 'normal', got {model!r}")


def calibrate(run_dir: str | Path, *, model: FitModel = "empirical") -> Calibration:
    """Fit a :class:`Calibration` to the trace in ``run_dir`` (see the module docstring)."""
    ends = [r for r in read_trace(run_dir) if r.get("ev") == "end"]
    if not ends:
        raise SpecError(f"calibrate: {run_dir} has no ended task in its trace")
    by_set: dict[str, list[float]] = {}
    by_kind: dict[str, list[float]] = {}
    latency: list[float] = []
    ended = {r["id"]: r.get("ended") for r in ends}
    groups: dict[tuple[int, ...], float] = {}   # deps -> smallest launch delay in the group
    used = 0
    for r in ends:
        if r.get("state") != "done":
            continue
        launched, started, end = r.get("launched"), r.get("started"), r.get("ended")
        begin = started if started is not None else launched
        if begin is None or end is None:
            continue
        used += 1
        d = max(0.0, float(end) - float(begin))
        by_set.setdefault(set_of(str(r["name"])), []).append(d)
        by_kind.setdefault(str(r.get("kind", "task")), []).append(d)
        if started is not None and launched is not None:
            latency.append(max(0.0, float(started) - float(launched)))
        deps = tuple(r.get("deps") or ())
        dep_ends = [ended.get(i) for i in deps]
        if deps and launched is not None and all(e is not None for e in dep_ends):
            ready = r.get("ready")
            ref = float(ready) if ready is not None else max(float(e) for e in dep_ends if e
                                                             is not None)
            gap = float(launched) - ref
            groups[deps] = min(groups.get(deps, math.inf), gap)
    if not used:
        raise SpecError(f"calibrate: {run_dir} has no task that ended done")
    gaps = [max(0.0, g) for g in groups.values()]
    return Calibration(
        by_set={k: fit(v, model) for k, v in by_set.items()},
        by_kind={k: fit(v, model) for k, v in by_kind.items()},
        launch_latency=statistics.median(latency) if latency else 0.0,
        dispatch_gap=statistics.median(gaps) if gaps else 0.0,
        model=model, tasks=used,
    )


def from_history(workflow: Workflow, directory: str | Path, *,
                 model: FitModel = "empirical") -> Calibration:
    """Fit each task set of ``workflow`` to the history in ``directory`` (see the module
    docstring); sets the history does not know are left out."""
    store = HistoryStore(directory)
    if not store.exists():
        raise SpecError(f"--history: {store.path} does not exist (no traced run has been "
                        "recorded there)")
    by_set: dict[str, Duration] = {}
    used = 0
    for s in workflow.task_sets:
        work = s.work if s.work is not None else Mock(seconds=0.0)
        key = key_of(TaskSpec(name=s.name, work=work, kind=s.kind))
        durations = [r.duration for r in store.samples(key) if r.duration is not None]
        if durations:
            by_set[s.name] = fit(durations, model)
            used += len(durations)
    return Calibration(by_set=by_set, by_kind={}, model=model, tasks=used)


def describe(cal: Calibration) -> dict[str, Any]:
    """Plain values of a calibration (for JSON and the CLI)."""
    def one(d: Duration) -> dict[str, Any]:
        return {"mean": d.mean, "sd": d.sd, "distribution": d.distribution,
                "samples": len(d.samples)}
    return {"model": cal.model, "tasks": cal.tasks, "launch_latency": cal.launch_latency,
            "dispatch_gap": cal.dispatch_gap, "overhead": cal.overhead,
            "by_set": {k: one(v) for k, v in cal.by_set.items()},
            "by_kind": {k: one(v) for k, v in cal.by_kind.items()}}
