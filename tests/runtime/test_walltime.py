"""A session's walltime: deferral on virtual time, a real checkpointing executable preempted
before the end (and continued from its checkpoint by the next session with resume=True), the
summary of what is left, and bad arguments."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import tandem
from tandem.backends.mock import MockBackend
from tandem.core.states import TaskState
from tandem.core.values import FailureKind, Walltime
from tandem.errors import SpecError, TaskCancelled
from tandem.runtime.walltime import WalltimeSummary
from tandem.sim import run_virtual
from tandem.spec import Mock, Platform, Resources, TaskSpec
from tandem.trace.records import load_trace


def mock(name: str, seconds: float, estimate: float | None) -> TaskSpec:
    return TaskSpec(name=name, work=Mock(seconds=seconds), estimate=estimate,
                    resources=Resources(cores=1))


def test_a_six_second_walltime_starts_no_two_second_task_that_cannot_finish(
        tmp_path: Path) -> None:
    async def main() -> tuple[list[tandem.TaskFuture], float, WalltimeSummary | None]:
        loop = asyncio.get_running_loop()
        async with tandem.open_session(Platform.uniform(1, cores=1), run_dir=tmp_path,
                                       backends=[MockBackend()], clock=loop.time,
                                       walltime=6.0, grace=1.0, margin=0.5) as s:
            t0 = s.time()
            futures = [s.submit_spec(mock(f"t{i}", 2.0, 2.0)) for i in range(5)]
            await asyncio.gather(*futures, return_exceptions=True)
        return futures, s.time() - t0, s.walltime

    futures, closed, summary = run_virtual(main())
    # Launch limit 6 - 1 - 0.5 = 4.5: tasks at 0 and 2 end by 4; one at 4 would end at 6.
    assert [f.record.state for f in futures] == [TaskState.DONE] * 2 + [TaskState.CANCELLED] * 3
    for f in futures[2:]:
        rec = f.record
        assert rec.launched is None and rec.failure is not None
        assert rec.failure.kind is FailureKind.WALLTIME and "resume=True" in rec.failure.message
        with pytest.raises(TaskCancelled, match="deferred: it does not fit the remaining"):
            f.result()
    # Nothing else could run: the session closed at 4 s, not at the walltime's end.
    assert round(closed, 6) == 4.0
    assert summary == WalltimeSummary(ends_at=summary.ends_at, ended=False, done=2,
                                      deferred=3, preempted=0, never_started=0, other=0)
    steer = load_trace(tmp_path).steering
    assert [(x.action, x.task, x.by, x.reason) for x in steer] == [
        ("defer", f.task_id, "walltime", "deferred: does not fit the remaining walltime")
        for f in futures[2:]]


def test_tasks_without_estimates_are_preempted_at_the_end_and_the_summary_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[list[tandem.TaskFuture], float, WalltimeSummary | None]:
        loop = asyncio.get_running_loop()
        async with tandem.open_session(Platform.uniform(1, cores=1), run_dir=tmp_path,
                                       backends=[MockBackend()], clock=loop.time,
                                       walltime=6.0, grace=1.0, margin=0.0) as s:
            t0 = s.time()
            futures = [s.submit_spec(mock(f"t{i}", 2.0, None)) for i in range(5)]
            await asyncio.gather(*futures, return_exceptions=True)
        return futures, s.time() - t0, s.walltime

    with caplog.at_level(logging.INFO, logger="tandem"):
        futures, closed, summary = run_virtual(main())
    states = [f.record.state for f in futures]
    assert states == [TaskState.DONE] * 2 + [TaskState.CANCELLED] * 3
    assert futures[2].record.preempted == 1 and futures[2].record.launched is not None
    assert round(futures[2].record.launched - futures[0].record.launched, 6) == 4.0  # type: ignore[operator]
    for f in futures[3:]:
        assert f.record.launched is None
        assert "never started: the walltime ended first" in f.record.failure.message  # type: ignore[union-attr]
    assert round(closed, 6) == 5.0          # preempted at 6 - 1; the mock exits at once
    assert summary is not None and summary.ended
    assert (summary.done, summary.deferred, summary.preempted, summary.never_started) == \
        (2, 0, 1, 2)
    assert any("walltime: the walltime ended: 2 done, 0 deferred, 1 preempted, 2 never "
               "started; open the next session with resume=True" in r.getMessage()
               for r in caplog.records)
    steer = load_trace(tmp_path).steering
    assert [(x.action, x.by, x.details["grace"]) for x in steer] == [("preempt", "walltime", 1.0)]


CHECKPOINTER = r"""
import os, signal, sys, time
ck = os.path.join(os.environ["TANDEM_TASK_DIR"], "checkpoint")
i = int(open(ck).read()) if os.path.exists(ck) else 0

def checkpoint(signum, frame):
    with open(ck + ".tmp", "w") as f:
        f.write(str(i))
    os.replace(ck + ".tmp", ck)
    sys.exit(0)

signal.signal(signal.SIGTERM, checkpoint)
print(f"start={i}", flush=True)
while not os.path.exists(sys.argv[1]):       # runs until told to stop (or preempted)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})   # one step at a time
    i += 1
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    time.sleep(0.01)
print(f"end={i}", flush=True)
"""


def test_a_checkpointing_executable_is_preempted_before_the_end_and_resumes_from_it(
        tmp_path: Path) -> None:
    script = tmp_path / "work.py"
    script.write_text(CHECKPOINTER)
    stop = tmp_path / "stop"
    run_dir = tmp_path / "run"
    argv = [sys.executable, str(script), str(stop)]

    async def first() -> tuple[tandem.TaskFuture, WalltimeSummary | None, float]:
        # Preempted 2 s after the session opens (walltime 6, grace 4): the script installed
        # its handler long before; it runs until the preemption's SIGTERM.
        async with tandem.open_session(Platform.local(), run_dir=run_dir, walltime=6.0,
                                       grace=4.0, margin=0.0) as s:
            t0 = time.monotonic()
            f = s.execute(argv, name="sim")
            with pytest.raises(TaskCancelled, match="preempted when the walltime ended"):
                await f
        return f, s.walltime, time.monotonic() - t0

    f, summary, took = asyncio.run(first())
    rec = f.record
    assert rec.state is TaskState.CANCELLED and rec.preempted == 1
    assert rec.failure is not None and rec.failure.kind is FailureKind.WALLTIME
    assert summary is not None and summary.ended and summary.preempted == 1
    assert took < 6.0                      # closed once the task exited, before the end
    (task_dir,) = [p for p in (run_dir / "tasks").iterdir() if p.name.endswith("-sim")]
    ck = task_dir / "checkpoint"
    assert ck.exists()
    reached = int(ck.read_text())
    assert reached > 0
    assert "end=" not in (task_dir / "stdout").read_text()

    async def second() -> tuple[str, TaskState]:
        async with tandem.open_session(Platform.local(), run_dir=run_dir, resume=True) as s:
            g = s.execute(argv, name="sim")
            result = await g
        return result.stdout.read_text(), g.record.state

    stop.write_text("")
    out, state = asyncio.run(second())
    # The same submission in the next session runs again and continues from the checkpoint
    # its preemption wrote.
    assert state is TaskState.DONE
    assert f"start={reached}" in out and f"end={reached}" in out


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(walltime=-1), "walltime must be > 0"),
    (dict(walltime=0), "walltime must be > 0"),
    (dict(walltime="6"), "walltime must be a number"),
    (dict(end_time=time.time() - 10), "end_time .* is in the past"),
    (dict(walltime=60, end_time=time.time() + 60), "not both"),
    (dict(walltime=60, grace=-1), "grace must be >= 0"),
    (dict(walltime=60, margin=float("nan")), "margin must be a number"),
    (dict(walltime=5, grace=4, margin=1), "leave no time to run anything"),
    (dict(grace=5), "go with a walltime"),
])
def test_bad_walltime_arguments_are_spec_errors_naming_them(
        tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    async def main() -> None:
        async with tandem.open_session(Platform.uniform(1, cores=1), run_dir=tmp_path,
                                       backends=[MockBackend()], **kwargs):  # type: ignore[arg-type]
            pass

    with pytest.raises(SpecError, match=match):
        asyncio.run(main())


def test_without_a_walltime_the_session_has_no_summary(tmp_path: Path) -> None:
    async def main() -> WalltimeSummary | None:
        async with tandem.open_session(Platform.uniform(1, cores=1), run_dir=tmp_path,
                                       backends=[MockBackend()]) as s:
            await s.submit_spec(mock("t", 0.0, 1e9))
        return s.walltime

    assert asyncio.run(main()) is None


def test_inside_an_allocation_the_default_end_is_the_platforms(tmp_path: Path) -> None:
    end = time.time() + 100.0
    plat = dataclasses.replace(Platform.uniform(1, cores=1), ends_at=end)

    async def main() -> tuple[Walltime | None, WalltimeSummary | None, float]:
        async with tandem.open_session(plat, run_dir=tmp_path, backends=[MockBackend()],
                                       grace=10.0) as s:
            opened = time.monotonic()
            f = s.submit_spec(mock("long", 0.0, 200.0))     # needs 200 s of 100: deferred
            with pytest.raises(TaskCancelled, match="deferred"):
                await f
            wall = s.driver.core.walltime
        return wall, s.walltime, opened

    wall, summary, opened = asyncio.run(main())
    assert wall is not None and wall.grace == 10.0 and wall.margin == 1.0
    assert 0.0 < wall.ends_at - opened <= 100.0     # the Unix end, on the monotonic clock
    assert summary is not None and summary.ends_at == end and summary.deferred == 1


def test_an_infinite_walltime_is_none_even_inside_an_allocation(tmp_path: Path) -> None:
    plat = dataclasses.replace(Platform.uniform(1, cores=1), ends_at=time.time() + 100.0)

    async def main() -> tuple[Walltime | None, WalltimeSummary | None, Any]:
        async with tandem.open_session(plat, run_dir=tmp_path, backends=[MockBackend()],
                                       walltime=math.inf) as s:
            f = s.submit_spec(mock("long", 0.0, 0.01))
            return s.driver.core.walltime, s.walltime, await f
    wall, summary, _ = asyncio.run(main())
    assert wall is None and summary is None
    with pytest.raises(SpecError, match="walltime=math.inf is none"):
        asyncio.run(tandem.open_session(plat, run_dir=tmp_path / "b", walltime=math.inf,
                                        grace=1.0).__aenter__())


def test_the_walltime_example_of_running_md_prints_what_the_page_says(tmp_path: Path) -> None:
    import re
    import subprocess

    text = (Path(__file__).resolve().parents[2] / "docs" / "running.md").read_text()
    section = text[text.index("## Walltime"):]
    block = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    expected = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    script = tmp_path / "example.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, check=False, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == expected
