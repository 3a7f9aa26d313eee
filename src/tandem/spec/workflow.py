"""A workflow as the papers describe it: a DAG of task sets on a platform.

Contract: frozen values validated on construction, and :meth:`Workflow.expand`, which turns task
sets into individual tasks (with durations drawn from a seeded generator). No I/O, no clock.

A *task set* is ``count`` identical tasks (same resources, same work, durations drawn from one
:class:`Duration`). An edge ``u -> v`` (``v.depends_on`` names ``u``) means every task of ``v``
needs every task of ``u`` to have finished. The workflow's ``mode`` is the default execution
mode (``"async"`` or ``"barrier"``); ``time_scale`` multiplies every duration.

Some workflows relax a dependency when run asynchronously: in DeepDriveMD the next simulations
restart from the previous agent's outliers (``depends_on``), but an asynchronous campaign lets
them start from older restart points (stale restarts), so they do not wait for that agent.
``async_depends_on``, when given, replaces ``depends_on`` in async mode. Every method that reads
the graph takes the ``mode``.

A task set whose calls a surrogate may answer carries a :class:`SurrogatePlan` (``surrogate``):
what predictions model (how often the surrogate answers once trained, what an answer and a
retraining cost, how the calls follow each other); :mod:`tandem.sim.surrogates` runs it.
Imports: tandem.errors, tandem.spec.checks, tandem.spec.platform, tandem.spec.pools,
tandem.spec.resources, tandem.spec.task.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from tandem.errors import SpecError
from tandem.spec.checks import is_int, is_number
from tandem.spec.platform import Platform
from tandem.spec.pools import Quota, partition
from tandem.spec.resources import Resources
from tandem.spec.task import Mock, TaskSpec, Work

Distribution = Literal["fixed", "normal", "lognormal", "empirical"]
ModeName = Literal["async", "barrier"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Duration:
    """How long a task of a set runs, in seconds.

    - ``fixed``: always ``mean``;
    - ``normal``: N(``mean``, ``sd``), truncated at 0 (the papers' jitter);
    - ``lognormal``: a lognormal with that mean and standard deviation;
    - ``empirical``: drawn uniformly from ``samples`` (e.g. measured durations).
    """

    mean: float
    sd: float = 0.0
    distribution: Distribution = "fixed"
    samples: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for key in ("mean", "sd"):
            v = getattr(self, key)
            if not is_number(v) or v < 0:
                raise SpecError(f"Duration: {key} must be a number >= 0, got {v!r}")
        if self.distribution not in ("fixed", "normal", "lognormal", "empirical"):
            raise SpecError(
                f"Duration: distribution must be fixed, normal, lognormal or empirical, "
                f"got {self.distribution!r}")
        if self.distribution == "empirical":
            if not self.samples:
                raise SpecError("Duration: an empirical distribution needs samples")
            if any(x < 0 for x in self.samples):
                raise SpecError("Duration: empirical samples must be >= 0 seconds")
            object.__setattr__(self, "samples", tuple(float(x) for x in self.samples))
        if self.distribution == "fixed" and self.sd:
            object.__setattr__(self, "distribution", "normal")

    def sample(self, rng: random.Random) -> float:
        """One duration drawn with ``rng`` (the mean itself for ``fixed``)."""
        d = self.distribution
        if d == "fixed" or (d in ("normal", "lognormal") and not self.sd):
            return float(self.mean)
        if d == "normal":
            return max(0.0, rng.gauss(self.mean, self.sd))
        if d == "lognormal":
            if self.mean <= 0:
                return 0.0
            sigma2 = math.log(1.0 + (self.sd / self.mean) ** 2)
            return rng.lognormvariate(math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2))
        return rng.choice(self.samples)

    def scaled(self, factor: float) -> Duration:
        return Duration(mean=self.mean * factor, sd=self.sd * factor,
                        distribution=self.distribution,
                        samples=tuple(x * factor for x in self.samples))


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSet:
    """``count`` identical tasks. ``work`` is what each runs; ``None`` means a mock task that
    holds its slots for its drawn duration. ``duration`` is required for mock tasks and is the
    estimate (and the simulator's model) for the others. ``pool``: the resource pool its tasks
    draw on (a name in the workflow's ``pools``; ``None``: the default pool). ``features``: each
    task's :attr:`TaskSpec.features` (what the history learns its estimate from)."""

    name: str
    count: int = 1
    kind: str = "task"
    resources: Resources = field(default_factory=Resources)
    duration: Duration | None = None
    work: Work | None = None
    depends_on: tuple[str, ...] = ()
    async_depends_on: tuple[str, ...] | None = None
    priority: int = 0
    pool: str | None = None
    features: Mapping[str, float | int | str] | None = None
    surrogate: SurrogatePlan | None = None

    def deps(self, mode: ModeName) -> tuple[str, ...]:
        """The task sets this one waits for in ``mode``."""
        if mode == "async" and self.async_depends_on is not None:
            return self.async_depends_on
        return self.depends_on

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"task set: name must be a non-empty string, got {self.name!r}")
        where = f"task set {self.name!r}"
        if not is_int(self.count) or self.count < 1:
            raise SpecError(f"{where}: count must be an integer >= 1, got {self.count!r}")
        if self.work is None and self.duration is None:
            raise SpecError(f"{where}: a mock task set (no command or function) needs a duration")
        object.__setattr__(self, "depends_on", tuple(self.depends_on))
        if self.async_depends_on is not None:
            object.__setattr__(self, "async_depends_on", tuple(self.async_depends_on))
        if self.name in self.depends_on or self.name in (self.async_depends_on or ()):
            raise SpecError(f"{where}: depends on itself")
        if self.surrogate is not None:
            if not isinstance(self.surrogate, SurrogatePlan):
                raise SpecError(f"{where}: surrogate must be a SurrogatePlan, got "
                                f"{self.surrogate!r}")
            if self.duration is None:
                raise SpecError(f"{where}: a surrogate-backed set needs a duration (one real "
                                "call's)")
            if self.surrogate.chains > self.count:
                raise SpecError(f"{where}: surrogate chains ({self.surrogate.chains}) must be "
                                f"at most count ({self.count})")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowTask:
    """One task of an expanded workflow: its spec, the indices of the tasks it waits for, its
    task set, and its drawn duration (``None`` for real work without an estimate)."""

    spec: TaskSpec
    deps: tuple[int, ...]
    task_set: str
    duration: float | None


MAX_TASKS = 10_000_000
"""The most tasks one workflow may expand to: a driver holds about 40 MB per million tasks it
has seen (bench/rss.py), and the simulator takes seconds per million; a larger count is a typo
or a campaign to split, refused before anything runs."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SurrogatePlan:
    """How a surrogate answers a task set's calls, for predictions: once a model serves (after
    ``min_pairs`` real calls and a retraining of ``retrain`` seconds on ``retrain_cores``
    cores; again after every ``every`` new pairs), a call is answered with probability
    ``hit_rate`` in ``inference`` seconds, and an answer is audited (the real call runs too,
    at low priority) with probability ``audit_fraction``. The set's ``count`` calls run as
    ``chains`` chains, each call of a chain after the one before (a sampler's chains); the set's
    duration is one real call."""

    hit_rate: float = 0.9
    inference: float = 0.0
    retrain: float = 1.0
    min_pairs: int = 5
    every: int = 10
    audit_fraction: float = 0.1
    chains: int = 1
    retrain_cores: int = 1

    def __post_init__(self) -> None:
        for name in ("hit_rate", "audit_fraction"):
            v = getattr(self, name)
            if not is_number(v) or not 0 <= v <= 1:
                raise SpecError(f"surrogate: {name} must be a number in [0, 1], got {v!r}")
        for name in ("inference", "retrain"):
            v = getattr(self, name)
            if not is_number(v) or not math.isfinite(v) or v < 0:
                raise SpecError(f"surrogate: {name} must be seconds >= 0, got {v!r}")
        for name, low in (("min_pairs", 1), ("every", 1), ("chains", 1), ("retrain_cores", 0)):
            v = getattr(self, name)
            if not is_int(v) or v < low:
                raise SpecError(f"surrogate: {name} must be an integer >= {low}, got {v!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Workflow:
    """A DAG of task sets on a platform. ``pools``: named resource pools with their quotas
    (the rest of the platform is the default pool), see :mod:`tandem.spec.pools`."""

    name: str
    platform: Platform
    task_sets: tuple[TaskSet, ...]
    mode: ModeName = "async"
    time_scale: float = 1.0
    pools: Mapping[str, Quota] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "task_sets", tuple(self.task_sets))
        if not self.task_sets:
            raise SpecError(f"workflow {self.name!r}: needs at least one task set")
        if self.mode not in ("async", "barrier"):
            raise SpecError(f"workflow {self.name!r}: mode must be async or barrier, "
                            f"got {self.mode!r}")
        ts = self.time_scale
        if not is_number(ts) or not ts > 0:
            raise SpecError(f"workflow {self.name!r}: time_scale must be a number > 0, got {ts!r}")
        total = sum(s.count for s in self.task_sets)
        if total > MAX_TASKS:
            biggest = max(self.task_sets, key=lambda s: s.count)
            raise SpecError(
                f"workflow {self.name!r}: {total:,} tasks in all (task set {biggest.name!r} has "
                f"{biggest.count:,}) is more than one run can hold: at most {MAX_TASKS:,} tasks "
                "(split the campaign, or lower count)")
        names = [s.name for s in self.task_sets]
        seen: set[str] = set()
        for s in self.task_sets:
            if s.name in seen:
                raise SpecError(f"workflow {self.name!r}: task set {s.name!r} is defined twice")
            seen.add(s.name)
        for s in self.task_sets:
            for d in (*s.depends_on, *(s.async_depends_on or ())):
                if d not in seen:
                    raise SpecError(
                        f"workflow {self.name!r}: task set {s.name!r} depends on {d!r}, which is "
                        f"not a task set (task sets: {names})")
            self.platform.check_feasible(s.resources, task=s.name)
        known = partition(self.platform, self.pools)
        for s in self.task_sets:
            if s.pool is not None and s.pool not in known:
                raise SpecError(f"workflow {self.name!r}: task set {s.name!r} draws on pool "
                                f"{s.pool!r}, which is not one of its pools {sorted(known)}")
        self.topological("barrier")   # raise on a cycle
        self.topological("async")

    def task_set(self, name: str) -> TaskSet:
        for s in self.task_sets:
            if s.name == name:
                return s
        raise SpecError(f"workflow {self.name!r}: no task set named {name!r}")

    def topological(self, mode: ModeName | None = None) -> tuple[TaskSet, ...]:
        """Task sets with every set after the sets it depends on in ``mode`` (default: the
        workflow's); ties keep definition order."""
        mode = mode or self.mode
        by_name = {s.name: s for s in self.task_sets}
        state: dict[str, int] = {}
        order: list[TaskSet] = []

        def visit(s: TaskSet, path: list[str]) -> None:
            st = state.get(s.name)
            if st == 2:
                return
            if st == 1:
                cycle = " -> ".join([*path[path.index(s.name):], s.name])
                raise SpecError(f"workflow {self.name!r}: dependency cycle {cycle} ({mode} mode)")
            state[s.name] = 1
            for d in s.deps(mode):
                visit(by_name[d], [*path, s.name])
            state[s.name] = 2
            order.append(s)

        for s in self.task_sets:
            visit(s, [])
        return tuple(order)

    def levels(self, mode: ModeName | None = None) -> dict[str, int]:
        """Level of each task set in ``mode``: the longest path, in edges, from a source."""
        mode = mode or self.mode
        level: dict[str, int] = {}
        for s in self.topological(mode):
            level[s.name] = max((level[d] + 1 for d in s.deps(mode)), default=0)
        return level

    def expand(self, *, mode: ModeName | None = None, seed: int = 0,
               time_scale: float | None = None) -> list[WorkflowTask]:
        """The workflow's tasks for ``mode`` (default: the workflow's), each set's tasks after
        the sets it depends on, durations drawn with ``random.Random(seed)`` (in definition
        order of the sets, so both modes draw the same durations) and multiplied by
        ``time_scale`` (default: the workflow's). Task ``i`` depends only on earlier tasks."""
        mode = mode or self.mode
        scale = self.time_scale if time_scale is None else time_scale
        rng = random.Random(seed)
        drawn = {s.name: [None if s.duration is None else s.duration.sample(rng) * scale
                          for _ in range(s.count)] for s in self.task_sets}
        out: list[WorkflowTask] = []
        index: dict[str, tuple[int, ...]] = {}
        for s in self.topological(mode):
            deps = tuple(i for d in s.deps(mode) for i in index[d])
            mine = []
            for k in range(s.count):
                duration = drawn[s.name][k]
                work = s.work if s.work is not None else Mock(seconds=duration or 0.0)
                spec = TaskSpec(name=f"{s.name}.{k}" if s.count > 1 else s.name, work=work,
                                kind=s.kind, resources=s.resources, priority=s.priority,
                                estimate=None if s.duration is None else s.duration.mean * scale,
                                pool=s.pool, features=s.features)
                mine.append(len(out))
                out.append(WorkflowTask(spec=spec, deps=deps, task_set=s.name,
                                        duration=duration))
            index[s.name] = tuple(mine)
        return out
