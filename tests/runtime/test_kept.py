"""Results by reference through a real session (tandem.runtime.kept and the function workers):
hand-off without a copy through the driver, freeing, the session's end, the journal, the trace,
a killed driver."""

from __future__ import annotations

import asyncio
import gc
import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tandem import open_session
from tandem.backends.functions import FunctionBackend
from tandem.backends.mock import MockBackend
from tandem.backends.process import ProcessBackend
from tandem.errors import SpecError
from tandem.trace.instrument import Instrument
from tandem.trace.records import load_trace

MB100 = 12_500_000       # float64s: 100 MB


def make(n: int, fill: float = 1.0) -> np.ndarray:
    return np.full(n, fill)


def total(a: np.ndarray) -> float:
    return float(a.sum())


def mapped_from(a: np.ndarray) -> str | None:
    """The file whose mapping holds ``a``'s data in this process (``/proc/self/maps``)."""
    at = a.ctypes.data
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if lo <= at < hi:
                return fields[5].strip() if len(fields) > 5 else None
    return None


def where(a: np.ndarray) -> tuple[str | None, bool]:
    """The file the argument's data is mapped from (no copy), and whether it is writable."""
    return mapped_from(a), bool(a.flags.writeable)


def bump(a: np.ndarray) -> float:
    a += 1.0           # copy-on-write: the segment others read is unchanged
    return float(a.sum())


def small() -> int:
    return 7


def backends(run_dir: Path) -> tuple[FunctionBackend, list[object]]:
    fb = FunctionBackend(log_dir=run_dir / "workers", prespawn=2)
    return fb, [fb, ProcessBackend(), MockBackend()]


def shm_free() -> int:
    st = os.statvfs("/dev/shm")
    return st.f_bavail * st.f_frsize


class Freed(Instrument):
    """Sets ``event`` when a kept result is freed."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def data_held(self, task_id: int, node: str, change: int, held: int, now: float) -> None:
        if change < 0:
            self.event.set()


async def _settle() -> None:
    gc.collect()
    for _ in range(3):      # the finalizer's accounting runs on the loop's next iterations
        await asyncio.sleep(0)


def test_a_100_mb_array_reaches_its_dependent_without_a_copy_through_the_driver(tmp_path: Path):
    async def main() -> None:
        fb, bs = backends(tmp_path)
        async with open_session(run_dir=tmp_path, backends=bs, journal=False) as s:
            p = s.submit(make, MB100, 2.0)
            c = s.submit(total, p)
            w = s.submit(where, p)
            assert await c == 2.0 * MB100
            ref = p.ref
            assert ref is not None
            assert await w == (ref.path, True)
            assert fb.received_bytes < 4096           # results and messages only
            assert ref.nbytes >= 8 * MB100 and ref.task_id == p.task_id
            assert not ref.loaded                      # nobody in the driver looked at it
            value = await p                            # fetched on demand, mapped
            assert mapped_from(value) == ref.path and value[0] == 2.0
            assert s.driver.data.kept.held() == {ref.node: ref.nbytes}
    asyncio.run(main())


def test_a_kept_result_is_freed_once_its_future_and_dependents_are_gone(tmp_path: Path):
    async def main() -> None:
        _, bs = backends(tmp_path)
        freed = Freed()
        async with open_session(run_dir=tmp_path, backends=bs, journal=False,
                                instruments=[freed]) as s:
            kept = s.driver.data.kept
            p = s.submit(make, MB100)
            c = s.submit(bump, p)
            assert await c == 2.0 * MB100
            assert (await p)[0] == 1.0                 # the dependent wrote its own copy
            path, node = p.ref.path, p.ref.node        # type: ignore[union-attr]
            assert os.path.exists(path)
            peak_free = shm_free()
            del p, c
            await freed.event.wait()
            assert not os.path.exists(path)
            assert kept.held() == {node: 0}
            assert kept.kept == kept.freed == 1
            assert shm_free() - peak_free >= 90_000_000   # the node's memory came back
    asyncio.run(main())


def test_the_trace_shows_what_each_node_held(tmp_path: Path):
    async def main() -> None:
        _, bs = backends(tmp_path)
        async with open_session(run_dir=tmp_path, backends=bs, journal=False) as s:
            a = s.submit(make, 200_000)
            b = s.submit(make, 300_000)
            await asyncio.gather(a, b)
            del a
            await _settle()
            del b
    asyncio.run(main())
    run = load_trace(tmp_path)
    changes = [d.change for d in run.data]
    assert len(changes) == 4 and sum(changes) == 0
    (node, peak), = run.data_peak().items()
    assert peak >= 8 * 500_000
    assert run.data[-1].held == 0
    from tandem.trace.metrics import render_summary, summarize
    text = render_summary(run, summarize(run))
    assert f"results kept by reference: 2; most held at once: {node} " in text
    from tandem.trace.report import load_view, render_html
    page = render_html(load_view(tmp_path))
    assert "<h2>Data kept by reference</h2>" in page
    assert f"<td>{node}</td><td>2</td><td>{peak / 1e6:.1f}</td><td>0.0</td>" in page


def test_ref_true_keeps_a_small_result_and_ref_false_sends_a_large_one(tmp_path: Path):
    async def main() -> None:
        fb, bs = backends(tmp_path)
        async with open_session(run_dir=tmp_path, backends=bs, journal=False,
                                ref_above=None) as s:
            tiny = s.submit(small, ref=True)
            assert await tiny == 7 and tiny.ref is not None
            big = s.submit(make, 200_000)              # ref_above=None: by value
            assert (await big).sum() == 200_000 and big.ref is None
            before = fb.received_bytes
            byval = s.submit(make, 200_000, ref=False)
            await byval
            assert byval.ref is None and fb.received_bytes - before > 8 * 200_000
    asyncio.run(main())


def test_a_future_kept_past_the_session_still_gives_its_value_and_no_file_is_left(
        tmp_path: Path):
    async def main() -> object:
        _, bs = backends(tmp_path)
        async with open_session(run_dir=tmp_path, backends=bs, journal=False) as s:
            p = s.submit(make, 500_000, 3.0)
            await p
            directory = s.driver.data.kept.directory
        assert directory is not None and not os.path.exists(directory)
        return p
    p = asyncio.run(main())
    assert p.result().sum() == 3.0 * 500_000          # type: ignore[attr-defined]


def test_the_journal_stores_a_kept_result_and_a_resumed_run_maps_it(tmp_path: Path):
    def campaign(resume: bool) -> tuple[float, bool]:
        async def main() -> tuple[float, bool]:
            _, bs = backends(tmp_path / "workers-of-run")
            async with open_session(run_dir=tmp_path, backends=bs, resume=resume) as s:
                p = s.submit(make, 500_000, 4.0, key="big")
                value = await p
                return float(value.sum()), p.ref is not None
        return asyncio.run(main())
    assert campaign(False) == (2_000_000.0, True)
    assert list((tmp_path / "results").glob("*.seg"))
    assert campaign(True) == (2_000_000.0, False)     # restored from the journal's copy


def test_bad_settings_are_refused() -> None:
    async def main(**kw: object) -> None:
        async with open_session(**kw):                # type: ignore[arg-type]
            pass
    with pytest.raises(SpecError, match="ref_above must be a number of bytes"):
        asyncio.run(main(ref_above=-1))
    with pytest.raises(SpecError, match="ref must be True, False or None"):
        from tandem.spec.task import FunctionCall
        FunctionCall(fn=small, ref="yes")             # type: ignore[arg-type]


_KILLED = textwrap.dedent("""
    import asyncio, os, sys
    import numpy as np
    from tandem import open_session

    def make(n):
        return np.ones(n)

    async def main():
        async with open_session(run_dir=sys.argv[1], journal=False) as s:
            p = s.submit(make, 1_000_000)
            await p
            from tandem import guardian
            print(p.ref.path, guardian.pid(), flush=True)
            os.kill(os.getpid(), 9)

    asyncio.run(main())
""")


def test_a_killed_drivers_segments_are_removed_by_the_guardian(tmp_path: Path):
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        path, guardian_pid = proc.stdout.readline().split()   # type: ignore[union-attr]
        try:     # the guardian removes the directory, then exits: wait for its exit
            fd = os.pidfd_open(int(guardian_pid))
        except ProcessLookupError:
            fd = -1
        assert proc.wait(timeout=60) == -signal.SIGKILL
        if fd >= 0:
            select.select([fd], [], [], 60)
            os.close(fd)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    directory = os.path.dirname(path)
    assert os.path.basename(directory).startswith("tandem-")
    assert not os.path.exists(directory)


def test_results_kept_on_a_lost_node_fail_their_dependents_naming_the_producer(tmp_path: Path):
    """What the driver does when a backend reports a node lost (on an allocation; here the data
    plane is told directly): handles marked, files removed, the node holds nothing, and a
    dependent started afterwards fails at launch with an error that says whose result is gone."""
    from tandem import TaskFailed

    async def main() -> None:
        _, bs = backends(tmp_path)
        async with open_session(run_dir=tmp_path, backends=bs, journal=False) as s:
            p = s.submit(make, 500_000, 1.0, name="producer")
            await s.submit(small, after=[p])             # p has ended; nobody mapped it
            ref = p.ref
            assert ref is not None and os.path.exists(ref.path)
            assert s.driver.data.node_lost(ref.node, f"node {ref.node!r} was lost") == [ref]
            assert not os.path.exists(ref.path)
            assert s.driver.data.kept.held() == {ref.node: 0}
            c = s.submit(total, p, name="consumer")
            with pytest.raises(TaskFailed) as e:
                await c
            text = str(e.value)
            assert "consumer" in text and f"result of task {p.task_id}" in text
            assert f"kept on node {ref.node!r}, is lost" in text
    asyncio.run(main())
