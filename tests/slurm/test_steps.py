"""Executables and MPI tasks as job steps of a real allocation (the test cluster's n1, n2).

Every task reads back where it ran (``SLURMD_NODENAME``, its ``Cpus_allowed_list``, its
``CUDA_VISIBLE_DEVICES``) and the test compares that with the placement tandem's core chose.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tandem import Platform, Resources, TaskCancelled, TaskFailed, TaskState, open_session
from tandem.backends.process import ProcessBackend
from tandem.backends.srun import Srun
from tandem.spec.platform import Node
from tests.mpi import FLAVOURS, hello_binary
from tests.procs import pid_alive, wait_until

PMI = {"openmpi": "pmix", "mpich": "pmi2"}
PROBE = ('echo "$SLURMD_NODENAME $(grep Cpus_allowed_list /proc/self/status | cut -f2) '
         'gpus=$CUDA_VISIBLE_DEVICES leak=${SLURM_JOB_SENTINEL-none} node=$TANDEM_NODE"')


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 180))


def cores_of(listing: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in listing.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return tuple(out)


def test_the_default_platform_inside_an_allocation_is_the_allocation(in_job: str,
                                                                     tmp_path: Path) -> None:
    async def main() -> Platform:
        async with open_session(run_dir=tmp_path) as s:
            return s.platform

    platform = run(main())
    assert platform.slurm_job == in_job and platform.name == f"slurm-{in_job}"
    assert [(n.name, n.cores, n.gpus, n.memory_mb) for n in platform.nodes] == [
        ("n1", (0, 1), ("0", "1"), 500), ("n2", (0, 1), ("0", "1"), 500)]


def test_executables_run_exactly_where_the_core_placed_them(
        in_job: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_SENTINEL", "leaked")   # as salloc's SLURM_NNODES...
    async def main() -> list[tuple[Any, str]]:
        async with open_session(run_dir=tmp_path) as s:
            fs = [s.execute(PROBE, shell=True, resources=Resources(cores=1, gpus=1),
                            name=f"probe{i}") for i in range(6)]
            results = [await f for f in fs]
            return [(f.record.placement, r.stdout.read_text())
                    for f, r in zip(fs, results, strict=True)]

    seen = run(main())
    for placement, out in seen:
        node, cpus, gpus, nnodes, tnode = out.split()
        slot = placement.slots[0]
        assert (node, cores_of(cpus), gpus) == (slot.node, slot.cores, f"gpus={slot.gpus[0]}")
        assert nnodes == "leak=none"        # the allocation's SLURM_* variables stay out
        assert tnode == f"node={slot.node}"
    assert {p.slots[0].node for p, _ in seen} == {"n1", "n2"}


def test_a_task_pinned_on_n2_core_1_runs_there(in_job: str, tmp_path: Path) -> None:
    platform = Platform(nodes=(Node(name="n2", cores=(1,)),), slurm_job=in_job, name="n2c1")

    async def main() -> str:
        async with open_session(platform, run_dir=tmp_path) as s:
            r = await s.execute(PROBE, shell=True, name="pinned")
            return str(r.stdout.read_text())

    node, cpus, *_ = run(main()).split()
    assert (node, cpus) == ("n2", "1")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_two_mpi_ranks_one_per_node_on_their_placed_cores(in_job: str, tmp_path: Path,
                                                          flavour: str) -> None:
    hello = hello_binary(flavour, tmp_path / "bin")
    # one free core per node: rank 0 on n1 core 1, rank 1 on n2 core 0 (different cores per
    # node: the step binds each rank in its wrapper)
    platform = Platform(nodes=(Node(name="n1", cores=(1,)), Node(name="n2", cores=(0,))),
                        slurm_job=in_job, name="split")
    backend = ProcessBackend(launcher=Srun.of(platform, mpi=PMI[flavour]))

    async def main() -> tuple[Any, str]:
        async with open_session(platform, run_dir=tmp_path / "run", backends=[backend]) as s:
            f = s.execute([str(hello)], resources=Resources(ranks=2, cores=1), name="hello")
            r = await f
            return f.record.placement, r.stdout.read_text()

    placement, out = run(main())
    lines = sorted(out.split())
    ranks = sorted(line for line in out.splitlines() if line.startswith("rank="))
    assert len(ranks) == 2, out
    for i, slot in enumerate(placement.slots):
        cpus = ",".join(map(str, slot.cores))
        assert f"rank={i} size=2 node={slot.node} cpus={cpus}" in ranks, lines
    assert {s.node for s in placement.slots} == {"n1", "n2"}


def test_exit_codes_and_signals_fail_like_local_tasks(in_job: str, tmp_path: Path) -> None:
    async def main() -> tuple[BaseException | None, BaseException | None]:
        async with open_session(run_dir=tmp_path) as s:
            code = s.execute("exit 3", shell=True, name="three")
            killed = s.execute("kill -9 $$", shell=True, name="nine")
            errors = []
            for f in (code, killed):
                try:
                    await f
                    errors.append(None)
                except TaskFailed as e:
                    errors.append(e)
            return errors[0], errors[1]

    three, nine = run(main())
    assert isinstance(three, TaskFailed) and three.exit_code == 3
    assert "exit code 3" in three.stderr_tail      # srun's own line about the rank
    assert isinstance(nine, TaskFailed) and nine.signal == 9


def test_cancelling_a_running_mpi_step_leaves_no_rank(in_job: str, tmp_path: Path) -> None:
    hello = hello_binary("openmpi", tmp_path / "bin")
    platform = Platform.from_slurm(in_job)
    backend = ProcessBackend(launcher=Srun.of(platform, mpi="pmix"), kill_grace=10.0)
    workdir = tmp_path / "ranks"
    workdir.mkdir()

    async def main() -> tuple[TaskState, list[int]]:
        async with open_session(platform, run_dir=tmp_path / "run", backends=[backend]) as s:
            f = s.execute([str(hello), "wait"], cwd=str(workdir),
                          resources=Resources(ranks=2, cores=1), name="blocked")
            pidfiles = [workdir / "pid.0", workdir / "pid.1"]
            await wait_until(lambda: all(p.exists() and p.read_text().strip()
                                         for p in pidfiles), 120, "both ranks to start")
            pids = [int(p.read_text()) for p in pidfiles]
            assert all(pid_alive(p) for p in pids)
            f.cancel("test")
            with pytest.raises(TaskCancelled):
                await f
            return f.state, pids

    state, pids = run(main())
    assert state is TaskState.CANCELLED
    assert not [p for p in pids if pid_alive(p)], "a rank outlived its cancelled step"
    assert os.environ["SLURM_JOB_ID"] == in_job


def test_a_step_slurm_refuses_is_reported_with_slurms_message(in_job: str,
                                                             tmp_path: Path) -> None:
    # more memory than the job holds on n1: Slurm refuses the step at once
    platform = Platform(nodes=(Node(name="n1", cores=(0,), memory_mb=10**6),),
                        slurm_job=in_job, name="claims-too-much")

    async def main() -> BaseException | None:
        async with open_session(platform, run_dir=tmp_path) as s:
            f = s.execute(["true"], memory_mb=10**5, name="greedy")
            try:
                await f
            except TaskFailed as e:
                return e
            return None

    error = run(main())
    assert isinstance(error, TaskFailed)
    assert "srun: error" in error.stderr_tail, error.stderr_tail
