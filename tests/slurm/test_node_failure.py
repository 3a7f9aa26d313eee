"""A node that fails under a running campaign: its tasks fail with that cause, and a retry
runs on the node left (the test stops n2's slurmd by pid and starts it again)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem import Platform, TaskFailed, open_session
from tandem.spec.platform import Node
from tests.slurm.cluster import allocation, inside

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm.sh"


@pytest.fixture
def n2_down() -> Iterator[str]:
    """An allocation of n1 and n2 that survives a node failure (--no-kill), with n2's slurmd
    stopped for the test and started again after it."""
    with allocation("-N2", "--ntasks-per-node=2", "--mem=200", "--no-kill",
                    "-J", "tandem-node-failure") as job, inside(job):
        subprocess.run(["bash", str(SCRIPT), "stop-node", "n2"], check=True, timeout=60)
        try:
            yield job
        finally:
            subprocess.run(["bash", str(SCRIPT), "start-node", "n2"], check=True, timeout=60)


def test_tasks_on_a_failed_node_fail_with_that_cause_and_a_retry_runs_elsewhere(
        n2_down: str, tmp_path: Path) -> None:
    # n2 first, so that both tasks are placed there; n1 has one core
    platform = Platform(nodes=(Node(name="n2", cores=(0, 1)), Node(name="n1", cores=(0,))),
                        slurm_job=n2_down, name="n2-first")
    probe = "echo $SLURMD_NODENAME > $TANDEM_TASK_DIR/where-$TANDEM_TASK_NAME"

    async def main() -> tuple[Any, BaseException | None, int]:
        async with open_session(platform, run_dir=tmp_path) as s:
            once = s.execute(probe, shell=True, name="once")
            twice = s.execute(probe, shell=True, name="twice", retries=1)
            error, _ = await asyncio.gather(once, twice, return_exceptions=True)
            return twice.record.placement, error, twice.record.attempts

    placement, error, attempts = asyncio.run(asyncio.wait_for(main(), 240))
    assert isinstance(error, TaskFailed)
    assert "node 'n2' failed or cannot be reached" in str(error)
    assert placement.node == "n1" and attempts == 2
    assert [p.read_text().split() for p in tmp_path.rglob("where-*")] == [["n1"]]
