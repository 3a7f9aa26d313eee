"""The simulator predicts the placements the runtime makes on the allocation's platform.

Each level of the DAG depends on every task of the level before, so every placement is made
on a platform whose earlier tasks have all ended: the decisions do not depend on how long a
job step takes, only on the scheduler. The runtime runs real job steps (one of them a 2-rank
step across both nodes); the simulator runs the same specs on the same platform.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import tandem
from tandem import Platform, Resources
from tandem.core.actions import Launch
from tandem.sim import run as simulate
from tandem.spec import TaskSpec
from tandem.spec.task import Executable
from tandem.trace import Instrument

LEVELS = [
    [Resources(cores=1, gpus=1), Resources(cores=1, gpus=1), Resources(cores=2)],
    [Resources(ranks=2, cores=2)],
    [Resources(cores=1), Resources(cores=1, gpus=2), Resources(cores=1, gpus=1),
     Resources(cores=1)],
]


class Launches(Instrument):
    def __init__(self) -> None:
        self.placed: dict[int, Any] = {}

    def task_launched(self, launch: Launch, now: float) -> None:
        self.placed[launch.task_id] = tuple((s.node, s.cores, s.gpus)
                                            for s in launch.placement.slots)


def scenario() -> tuple[list[TaskSpec], list[tuple[int, ...]]]:
    specs: list[TaskSpec] = []
    deps: list[tuple[int, ...]] = []
    before: tuple[int, ...] = ()
    for level, requests in enumerate(LEVELS):
        ids = []
        for i, r in enumerate(requests):
            ids.append(len(specs))
            specs.append(TaskSpec(name=f"l{level}t{i}", work=Executable(argv=("true",)),
                                  resources=r, estimate=1.0))
            deps.append(before)
        before = tuple(ids)
    return specs, deps


def test_simulated_placements_are_the_runtimes_on_the_allocation(in_job: str,
                                                                 tmp_path: Path) -> None:
    platform = Platform.from_slurm(in_job)
    specs, deps = scenario()
    runtime = Launches()

    async def main() -> None:
        async with tandem.open_session(platform, run_dir=tmp_path,
                                       instruments=[runtime]) as s:
            futures: list[tandem.TaskFuture] = []
            for spec, d in zip(specs, deps, strict=True):
                futures.append(s.submit_spec(spec, after=[futures[i] for i in d]))
            await s.wait_all()
            assert all(f.state is tandem.TaskState.DONE for f in futures)

    asyncio.run(asyncio.wait_for(main(), 180))
    predicted = Launches()
    simulate(platform, specs, deps, [1.0] * len(specs), instruments=[predicted])
    assert predicted.placed == runtime.placed
    assert {node for slots in runtime.placed.values() for node, _, _ in slots} == {"n1", "n2"}
    assert len(runtime.placed[3]) == 2       # the 2-rank step spans both nodes
