"""Predict a workflow under a walltime: how much finishes in one allocation, and how many
allocations of that length it needs.

Contract: pure computation over the simulator (:func:`tandem.sim.simulator.run`), which drives
the real core with a :class:`~tandem.core.values.Walltime` on virtual seconds, so deferral and
the preemption at the end are the runtime's own decisions. One seed's durations are drawn once
(``Workflow.expand``); each allocation then simulates the work that is left, submitted at its
start, until nothing is left, or nothing moves.

The model assumes:

- every allocation has the same walltime ``S`` and the whole platform, and starts with the
  work that is left (tasks finished before are done; their dependents are free to start);
- a task is launched only if its estimate (the task set's mean duration) fits before the end's
  preemption minus ``margin``; so a task whose estimate exceeds ``S - grace - margin`` can
  never finish, and nor can anything downstream of it;
- a task still running at ``S - grace`` is preempted. With ``checkpoint=True`` (default) it
  wrote a perfect checkpoint: the next allocation runs only what it had left; with
  ``checkpoint=False`` it starts again from scratch;
- the time between allocations (the batch queue's wait) is not modelled.
Imports: tandem.core.actions, tandem.core.policy, tandem.core.states, tandem.core.values,
tandem.errors, tandem.sim.simulator, tandem.spec.checks, tandem.spec.platform,
tandem.spec.workflow, tandem.trace.instrument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tandem.core.actions import Steered
from tandem.core.policy import Mode, Policy
from tandem.core.states import DONE
from tandem.core.values import SteerAction, Walltime
from tandem.errors import SpecError
from tandem.sim.simulator import run
from tandem.spec.checks import is_number
from tandem.spec.platform import Platform
from tandem.spec.workflow import ModeName, Workflow
from tandem.trace.instrument import Instrument

DEFAULT_GRACE = 3.0     # the runtime's default: open_session's kill_grace
DEFAULT_MARGIN = 1.0    # the runtime's default (tandem.runtime.walltime.DEFAULT_MARGIN)
MAX_ALLOCATIONS = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Allocation:
    """One simulated allocation: tasks that finished in it, were preempted at its end, were
    deferred (would not have finished in time), or never started; ``work_done``: task-seconds
    of the tasks that finished in it."""

    done: int
    preempted: int
    deferred: int
    never_started: int
    work_done: float


@dataclass(frozen=True, slots=True, kw_only=True)
class WalltimePrediction:
    """How a workflow fares under a walltime of ``walltime`` seconds (one seed's durations).

    ``fraction_done``: of the tasks, how many finish in the first allocation;
    ``work_fraction``: of the work (task-seconds of every task), how much. ``allocations``:
    how many allocations of ``walltime`` finish everything (``None``: never, see ``never``);
    ``never``: names of the tasks that can never finish (their estimate exceeds
    ``walltime - grace - margin``, or they wait for such a task; or an allocation moved
    nothing)."""

    workflow: str
    mode: str
    seed: int
    walltime: float
    margin: float
    grace: float
    checkpoint: bool
    tasks: int
    work: float
    runs: tuple[Allocation, ...]
    allocations: int | None
    never: tuple[str, ...]

    @property
    def first(self) -> Allocation:
        return self.runs[0]

    @property
    def fraction_done(self) -> float:
        return self.first.done / self.tasks if self.tasks else 1.0

    @property
    def work_fraction(self) -> float:
        return self.first.work_done / self.work if self.work > 0 else 1.0

    def describe(self) -> str:
        f = self.first
        text = (f"in {self.walltime:g} s: {f.done} of {self.tasks} tasks finish "
                f"({self.fraction_done:.1%} of the tasks, {self.work_fraction:.1%} of the "
                f"work); {f.preempted} preempted, {f.deferred} deferred, {f.never_started} "
                "never started. ")
        if self.allocations is not None:
            text += f"The whole workflow needs {self.allocations} allocation" + (
                "s" if self.allocations != 1 else "") + f" of {self.walltime:g} s"
        else:
            shown = ", ".join(self.never[:5]) + (", ..." if len(self.never) > 5 else "")
            text += (f"{len(self.never)} tasks can never finish in allocations of "
                     f"{self.walltime:g} s ({shown})")
        how = "a perfect checkpoint" if self.checkpoint else "a restart from scratch"
        return text + f" (preempted tasks continue from {how})."


class _Deferrals(Instrument):
    def __init__(self) -> None:
        self.ids: set[int] = set()

    def steered(self, action: Steered, now: float) -> None:
        if action.action is SteerAction.DEFER and action.task_id is not None:
            self.ids.add(action.task_id)


def _seconds(name: str, v: object, positive: bool = False) -> float:
    if not is_number(v) or not math.isfinite(float(v)) or float(v) < 0 \
            or (positive and float(v) == 0):
        need = "> 0" if positive else ">= 0"
        raise SpecError(f"predict: {name} must be a number of seconds {need}, got {v!r}")
    return float(v)


def predict_walltime(
    workflow: Workflow,
    walltime: float,
    *,
    mode: str | None = None,
    seed: int = 0,
    platform: Platform | None = None,
    margin: float = DEFAULT_MARGIN,
    grace: float = DEFAULT_GRACE,
    checkpoint: bool = True,
    overhead: float = 0.0,
    policy: Policy | None = None,
) -> WalltimePrediction:
    """Simulate ``workflow`` in successive allocations of ``walltime`` seconds (see the module
    docstring for what the model assumes)."""
    modelled = [t.name for t in workflow.task_sets if t.surrogate is not None]
    if modelled:
        raise SpecError(f"predict: a walltime prediction does not model the surrogate of task "
                        f"set {modelled[0]!r} (it would count every call as real); predict it "
                        "without --walltime")
    s_wall = _seconds("walltime", walltime, positive=True)
    m = _seconds("margin", margin)
    g = _seconds("grace", grace)
    if g + m >= s_wall:
        raise SpecError(f"predict: grace ({g:g} s) and margin ({m:g} s) leave no time to run "
                        f"anything in a walltime of {s_wall:g} s")
    m_ = mode or workflow.mode
    if m_ not in ("async", "barrier"):
        raise SpecError(f"predict: mode must be 'async' or 'barrier', got {mode!r}")
    name: ModeName = "async" if m_ == "async" else "barrier"
    for ts in workflow.task_sets:
        if ts.duration is None:
            raise SpecError(f"predict: task set {ts.name!r} has no duration; give it one "
                            "(an estimate) or a calibration from a past run")
    pol = Policy(mode=Mode(name)) if policy is None else policy
    plat = platform or workflow.platform
    tasks = workflow.expand(mode=name, seed=seed)
    durations = [t.duration or 0.0 for t in tasks]
    total = math.fsum(durations)
    wall = Walltime(ends_at=s_wall, margin=m, grace=g)
    left = list(range(len(tasks)))
    carried: dict[int, float] = {}
    runs: list[Allocation] = []
    while left and len(runs) < MAX_ALLOCATIONS:
        pos = {orig: k for k, orig in enumerate(left)}
        specs = [tasks[i].spec for i in left]
        deps = [tuple(pos[d] for d in tasks[i].deps if d in pos) for i in left]
        durs = [max(0.0, durations[i] - carried.get(i, 0.0)) for i in left]
        deferrals = _Deferrals()
        res = run(plat, specs, deps, durs, policy=pol, overhead=overhead, walltime=wall,
                  instruments=[deferrals])
        progress = dict(res.carried) if checkpoint else {}
        done_now, still = [], []
        counts = {"preempted": 0, "deferred": 0, "never_started": 0}
        for k, rec in enumerate(res.records):
            orig = left[k]
            if rec.state is DONE:
                done_now.append(orig)
                carried.pop(orig, None)
                continue
            still.append(orig)
            if k in deferrals.ids:
                counts["deferred"] += 1
            elif rec.launched is not None:
                counts["preempted"] += 1
            else:
                counts["never_started"] += 1
            if checkpoint and k in progress:
                carried[orig] = carried.get(orig, 0.0) + progress[k]
        runs.append(Allocation(done=len(done_now), work_done=math.fsum(
            durations[i] for i in done_now), **counts))
        if not done_now and not progress:
            break      # nothing moved: what is left can never finish
        left = still
    if not runs:           # an empty workflow: nothing to run
        runs.append(Allocation(done=0, preempted=0, deferred=0, never_started=0,
                               work_done=0.0))
    never = tuple(tasks[i].spec.name for i in left)
    return WalltimePrediction(
        workflow=workflow.name, mode=name, seed=seed, walltime=s_wall, margin=m, grace=g,
        checkpoint=checkpoint, tasks=len(tasks), work=total, runs=tuple(runs),
        allocations=None if left else len(runs) if tasks else 0, never=never)
