"""The trace file as the run goes: running tasks are on disk, short ones in one record."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tandem.runtime.open import open_session
from tandem.spec import Mock, Platform, TaskSpec
from tandem.trace.jsonl import read_trace


def test_a_running_task_is_on_disk_and_a_short_one_is_one_end_record(tmp_path: Path) -> None:
    seen: list[dict[str, object]] = []

    async def main() -> None:
        async with open_session(Platform.uniform(1, cores=2), run_dir=tmp_path) as s:
            long = s.submit_spec(TaskSpec(name="long", work=Mock(seconds=0.6)))
            short = s.submit_spec(TaskSpec(name="short", work=Mock(seconds=0.001)))
            await short
            await asyncio.sleep(0.3)            # well past the 50 ms flush
            seen.extend(read_trace(tmp_path))   # as a crash now would leave it
            await long

    asyncio.run(asyncio.wait_for(main(), 30))
    by_ev = [(r["ev"], r.get("id")) for r in seen]
    assert ("launch", 0) in by_ev and ("end", 0) not in by_ev    # long: running, on disk
    assert ("end", 1) in by_ev and ("launch", 1) not in by_ev    # short: one record
    end_short = next(r for r in seen if r["ev"] == "end")
    assert end_short["launched"] is not None and end_short["slots"]
    final = list(read_trace(tmp_path))
    end_long = next(r for r in final if r["ev"] == "end" and r["id"] == 0)
    launch_long = next(r for r in final if r["ev"] == "launch" and r["id"] == 0)
    assert end_long["slots"] == launch_long["slots"]
    assert end_long["launched"] == launch_long["t"]


DRIVER = """
import asyncio, sys
from tandem.runtime.open import open_session
from tandem.spec import Mock, Platform, TaskSpec

async def main():
    async with open_session(Platform.uniform(1, cores=4), run_dir=sys.argv[1]) as s:
        done = [s.submit_spec(TaskSpec(name="quick", work=Mock(seconds=0.001)))
                for _ in range(200)]
        for f in done:
            await f
        s.submit_spec(TaskSpec(name="forever", work=Mock(seconds=3600)))
        await asyncio.sleep(0.3)                  # past the 50 ms flush
        print(s.trace.writer_pid, flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


def gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status     # exited; its new parent has not reaped it yet


def test_a_killed_driver_leaves_its_trace_and_no_writer(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert driver.stdout is not None
        writer_pid = int(driver.stdout.readline())
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    deadline = time.monotonic() + 30
    while not gone(writer_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone(writer_pid)
    records = list(read_trace(tmp_path))
    ends = [r for r in records if r["ev"] == "end"]
    assert len(ends) == 200 and all(r["name"] == "quick" for r in ends)
    assert any(r["ev"] == "launch" and r["id"] == 200 for r in records)   # still running
    assert not any(r["ev"] == "close" for r in records)


def test_pool_quotas_head_the_trace_of_a_run_and_of_a_simulation(tmp_path: Path) -> None:
    from tandem.sim import run as simulate
    from tandem.spec import Quota
    from tandem.trace.jsonl import JsonlTrace
    from tandem.trace.records import TracedPool, load_trace
    from tandem.trace.report import write_report

    pools = {"md": Quota(cores=1), "ml": Quota(cores=1, gpus=1)}
    plat = Platform.uniform(1, cores=2, gpus=1)
    expected = (TracedPool("md", 1, 0), TracedPool("ml", 1, 1), TracedPool("default", 0, 0))

    async def main() -> None:
        async with open_session(plat, run_dir=tmp_path / "run", pools=pools) as s:
            await s.submit_spec(TaskSpec(name="sim", work=Mock(seconds=0.01), pool="md"))

    asyncio.run(asyncio.wait_for(main(), 30))
    assert load_trace(tmp_path / "run").pools == expected
    page = write_report(tmp_path / "run").html.read_text()
    assert "pools at start" in page and "md: 1 cores, 0 GPUs" in page

    trace = JsonlTrace(tmp_path / "sim")
    (tmp_path / "sim").mkdir(exist_ok=True)
    simulate(plat, [TaskSpec(name="sim", work=Mock(seconds=1), pool="md")], [()], [1.0],
             pools=pools, instruments=[trace])
    trace.close()
    assert load_trace(tmp_path / "sim").pools == expected
    plain = tmp_path / "plain"

    async def without() -> None:
        async with open_session(plat, run_dir=plain) as s:
            await s.submit_spec(TaskSpec(name="t", work=Mock(seconds=0.01)))

    asyncio.run(asyncio.wait_for(without(), 30))
    assert load_trace(plain).pools == ()


def test_a_trace_given_as_an_instrument_writes_the_same_records(tmp_path: Path) -> None:
    from tandem.errors import TandemError
    from tandem.trace.jsonl import JsonlTrace
    from tandem.trace.records import load_trace

    (tmp_path / "copy").mkdir()
    copy = JsonlTrace(tmp_path / "copy")

    async def main() -> None:
        async with open_session(Platform.uniform(1, cores=2), run_dir=tmp_path / "run",
                                instruments=[copy]) as s:
            first = s.submit_spec(TaskSpec(name="a", work=Mock(seconds=0.01)))
            await s.submit_spec(TaskSpec(name="b", work=Mock(seconds=0.01)), after=[first])

    asyncio.run(asyncio.wait_for(main(), 30))
    run, other = load_trace(tmp_path / "run"), load_trace(tmp_path / "copy")
    assert [(t.name, t.deps, t.ended) for t in other.tasks] == \
        [(t.name, t.deps, t.ended) for t in run.tasks] and len(run.tasks) == 2
    assert other.closed is not None

    (tmp_path / "loose").mkdir()
    loose = JsonlTrace(tmp_path / "loose", process=False)
    loose.task_resolved(0)
    with pytest.raises(TandemError, match="bind"):
        loose.flush()
    loose._items.clear()
    loose.close()
