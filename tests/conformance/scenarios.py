"""Conformance scenarios: the same tasks, durations and policy for the runtime and the simulator.

Durations are in *units*; a driver runs them at ``scale`` seconds per unit. Every scenario is
designed so that no two tasks end within ``MIN_GAP`` units of each other (checked on the
simulation by the tests), so a few milliseconds of real-time jitter cannot reorder events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tandem.core.policy import Mode, Order, Policy
from tandem.spec import Platform, Quota, Resources, TaskSpec
from tandem.spec.task import Mock
from tandem.spec.workflow import Duration, TaskSet, Workflow
from tests.paper import slide

MIN_GAP = 5.0
SCENARIO_SCALE = 0.002   # seconds per unit (timeouts are in seconds in the specs)
TIMEOUT_UNITS = 32


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    platform: Platform
    policy: Policy
    specs: tuple[TaskSpec, ...]
    deps: tuple[tuple[int, ...], ...]
    durations: tuple[float, ...]           # units
    fails: frozenset[int] = field(default_factory=frozenset)
    pools: Mapping[str, Quota] | None = None


def from_workflow(name: str, wf: Workflow, mode: str, policy: Policy | None = None, *,
                  spread: float = 0.0) -> Scenario:
    """Expand ``wf`` (durations in units, ``time_scale`` 1) in ``mode``; task ``k`` of a set
    runs ``spread * k`` units longer than the set's mean, so a set's tasks end apart."""
    tasks = wf.expand(mode=mode, seed=0)  # type: ignore[arg-type]
    index: dict[str, int] = {}
    durations = []
    for t in tasks:
        k = index[t.task_set] = index.get(t.task_set, -1) + 1
        durations.append((t.duration or 0.0) + spread * k)
    pol = policy or Policy()
    return Scenario(name=name, platform=wf.platform,
                    policy=Policy(mode=Mode(mode), order=pol.order, fit=pol.fit,
                                  backfill=pol.backfill),
                    specs=tuple(t.spec for t in tasks), deps=tuple(t.deps for t in tasks),
                    durations=tuple(durations))


def _set(name: str, d: float, *, count: int = 1, cores: int = 1, gpus: int = 0,
         deps: tuple[str, ...] = (), priority: int = 0) -> TaskSet:
    return TaskSet(name=name, count=count, resources=Resources(cores=cores, gpus=gpus),
                   duration=Duration(mean=d), depends_on=deps, priority=priority)


def slide_units() -> Workflow:
    """The slide DAG's shape with distinct durations (A forks into B-C-D and E-F)."""
    base = slide()
    means = {"A": 10, "B": 20, "C": 40, "D": 40, "E": 30, "F": 80}
    sets = tuple(TaskSet(name=s.name, depends_on=s.depends_on, resources=s.resources,
                         duration=Duration(mean=means[s.name])) for s in base.task_sets)
    return Workflow(name="slide", platform=base.platform, task_sets=sets)


def dg2_small() -> Workflow:
    """DG2 divided by 16 in counts, on two nodes of 6 cores and 3 GPUs; durations / 10."""
    return Workflow(name="dg2-small", platform=Platform.uniform(2, cores=6, gpus=3), task_sets=(
        _set("T0", 38, count=6, gpus=1),
        _set("T1T2", 15, count=2, cores=3, deps=("T0",)),
        _set("T3T6", 77, count=6, gpus=1, deps=("T1T2",)),
        _set("T4T5", 23, count=2, deps=("T1T2",)),
        _set("T7", 35, count=2, deps=("T4T5",)),
    ))


def gpu_contention() -> Workflow:
    """More GPU work than GPUs: trainings queue for the two GPUs, CPU work fills around."""
    return Workflow(name="gpu", platform=Platform.uniform(1, cores=4, gpus=2), task_sets=(
        _set("prep", 12, count=2, cores=2),
        _set("train", 37, count=3, gpus=1, deps=("prep",)),
        _set("infer", 17, count=2, cores=1, gpus=1, deps=("train",)),
        _set("analyse", 25, count=3, cores=1, deps=("prep",)),
    ))


def priorities() -> Workflow:
    """Six one-core tasks on two cores; later sets have higher priorities."""
    return Workflow(name="prio", platform=Platform.uniform(1, cores=2), task_sets=(
        _set("low", 20, count=2),
        _set("mid", 27, count=2, priority=1),
        _set("high", 33, count=2, priority=2),
    ))


def failure() -> Scenario:
    """A chain whose middle task fails (after one retry), beside an independent chain: the
    failure propagates to the chain's tail only. A task that runs past its timeout is killed
    and fails its dependent."""
    def spec(name: str, retries: int = 0, gpus: int = 0, timeout: float | None = None
             ) -> TaskSpec:
        return TaskSpec(name=name, work=Mock(seconds=0), resources=Resources(gpus=gpus),
                        retries=retries, timeout=timeout)
    specs = (spec("a"), spec("b", retries=1), spec("c"), spec("d"), spec("x"), spec("y"),
             spec("z", gpus=1), spec("slow", timeout=TIMEOUT_UNITS * SCENARIO_SCALE),
             spec("after-slow"))
    deps: tuple[tuple[int, ...], ...] = ((), (0,), (1,), (2,), (), (4,), (1, 5), (), (7,))
    return Scenario(name="failure", platform=Platform.uniform(1, cores=3, gpus=1),
                    policy=Policy(order=Order.FIFO), specs=specs, deps=deps,
                    durations=(10, 17, 5, 5, 24, 14, 9, 100, 5), fails=frozenset({1}))


def pools() -> Scenario:
    """Resource pools: "md" may hold 2 cores and "ml" 1 core and the GPU; the default pool
    gets the last core. Each pool's tasks queue for its own quota while cores of other pools
    are idle, and a GPU task waits for ml's core."""
    def spec(name: str, pool: str | None, cores: int = 1, gpus: int = 0) -> TaskSpec:
        return TaskSpec(name=name, work=Mock(seconds=0), pool=pool,
                        resources=Resources(cores=cores, gpus=gpus))
    specs = (spec("md0", "md"), spec("md1", "md"), spec("md2", "md"), spec("md3", "md"),
             spec("train", "ml", gpus=1), spec("infer", "ml"), spec("x", None),
             spec("big", "md", cores=2))
    deps: tuple[tuple[int, ...], ...] = ((), (), (), (), (), (4,), (), (0,))
    return Scenario(name="pools", platform=Platform.uniform(1, cores=4, gpus=1),
                    policy=Policy(order=Order.FIFO), specs=specs, deps=deps,
                    durations=(10, 17, 29, 41, 23, 11, 47, 12),
                    pools={"md": Quota(cores=2), "ml": Quota(cores=1, gpus=1)})


def scenarios() -> list[Scenario]:
    out = []
    for mode in ("async", "barrier"):
        out.append(from_workflow(f"slide-{mode}", slide_units(), mode))
        out.append(from_workflow(f"dg2-{mode}", dg2_small(), mode, spread=6.0))
    out.append(from_workflow("gpu-contention", gpu_contention(), "async", spread=7.0))
    out.append(from_workflow("gpu-contention-fifo-nobackfill", gpu_contention(), "async",
                             Policy(order=Order.FIFO, backfill=False), spread=7.0))
    out.append(from_workflow("priorities", priorities(), "async", Policy(order=Order.PRIORITY),
                             spread=6.0))
    out.append(failure())
    out.append(pools())
    return out
