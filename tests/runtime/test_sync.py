"""SyncSession: the session for scripts without asyncio, steering included, on real processes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import tandem
from tandem import Platform, Quota, SpecError, TandemError, TaskCancelled, TaskState
from tandem.trace.records import load_trace
from tests.procs import pid_alive, proc_state

CORES = sorted(os.sched_getaffinity(0))


def plat(n: int) -> Platform:
    if len(CORES) < n:
        pytest.skip(f"needs {n} cores")
    return Platform.local(cores=CORES[:n])


def until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def sleeper(d: Path) -> str:
    return f"echo $$ > {d}/pid.tmp; mv {d}/pid.tmp {d}/pid; exec sleep 30"


def test_pause_resume_and_cancel_a_running_process(tmp_path: Path) -> None:
    with tandem.SyncSession(plat(1), run_dir=tmp_path / "run") as s:
        a = s.execute(sleeper(tmp_path), shell=True, name="a")
        after = s.submit(print, "never", after=[a], name="after")
        until(lambda: (tmp_path / "pid").exists())
        pid = int((tmp_path / "pid").read_text())
        s.pause(a, by="script", reason="look")
        assert s.state(a) is TaskState.PAUSED
        until(lambda: proc_state(pid) == "T")
        s.resume(a, by="script")
        until(lambda: proc_state(pid) in ("S", "R"))
        assert s.state(a) is TaskState.RUNNING
        s.cancel(a, "enough", by="script")
        with pytest.raises(TaskCancelled, match="cancelled by script: .*enough"):
            a.result(timeout=60)
        with pytest.raises(TaskCancelled):
            after.result(timeout=60)
        assert not pid_alive(pid)


def test_priorities_and_pools(tmp_path: Path) -> None:
    with tandem.SyncSession(plat(1), run_dir=tmp_path / "run",
                            pools={"md": Quota(cores=1), "ml": Quota(cores=0)}) as s:
        blocker = s.execute(["sleep", "0.5"], name="blocker", pool="md")
        low = s.execute(["true"], name="low", pool="md")
        high = s.execute(["true"], name="high", pool="md")
        s.set_priority(high, 5, by="script")
        for f in (blocker, low, high):
            f.result(timeout=60)
        assert s.pools()["ml"].quota_cores == 0
        s.move("md", "ml", cores=1, by="script")
        assert s.pools()["ml"].quota_cores == 1
        assert s.pools()["md"].quota_cores == 0
    order = [e.name for e in sorted(load_trace(tmp_path / "run").tasks,
                                    key=lambda t: t.launched or 0.0)]
    assert order == ["blocker", "high", "low"]


def test_steering_names_what_is_wrong(tmp_path: Path) -> None:
    from concurrent.futures import Future

    outsider: Future[None] = Future()
    with tandem.SyncSession(plat(1), run_dir=tmp_path / "run") as s:
        with pytest.raises(SpecError, match="is not a task of this session"):
            s.pause(outsider)
        with pytest.raises(SpecError, match="is not a task of this session"):
            s.state(outsider)
        with pytest.raises(SpecError, match="no resource pools"):
            s.move("a", "b", cores=1)
    with pytest.raises(TandemError, match="not open"):
        s.cancel(outsider)


def test_links_to_dropped_futures_do_not_stay(tmp_path: Path) -> None:
    import gc

    from tandem.backends.mock import MockBackend
    from tandem.spec.task import Mock, TaskSpec

    with tandem.SyncSession(Platform.uniform(1, cores=2), run_dir=tmp_path / "run",
                            backends=[MockBackend()]) as s:
        spec = TaskSpec(name="noop", work=Mock(seconds=0))
        first = s.submit_spec(spec)
        second = s.submit_spec(spec, after=[first])     # a script future stands for its task
        assert second.result(timeout=60) is None and s.links() == 2
        for _ in range(200):
            s.submit_spec(spec).result(timeout=60)
        del first, second
        gc.collect()
        assert s.links() == 0
        kept = s.submit_spec(spec)
        kept.result(timeout=60)
        gc.collect()
        assert s.links() == 1
        assert s.state(kept) is TaskState.DONE


def write_items(name: str, n: int) -> int:
    from tandem.data.stream import writer

    with writer(name) as w:
        for i in range(n):
            w.put(i)
    return n


def read_items(name: str) -> list[object]:
    from tandem.data.stream import reader

    return list(reader(name))


def test_a_stream_is_read_and_written_from_the_script(tmp_path: Path) -> None:
    with tandem.SyncSession(run_dir=tmp_path, journal=False) as s:
        st = s.stream("up", writers=1)
        done = s.submit(write_items, "up", 50)
        assert list(st) == list(range(50))               # to its end, in order
        assert done.result(timeout=60) == 50
        down = s.stream("down", maxsize=4)
        got = s.submit(read_items, "down")
        for x in ["a", "b", "c", "d", "e", "f"]:         # more than it holds: put blocks
            down.put(x)
        down.close()
        assert got.result(timeout=60) == ["a", "b", "c", "d", "e", "f"]
        assert down.stats().ended


def test_a_stream_the_script_never_closed_ends_when_its_block_does(tmp_path: Path) -> None:
    with tandem.SyncSession(run_dir=tmp_path, journal=False) as s:
        s.stream("frames")                               # no writers=, never closed
        got = s.submit(read_items, "frames")
        wrote = s.submit(write_items, "frames", 5)
    assert got.result() == list(range(5)) and wrote.result() == 5
