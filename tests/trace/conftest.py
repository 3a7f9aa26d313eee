"""A real trace, produced once per module by a small session of mock tasks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tandem.runtime.open import open_session
from tandem.spec import Mock, Platform, Resources, TaskSpec


async def _workflow(run_dir: Path) -> None:
    async with open_session(Platform.uniform(1, cores=2, gpus=1), run_dir=run_dir) as s:
        sim_a = s.submit_spec(TaskSpec(name="sim-a", kind="simulation", work=Mock(seconds=0.05)))
        sim_b = s.submit_spec(TaskSpec(name="sim-b", kind="simulation", work=Mock(seconds=0.05)))
        train = s.submit_spec(TaskSpec(name="train", kind="training", work=Mock(seconds=0.05),
                                       resources=Resources(cores=1, gpus=1)),
                              after=[sim_a, sim_b])
        infer = s.submit_spec(TaskSpec(name="infer", kind="inference", work=Mock(seconds=0.05),
                                       resources=Resources(cores=2)), after=[train])
        await infer


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("run")
    asyncio.run(asyncio.wait_for(_workflow(d), 60))
    return d
