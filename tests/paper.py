"""The paper's workflows built with the spec classes (research/paper-model.md 1.7, 2.2, 2.3).

Shared by the model, simulator and conformance tests. Durations are the tables' means, in
seconds; requests are per task (hardware threads on Summit count as cores).
"""

from __future__ import annotations

from tandem.spec import Platform, Resources
from tandem.spec.workflow import Duration, TaskSet, Workflow


def summit(nodes: int = 16) -> Platform:
    """The paper's pilot: 16 Summit nodes of 168 hardware threads and 6 GPUs."""
    return Platform.uniform(nodes, cores=168, gpus=6)


def aggregate_summit() -> Platform:
    """The same capacity as one pool (2688 cores, 96 GPUs): the paper's aggregate model."""
    return Platform.uniform(1, cores=16 * 168, gpus=16 * 6)


def _set(name: str, d: float, *, count: int = 1, cores: int = 1, gpus: int = 0,
         deps: tuple[str, ...] = (), async_deps: tuple[str, ...] | None = None,
         kind: str = "task", priority: int = 0) -> TaskSet:
    return TaskSet(name=name, count=count, kind=kind, resources=Resources(cores=cores, gpus=gpus),
                   duration=Duration(mean=d), depends_on=deps, async_depends_on=async_deps,
                   priority=priority)


def slide(d_f: float = 4000.0, *, time_scale: float = 1.0) -> Workflow:
    """Section 1.7: A forks into B -> C -> D and E -> F; one one-core task per set."""
    return Workflow(name="slide", platform=Platform.uniform(1, cores=2), time_scale=time_scale,
                    task_sets=(
                        _set("A", 500),
                        _set("B", 1000, deps=("A",)),
                        _set("C", 2000, deps=("B",)),
                        _set("D", 2000, deps=("C",)),
                        _set("E", 1000, deps=("A",)),
                        _set("F", d_f, deps=("E",)),
                    ))


DG = {   # set: (count, cores, gpus, DG1 mean, DG2 count, DG2 cores, DG2 gpus, DG2 mean)
    "T0": ((96, 16, 1, 766.4), (96, 16, 1, 384.6)),
    "T1T2": ((32, 40, 0, 234.9), (32, 40, 0, 153.8)),
    "T3T6": ((16, 4, 0, 124.7), (96, 4, 1, 769.2)),
    "T4T5": ((16, 4, 0, 152.6), (16, 4, 0, 230.8)),
    "T7": ((96, 4, 1, 721.8), (16, 4, 0, 461.5)),
}
DG_DEPS = {"T0": (), "T1T2": ("T0",), "T3T6": ("T1T2",), "T4T5": ("T1T2",), "T7": ("T4T5",)}


def dg(which: int, *, platform: Platform | None = None, time_scale: float = 1.0,
       t7_gpus: int | None = None) -> Workflow:
    """DG1 or DG2 (section 2.2). ``t7_gpus`` overrides T7's GPUs (experiment A5)."""
    sets = []
    for name, rows in DG.items():
        count, cores, gpus, d = rows[which - 1]
        if name == "T7" and t7_gpus is not None:
            gpus = t7_gpus
        sets.append(_set(name, d, count=count, cores=cores, gpus=gpus, deps=DG_DEPS[name]))
    return Workflow(name=f"DG{which}", platform=platform or summit(), task_sets=tuple(sets),
                    time_scale=time_scale)


DDMD_STAGES = (   # stage, count, cores, gpus, duration
    ("S", 96, 4, 1, 340.0), ("A", 16, 32, 0, 85.0), ("M", 1, 4, 1, 62.5),
    ("I", 96, 16, 1, 37.5),
)


def ddmd(*, platform: Platform | None = None, iterations: int = 3,
         time_scale: float = 1.0) -> Workflow:
    """The DDMD mock (section 2.3). Barrier mode: one pipeline S1 A1 M1 I1 S2 ... I3.

    Async mode, as run in the paper: phase 1 is one stage of 192 simulations (two GPU waves,
    written S1 -> S2), phase 2 runs S3 -> A3 -> M3 -> I3 beside A1 -> M1 -> I1 and
    A2 -> M2 -> I2, all after phase 1 (A1 waits for S1 and S2)."""
    sets = []
    prev: str | None = None
    for k in range(1, iterations + 1):
        for stage, count, cores, gpus, d in DDMD_STAGES:
            name = f"{stage}{k}"
            deps = (prev,) if prev else ()
            async_deps: tuple[str, ...] | None = None
            if stage == "S":
                async_deps = (f"S{k - 1}",) if k > 1 else ()
            elif stage == "A" and k < iterations:
                async_deps = tuple(f"S{j}" for j in range(1, iterations))
            sets.append(_set(name, d, count=count, cores=cores, gpus=gpus, deps=deps,
                             async_deps=async_deps, kind=stage))
            prev = name
    return Workflow(name="ddmd", platform=platform or summit(), task_sets=tuple(sets),
                    time_scale=time_scale)
