"""The analytic performance model of a workflow (Pascuzzi et al., JSSPP 2023, section 1).

Contract: pure functions over a :class:`~tandem.spec.workflow.Workflow`; no I/O, no clock, no
scheduler.

Every task set ``v`` has ``n_v`` tasks of ``c_v`` cores and ``g_v`` GPUs (per task, all ranks)
running ``d_v = duration.mean * time_scale`` seconds. On a platform of ``C_tot`` cores and
``G_tot`` GPUs:

- *levels* come from the barrier-mode graph (``depends_on``): a set's level is the longest path,
  in edges, from a source;
- ``T_seq = sum over levels k of max_{v in L_k} d_v``: stage-synchronous execution, each level
  a barrier that waits for its slowest set (barrier-mode graph);
- ``T_async = max over paths p of sum_{v in p} d_v``: the critical path of the async-mode graph
  (``TaskSet.deps("async")``, which honours ``async_depends_on``);
- ``I = 1 - T_async / T_seq`` (the paper's relative improvement) and ``S = T_seq / T_async``;
- the *waves* correction for sets that do not fit the machine at once:
  ``d_v' = ceil(n_v * max(c_v / C_tot, g_v / G_tot)) * d_v``, and the same three numbers with
  ``d'`` (``t_seq_waves``, ``t_async_waves``, ``improvement_waves``);
- lower bounds for any schedule of the async-mode graph: its critical path, total core-seconds
  over ``C_tot`` and total GPU-seconds over ``G_tot``; ``lower_bound`` is their maximum;
- ``doa_struct``: see :mod:`tandem.model.doa`.

These are the unlimited-resource numbers of the paper's section 1.3 (and 1.5's bounds); the
simulator (:mod:`tandem.sim`) gives the resource-constrained makespan.
Imports: tandem.errors, tandem.model.doa, tandem.spec.workflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tandem.errors import SpecError
from tandem.model.doa import doa_struct
from tandem.spec.workflow import ModeName, TaskSet, Workflow


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelReport:
    """The analytic model of one workflow. Times in seconds (already multiplied by the
    workflow's ``time_scale``)."""

    workflow: str
    levels: dict[str, int]
    """Level of each task set in the barrier-mode graph."""
    durations: dict[str, float]
    """``d_v``: the mean duration of each set's tasks."""
    waves: dict[str, int]
    """How many times each set must fill the machine: ``ceil(n_v max(c_v/C_tot, g_v/G_tot))``."""
    t_seq: float
    t_async: float
    improvement: float
    speedup: float
    t_seq_waves: float
    t_async_waves: float
    improvement_waves: float
    speedup_waves: float
    critical_path: tuple[str, ...]
    """The task sets on a longest path of the async-mode graph (with ``d``), source first."""
    bounds: dict[str, float]
    """Lower bounds on any schedule's makespan: ``critical_path``, ``cores``, ``gpus``."""
    lower_bound: float
    doa_struct: float

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for JSON and the CLI."""
        return {
            "workflow": self.workflow, "levels": dict(self.levels),
            "durations": dict(self.durations), "waves": dict(self.waves),
            "t_seq": self.t_seq, "t_async": self.t_async, "improvement": self.improvement,
            "speedup": self.speedup, "t_seq_waves": self.t_seq_waves,
            "t_async_waves": self.t_async_waves, "improvement_waves": self.improvement_waves,
            "speedup_waves": self.speedup_waves, "critical_path": list(self.critical_path),
            "bounds": dict(self.bounds), "lower_bound": self.lower_bound,
            "doa_struct": self.doa_struct,
        }


def set_duration(s: TaskSet, time_scale: float) -> float:
    """``d_v``: the mean duration of ``s``'s tasks, scaled."""
    if s.duration is None:
        raise SpecError(f"task set {s.name!r}: the model needs a duration (mean) for every set")
    return float(s.duration.mean) * time_scale


def set_waves(s: TaskSet, total_cores: int, total_gpus: int) -> int:
    """``ceil(n_v * max(c_v / C_tot, g_v / G_tot))``, computed in integers (at least 1)."""
    r = s.resources
    by_cores = -(-s.count * r.total_cores // total_cores) if total_cores else 0
    by_gpus = -(-s.count * r.total_gpus // total_gpus) if total_gpus else 0
    return max(1, by_cores, by_gpus)


def t_seq(workflow: Workflow, durations: dict[str, float]) -> float:
    """Sum over barrier-mode levels of the longest set duration at that level."""
    longest: dict[int, float] = {}
    for name, level in workflow.levels("barrier").items():
        d = durations[name]
        if d > longest.get(level, -1.0):
            longest[level] = d
    return math.fsum(longest.values())


def longest_path(workflow: Workflow, durations: dict[str, float], mode: ModeName = "async"
                 ) -> tuple[float, tuple[str, ...]]:
    """Length and sets of a longest path of the ``mode`` graph (ties: the first set defined)."""
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for s in workflow.topological(mode):
        best: str | None = None
        for d in s.deps(mode):
            if best is None or finish[d] > finish[best]:
                best = d
        finish[s.name] = durations[s.name] + (finish[best] if best is not None else 0.0)
        via[s.name] = best
    if not finish:
        return 0.0, ()
    end = max(finish, key=lambda k: finish[k])
    path: list[str] = []
    cur: str | None = end
    while cur is not None:
        path.append(cur)
        cur = via[cur]
    return finish[end], tuple(reversed(path))


def _ratio(num: float, den: float) -> float:
    if den == 0:
        return 1.0 if num == 0 else math.inf
    return num / den


def analyze(workflow: Workflow) -> ModelReport:
    """The analytic model of ``workflow`` on its own platform (see the module docstring)."""
    scale = workflow.time_scale
    cores, gpus = workflow.platform.total_cores, workflow.platform.total_gpus
    d = {s.name: set_duration(s, scale) for s in workflow.task_sets}
    waves = {s.name: set_waves(s, cores, gpus) for s in workflow.task_sets}
    dw = {k: waves[k] * v for k, v in d.items()}
    seq, seq_w = t_seq(workflow, d), t_seq(workflow, dw)
    asy, path = longest_path(workflow, d)
    asy_w, _ = longest_path(workflow, dw)
    core_work = math.fsum(s.count * s.resources.total_cores * d[s.name]
                          for s in workflow.task_sets)
    gpu_work = math.fsum(s.count * s.resources.total_gpus * d[s.name]
                         for s in workflow.task_sets)
    bounds = {
        "critical_path": asy,
        "cores": core_work / cores if cores else 0.0,
        "gpus": gpu_work / gpus if gpus else 0.0,
    }
    return ModelReport(
        workflow=workflow.name, levels=workflow.levels("barrier"), durations=d, waves=waves,
        t_seq=seq, t_async=asy, improvement=1.0 - _ratio(asy, seq) if seq else 0.0,
        speedup=_ratio(seq, asy),
        t_seq_waves=seq_w, t_async_waves=asy_w,
        improvement_waves=1.0 - _ratio(asy_w, seq_w) if seq_w else 0.0,
        speedup_waves=_ratio(seq_w, asy_w), critical_path=path, bounds=bounds,
        lower_bound=max(bounds.values()), doa_struct=doa_struct(workflow),
    )
