"""The Dask backend with a real scheduler on 127.0.0.1 and real pinned workers, through
sessions."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest

import tandem
from tandem import Platform, TaskCancelled, TaskFailed
from tandem.backends.dask_workers import LocalStarter, SlurmStarter
from tandem.core.values import FailureKind
from tests.procs import wait_until

pytest.importorskip("distributed")
from tandem.backends.dask import DaskBackend

pytestmark = pytest.mark.skipif(not {0, 1} <= os.sched_getaffinity(0),
                                reason="needs cores 0 and 1")


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 180))


def affinity() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def gpus_seen() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")


def boom(x: int) -> None:
    raise ValueError(f"bad input {x}")


def block(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(3600)


def pid() -> int:
    return os.getpid()


async def twice(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def test_tasks_run_on_exactly_their_placed_core(tmp_path: Path) -> None:
    backend = DaskBackend(log_dir=tmp_path / "dask")

    async def main() -> None:
        async with tandem.open_session(Platform.local(), run_dir=tmp_path / "run",
                                       backends=[backend]) as s:
            assert backend.address is not None
            assert backend.address.startswith("tcp://127.0.0.1:")
            a = s.submit(affinity, cores=1)
            b = s.submit(affinity, cores=1)
            got = [await a, await b]
            placed = [list(f.record.placement.cores) for f in (a, b)]  # type: ignore[union-attr]
            assert got == placed
            assert sorted(c for p in placed for c in p) == [0, 1]   # two at once: both cores
            assert await s.submit(twice, 21, cores=1) == 42   # a coroutine function
    run(main())


def test_gpu_task_sees_exactly_its_gpu(tmp_path: Path) -> None:
    backend = DaskBackend(log_dir=tmp_path / "dask")

    async def main() -> None:
        async with tandem.open_session(Platform.local(virtual_gpus=2), run_dir=tmp_path / "r",
                                       backends=[backend]) as s:
            futs = [s.submit(gpus_seen, cores=1, gpus=1) for _ in range(2)]
            seen = [await f for f in futs]
            placed = [",".join(f.record.placement.gpus) for f in futs]  # type: ignore[union-attr]
            assert seen == placed
            assert sorted(seen) == ["0", "1"]
    run(main())


def test_exception_comes_back_with_its_traceback(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(Platform.local(), run_dir=tmp_path / "r",
                                       backends=[DaskBackend(log_dir=tmp_path / "d")]) as s:
            f = s.submit(boom, 42, name="exploder")
            with pytest.raises(TaskFailed) as e:
                await f
            assert "ValueError: bad input 42" in str(e.value)
            assert 'raise ValueError(f"bad input {x}")' in e.value.remote_traceback
            assert "in boom" in e.value.remote_traceback
            assert f.record.failure is not None
            assert f.record.failure.kind is FailureKind.EXCEPTION
    run(main())


def test_cancel_ends_the_worker_and_the_next_task_runs(tmp_path: Path) -> None:
    backend = DaskBackend(log_dir=tmp_path / "d", kill_grace=1.0)
    pid_file = tmp_path / "pid"

    async def main() -> None:
        async with tandem.open_session(Platform.local(cores=[0]), run_dir=tmp_path / "r",
                                       backends=[backend]) as s:
            f = s.submit(block, str(pid_file), cores=1)
            await wait_until(lambda: pid_file.exists() and pid_file.read_text(), 60,
                             "the task to write its pid")
            worker = int(pid_file.read_text())
            assert worker in backend.worker_pids()
            f.cancel()
            with pytest.raises(TaskCancelled):
                await f
            assert not psutil.pid_exists(worker)
            assert worker not in backend.worker_pids()
            after = await s.submit(pid, cores=1)   # same core: a new worker
            assert after != worker and psutil.pid_exists(after)
    run(main())


def test_no_process_outlives_the_session(tmp_path: Path) -> None:
    backend = DaskBackend(log_dir=tmp_path / "d")
    pids: list[int] = []

    async def main() -> None:
        async with tandem.open_session(Platform.local(), run_dir=tmp_path / "r",
                                       backends=[backend]) as s:
            futs = [s.submit(pid, cores=1) for _ in range(3)]
            for f in futs:
                await f
            scheduler = backend.scheduler_pid()
            assert scheduler is not None and psutil.pid_exists(scheduler)
            pids.extend([scheduler, *backend.worker_pids()])
            assert len(pids) >= 2
    run(main())
    assert [p for p in pids if psutil.pid_exists(p)] == []
    assert backend.worker_pids() == []


def test_workers_connect_to_a_given_scheduler(tmp_path: Path) -> None:
    owner = DaskBackend(log_dir=tmp_path / "own")

    async def main() -> None:
        async with tandem.open_session(Platform.local(), run_dir=tmp_path / "r1",
                                       backends=[owner]):
            guest = DaskBackend(log_dir=tmp_path / "guest", address=owner.address)
            async with tandem.open_session(Platform.local(), run_dir=tmp_path / "r2",
                                           backends=[guest]) as s:
                f = s.submit(affinity, cores=1)
                assert await f == list(f.record.placement.cores)  # type: ignore[union-attr]
                assert guest.scheduler_pid() is None and guest.address == owner.address
                assert len(guest.worker_pids()) == 1
    run(main())


def test_unreachable_platforms_are_named() -> None:
    assert LocalStarter().unreachable(Platform.uniform(2, cores=1)) is not None
    slurm = SlurmStarter("7", ["n1"])
    assert slurm.unreachable(Platform.uniform(1, cores=1)) is not None
    two = Platform.uniform(2, cores=1)
    why = SlurmStarter("7", [n.name for n in two.nodes]).unreachable(two)
    assert why is None


def where() -> tuple[str, list[int], str]:
    return os.environ.get("SLURMD_NODENAME", ""), affinity(), gpus_seen()


def test_workers_as_slurm_steps_on_both_nodes(tmp_path: Path) -> None:
    from tests.slurm.cluster import NODES, allocation, inside

    with allocation("-N2", "-n4", "--gres=gpu:2") as job, inside(job):
        platform = Platform.from_slurm()
        backend = DaskBackend(log_dir=tmp_path / "d",
                              starter=SlurmStarter(job, [n.name for n in platform.nodes]))

        async def main() -> None:
            async with tandem.open_session(platform, run_dir=tmp_path / "r",
                                           backends=[backend]) as s:
                futs = [s.submit(where, cores=1, gpus=1) for _ in range(4)]
                got = [await f for f in futs]
                placed = [f.record.placement for f in futs]
                assert got == [(p.node, list(p.cores), ",".join(p.gpus))  # type: ignore[union-attr]
                               for p in placed]
                assert sorted({g[0] for g in got}) == list(NODES)
        run(main())


def test_the_docs_example_runs(tmp_path: Path) -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "dask.md"
    block = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)[0]
    script = tmp_path / "example.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "sum: 6" in out.stdout and "scheduler: tcp://127.0.0.1:" in out.stdout


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class ExitingStarter(LocalStarter):
    """Starts a command that exits before it registers (a broken worker installation)."""

    def command(self, node: str, cores: tuple[int, ...], gpus: tuple[str, ...],
                argv: Sequence[str], env: Mapping[str, str], *,
                name: str) -> tuple[tuple[str, ...], dict[str, str]]:
        return ("sh", "-c", "echo no dask here >&2; exit 3"), dict(env)


def test_a_dead_worker_fails_only_its_task(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(Platform.local(), run_dir=tmp_path / "r",
                                       backends=[DaskBackend(log_dir=tmp_path / "d")]) as s:
            f = s.submit(die, cores=1)
            with pytest.raises(TaskFailed) as e:
                await f
            assert f.record.failure is not None
            assert f.record.failure.kind is FailureKind.WORKER_DIED
            assert "SIGKILL" in str(e.value)
            assert await s.submit(twice, 2, cores=1) == 4
    run(main())


def test_a_worker_that_cannot_start_is_a_launch_failure(tmp_path: Path) -> None:
    backend = DaskBackend(log_dir=tmp_path / "d", starter=ExitingStarter())

    async def main() -> None:
        async with tandem.open_session(Platform.local(), run_dir=tmp_path / "r",
                                       backends=[backend]) as s:
            f = s.submit(pid, cores=1, name="needs-a-worker")
            with pytest.raises(TaskFailed) as e:
                await f
            assert f.record.failure is not None
            assert f.record.failure.kind is FailureKind.LAUNCH
            assert "did not register" in str(e.value) and "exit code 3" in str(e.value)
            assert "no dask here" in str(e.value)
    run(main())
