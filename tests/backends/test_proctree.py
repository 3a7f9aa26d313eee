"""Tests of tandem.backends.proctree (process trees through psutil and pidfds), and of the
process backend's pause and resume of a whole tree with it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tandem.backends import proctree
from tandem.backends.base import LaunchRequest
from tandem.backends.process import ProcessBackend
from tandem.core.values import Placement, Slot
from tandem.spec.task import Executable
from tests.backends.recorder import Recorder

TIMEOUT = 30.0
# a shell with a child in its group and a child that left it (setsid); it prints their pids
SCRIPT = "sleep 100 & echo $!; setsid sleep 100 & echo $!; echo ready; wait"


@pytest.fixture
def shell() -> Iterator[tuple[int, int, int]]:
    """(leader, child in its group, child that left it), all alive; all killed afterwards."""
    leader = subprocess.Popen(["sh", "-c", SCRIPT], stdout=subprocess.PIPE,
                              process_group=0, text=True)
    assert leader.stdout is not None
    lines = [leader.stdout.readline().strip() for _ in range(3)]
    assert lines[2] == "ready"
    kid, escaped = int(lines[0]), int(lines[1])
    try:
        # "ready" may come before the forked shell has called setsid
        eventually(lambda: os.getpgid(escaped) != leader.pid, "the setsid child left the group")
        yield leader.pid, kid, escaped
    finally:
        proctree.signal_all(proctree.tree(leader.pid), signal.SIGKILL)
        leader.wait()
        leader.stdout.close()


def pids(procs: list[psutil.Process]) -> set[int]:
    return {p.pid for p in procs}


def eventually(check: Callable[[], bool], what: str) -> None:
    """Wait (bounded short retries) until ``check()`` holds: a signal lands within moments."""
    for _ in range(3000):
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"never: {what}")


def test_descendants_include_those_that_left_the_group(shell: tuple[int, int, int]) -> None:
    leader, kid, escaped = shell
    assert pids(proctree.descendants(leader)) == {kid, escaped}
    assert kid in pids(proctree.descendants(os.getpid()))
    assert proctree.descendants(kid) == []


def test_group_members_and_tree(shell: tuple[int, int, int]) -> None:
    leader, kid, escaped = shell
    assert pids(proctree.group_members(leader)) == {leader, kid}
    assert pids(proctree.tree(leader)) == {leader, kid, escaped}
    assert pids(proctree.outside_group(proctree.tree(leader), leader)) == {escaped}


def test_a_process_that_is_gone_is_skipped() -> None:
    child = subprocess.Popen(["true"])
    proc = psutil.Process(child.pid)
    child.wait()   # reaped: its pid may now belong to anyone
    assert proctree.descendants(child.pid) == []
    assert proctree.tree(child.pid) == []
    assert proctree.hold([proc]) == {}
    proctree.signal_all([proc], signal.SIGKILL)   # nothing to signal, nothing raised
    proctree.pin([proc], [0])
    assert proctree.status(child.pid) == ""


def test_a_reused_pid_is_never_held(shell: tuple[int, int, int]) -> None:
    leader, kid, _ = shell

    class Reused(psutil.Process):
        """The listed process is gone and another one got its pid."""

        def is_running(self) -> bool:
            return False

    fds_before = len(os.listdir("/proc/self/fd"))
    assert proctree.hold([Reused(kid)]) == {}
    proctree.signal_all([Reused(kid)], signal.SIGKILL)
    assert len(os.listdir("/proc/self/fd")) == fds_before   # its pidfd was closed
    assert proctree.status(kid) not in ("", psutil.STATUS_ZOMBIE)
    held = proctree.hold(proctree.descendants(leader))
    try:
        assert set(held.values()) == set(pids(proctree.descendants(leader)))
    finally:
        for fd in held:
            os.close(fd)


def test_signal_all_and_status(shell: tuple[int, int, int]) -> None:
    _, kid, escaped = shell
    procs = [psutil.Process(kid), psutil.Process(escaped)]
    proctree.signal_all(procs, signal.SIGSTOP)
    eventually(lambda: all(proctree.status(p.pid) == psutil.STATUS_STOPPED for p in procs),
               "both stopped")
    proctree.signal_all(procs, signal.SIGCONT)
    eventually(lambda: all(proctree.status(p.pid) != psutil.STATUS_STOPPED for p in procs),
               "both continued")


@pytest.mark.skipif(not {0, 1} <= os.sched_getaffinity(0), reason="needs cores 0 and 1")
def test_pin_every_thread(shell: tuple[int, int, int]) -> None:
    leader, kid, escaped = shell
    proctree.pin(proctree.tree(leader), [1])
    for pid in (leader, kid, escaped):
        assert os.sched_getaffinity(pid) == {1}


@pytest.mark.skipif(not {0, 1} <= os.sched_getaffinity(0), reason="needs cores 0 and 1")
def test_pause_and_resume_reach_the_whole_tree(tmp_path: Path) -> None:
    on0 = Placement(slots=(Slot(node="n", cores=(0,)),))
    on1 = Placement(slots=(Slot(node="n", cores=(1,)),))

    async def main() -> None:
        backend = ProcessBackend(kill_grace=0.5)
        rec = Recorder(TIMEOUT)
        await backend.start(rec)
        try:
            backend.launch(LaunchRequest(task_id=1, name="t1", kind="task",
                                         work=Executable(argv=("echo $$; " + SCRIPT,),
                                                         shell=True),
                                         placement=on0, workdir=str(tmp_path / "t1")))
            await rec.wait_started(1)
            out = tmp_path / "t1" / "stdout"
            await asyncio.to_thread(eventually, lambda: out.read_text().endswith("ready\n"),
                                    "the tree is up")
            tree = [int(x) for x in out.read_text().split()[:3]]  # leader, kid, escaped
            backend.pause(1)
            await asyncio.to_thread(eventually, lambda: all(
                proctree.status(p) == psutil.STATUS_STOPPED for p in tree), "all stopped")
            backend.resume(1, on1)
            await asyncio.to_thread(eventually, lambda: all(
                proctree.status(p) != psutil.STATUS_STOPPED for p in tree), "all continued")
            assert all(os.sched_getaffinity(p) == {1} for p in tree)
            backend.kill(1)
            assert (await rec.wait_exited(1)).failure is not None
            assert all(proctree.status(p) in ("", psutil.STATUS_ZOMBIE) for p in tree)
        finally:
            await asyncio.wait_for(backend.shutdown(), TIMEOUT)

    asyncio.run(main())
