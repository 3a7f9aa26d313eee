"""Tests of tandem.backends.placement, and of the rule both local backends follow with it: a
task placed on no cores (``cores=0``) is pinned to the request's shared cores, never to the
whole affinity mask while other tasks hold cores."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tandem.backends.base import LaunchRequest
from tandem.backends.functions import FunctionBackend
from tandem.backends.placement import pin_cores, placement_env
from tandem.backends.process import ProcessBackend
from tandem.core.values import Placement, Slot
from tandem.spec.task import Executable, FunctionCall
from tests.backends.recorder import Recorder

TIMEOUT = 60.0
NO_CORES = Placement(slots=(Slot(node="n", cores=(), gpus=("0",)),))
CORES01 = Placement(slots=(Slot(node="n", cores=(0, 1)),))

needs_two_cores = pytest.mark.skipif(not {0, 1} <= os.sched_getaffinity(0),
                                     reason="needs cores 0 and 1")


def cpus_allowed() -> set[int]:
    """This process's ``Cpus_allowed_list`` (from /proc, as a task would read it)."""
    with open("/proc/self/status") as f:
        text = next(line for line in f if line.startswith("Cpus_allowed_list:"))
    return parse_cpus(text.split(":", 1)[1])


def parse_cpus(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def environment(name: str) -> str | None:
    return os.environ.get(name)


# -------------------------------------------------------------------------- pure functions


def test_pin_cores_are_the_placed_cores_else_the_shared_ones() -> None:
    assert pin_cores(CORES01) == (0, 1)
    assert pin_cores(CORES01, (1,)) == (0, 1)  # a task holding cores never shares
    assert pin_cores(NO_CORES, (1,)) == (1,)
    assert pin_cores(NO_CORES) == ()           # no shared cores given: nothing to pin to


def test_environment_of_a_task_without_cores() -> None:
    env = placement_env(NO_CORES, (0, 1))
    assert env["CUDA_VISIBLE_DEVICES"] == "0"
    assert env["OMP_NUM_THREADS"] == "2"       # the shared cores it may run on
    assert env["TANDEM_CORES"] == ""           # it holds none
    assert placement_env(NO_CORES)["OMP_NUM_THREADS"] == "1"
    assert placement_env(CORES01, (1,))["OMP_NUM_THREADS"] == "2"


# ------------------------------------------------------------------------ process backend


def exe_request(tmp: Path, task_id: int, shared: tuple[int, ...]) -> LaunchRequest:
    cmd = "grep Cpus_allowed_list /proc/self/status; echo OMP=$OMP_NUM_THREADS"
    return LaunchRequest(task_id=task_id, name=f"t{task_id}", kind="task",
                         work=Executable(argv=(cmd,), shell=True), placement=NO_CORES,
                         workdir=str(tmp / f"t{task_id}"), shared_cores=shared)


@needs_two_cores
def test_executable_without_cores_is_pinned_to_the_shared_cores(tmp_path: Path) -> None:
    async def main() -> None:
        backend = ProcessBackend()
        rec = Recorder(TIMEOUT)
        await backend.start(rec)
        try:
            backend.launch(exe_request(tmp_path, 1, (0,)))
            backend.launch(exe_request(tmp_path, 2, (1,)))
            backend.launch(exe_request(tmp_path, 3, (0, 1)))
            for t in (1, 2, 3):
                assert (await rec.wait_exited(t)).failure is None
        finally:
            await asyncio.wait_for(backend.shutdown(), TIMEOUT)

    asyncio.run(main())

    def seen(t: int) -> tuple[set[int], str]:
        allowed, omp = (tmp_path / f"t{t}" / "stdout").read_text().splitlines()
        return parse_cpus(allowed.split(":", 1)[1]), omp

    assert seen(1) == ({0}, "OMP=1")
    assert seen(2) == ({1}, "OMP=1")
    assert seen(3) == ({0, 1}, "OMP=2")


# ----------------------------------------------------------------------- function backend


@needs_two_cores
def test_function_without_cores_is_pinned_to_the_shared_cores(tmp_path: Path) -> None:
    results: dict[int, object] = {}

    async def main() -> None:
        backend = FunctionBackend(tmp_path / "workers", prespawn=1, max_idle=1)
        rec = Recorder(TIMEOUT)
        await asyncio.wait_for(backend.start(rec), TIMEOUT)
        calls = [
            (1, NO_CORES, (0,), cpus_allowed, ()),
            (2, NO_CORES, (1,), cpus_allowed, ()),             # same worker, re-pinned
            (3, NO_CORES, (1,), environment, ("OMP_NUM_THREADS",)),
            (4, CORES01, (1,), cpus_allowed, ()),              # holds cores: pinned to them
            (5, NO_CORES, (0,), cpus_allowed, ()),
        ]
        try:
            for task_id, placement, shared, fn, args in calls:
                backend.launch(LaunchRequest(
                    task_id=task_id, name=f"t{task_id}", kind="task",
                    work=FunctionCall(fn=fn, args=args), placement=placement,
                    workdir="/nonexistent", shared_cores=shared))
                outcome = await rec.wait_exited(task_id)
                assert outcome.failure is None, outcome.failure
                results[task_id] = outcome.value
        finally:
            await asyncio.wait_for(backend.shutdown(), TIMEOUT)

    asyncio.run(main())
    assert results == {1: {0}, 2: {1}, 3: "1", 4: {0, 1}, 5: {0}}
