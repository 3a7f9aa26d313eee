"""Streams between running tasks (tandem.data.stream, tandem.runtime.streams) through a real
session: tasks are real worker processes; every wait is on the stream's own state."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tandem import open_session
from tandem.backends.functions import FunctionBackend
from tandem.backends.mock import MockBackend
from tandem.backends.process import ProcessBackend
from tandem.data.stream import ENV, EndOfStream, StreamError, StreamFailed, reader, writer
from tandem.errors import TaskFailed


def produce(name: str, items: list[object]) -> int:
    with writer(name) as w:
        for x in items:
            w.put(x)
    return len(items)


def consume(name: str) -> list[object]:
    return list(reader(name))


def crash_after(name: str, n: int) -> None:
    w = writer(name)
    for i in range(n):
        w.put(i)
    os.kill(os.getpid(), 9)


def raise_inside(name: str) -> None:
    with writer(name) as w:
        w.put(1)
        raise ValueError("boom")


def raise_outside(name: str) -> None:
    w = writer(name)
    w.put(1)
    raise RuntimeError("the simulation diverged")


def open_unknown() -> None:
    writer("nobody-opened-this")


def session(tmp_path: Path) -> object:
    fb = FunctionBackend(log_dir=tmp_path / "workers", prespawn=2)
    return open_session(run_dir=tmp_path, journal=False,
                        backends=[fb, ProcessBackend(), MockBackend()])


def test_items_go_from_a_running_task_to_another_in_order(tmp_path: Path) -> None:
    async def main() -> None:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            st = s.stream("frames", maxsize=8, writers=1)
            got = s.submit(consume, "frames")
            n = s.submit(produce, "frames", list(range(1000)))
            assert await n == 1000
            assert await got == list(range(1000))
            stats = st.stats()
            assert (stats.put, stats.taken, stats.ended) == (1000, 1000, True)
    asyncio.run(main())


def test_the_stream_ends_after_its_writers_have_closed(tmp_path: Path) -> None:
    async def main() -> None:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            st = s.stream("maps", writers=2)
            a = s.submit(produce, "maps", ["a1", "a2"])
            b = s.submit(produce, "maps", ["b1"])
            seen = [x async for x in st]
            assert sorted(seen) == ["a1", "a2", "b1"]
            assert seen.index("a1") < seen.index("a2")               # one writer's order
            await asyncio.gather(a, b)
            with pytest.raises(EndOfStream):
                await st.get()
    asyncio.run(main())


def test_a_full_stream_holds_its_writer_back(tmp_path: Path) -> None:
    async def main() -> None:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            st = s.stream("q", maxsize=2, writers=1)
            p = s.submit(produce, "q", [0, 1, 2, 3, 4])
            held = await st.until(lambda x: x.writers_blocked == 1)
            assert held.buffered == 2 and held.put == 3 and not p.done()
            assert [x async for x in st] == [0, 1, 2, 3, 4]
            assert await p == 5
    asyncio.run(main())


def test_a_killed_producer_fails_the_stream_for_its_readers(tmp_path: Path) -> None:
    async def main() -> None:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            st = s.stream("md", writers=1)
            p = s.submit(crash_after, "md", 3)
            with pytest.raises(StreamFailed, match=f"task {p.task_id}"):
                async for _ in st:
                    pass
            with pytest.raises(TaskFailed):
                await p
    asyncio.run(main())


def test_an_error_inside_a_writers_block_fails_the_stream_with_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            st = s.stream("x", writers=1)
            r = s.submit(consume, "x")
            p = s.submit(raise_inside, "x")
            with pytest.raises(TaskFailed, match="StreamFailed.*ValueError: boom"):
                await r
            with pytest.raises(TaskFailed, match="boom"):
                await p
            assert st.stats().failed is not None
    asyncio.run(main())


def test_a_task_that_fails_with_a_writer_open_fails_the_stream(tmp_path: Path) -> None:
    async def main() -> None:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            st = s.stream("y")
            p = s.submit(raise_outside, "y")
            # the task's failure, or its writer's socket closing as the worker drops the
            # task's objects, whichever the broker hears of first: both name the task
            with pytest.raises(StreamFailed, match=f"writer of task {p.task_id} "
                                                   f"(failed: the task ended: .*diverged"
                                                   f"|disconnected without closing)"):
                while True:
                    await st.get()
            with pytest.raises(TaskFailed):
                await p
    asyncio.run(main())


def test_closing_a_stream_nobody_writes_ends_its_readers(tmp_path: Path) -> None:
    async def main() -> None:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            st = s.stream("idle")
            r = s.submit(consume, "idle")
            await st.until(lambda x: x.readers_waiting == 1)
            st.close()
            assert await r == []
    asyncio.run(main())


def test_names_and_settings_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            s.stream("a")
            with pytest.raises(StreamError, match="already open"):
                s.stream("a")
            with pytest.raises(StreamError, match="maxsize must be an integer >= 1"):
                s.stream("b", maxsize=0)
            with pytest.raises(TaskFailed, match="did not open a stream named "
                                                 "'nobody-opened-this'"):
                await s.submit(open_unknown)
    asyncio.run(main())
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(StreamError, match="TANDEM_STREAMS is not set"):
        writer("z")
    with pytest.raises(StreamError, match="has opened no stream"):
        reader("z", address="@tandem-streams-nobody")


def produce_arrays(name: str, n: int) -> int:
    import numpy as np

    with writer(name) as w:
        for i in range(n):
            w.put(np.full(1_000_000, float(i)))      # 8 MB each: by segment
    return n


def consume_arrays(name: str) -> list[tuple[float, bool]]:
    out = []
    for a in reader(name):
        at = a.ctypes.data
        with open("/proc/self/maps") as f:     # mapped from a (removed) segment: no copy
            mapped = any(int(lo, 16) <= at < int(hi, 16) and "item-" in line
                         for line in f for lo, hi in [line.split()[0].split("-")])
        out.append((float(a[0]), mapped))
    return out


def test_large_items_travel_as_segments_the_reader_maps_and_removes(tmp_path: Path) -> None:
    async def main() -> None:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            s.stream("big", maxsize=2, writers=1)
            got = s.submit(consume_arrays, "big")
            s.submit(produce_arrays, "big", 5)
            assert await got == [(float(i), True) for i in range(5)]
            directory = s.driver.data.kept.directory
            assert directory is not None and os.listdir(directory) == []
    asyncio.run(main())


def test_a_stream_nobody_closed_ends_once_nothing_left_can_write_to_it(tmp_path: Path) -> None:
    # No writers= and no close(): once the block has ended and the writer is done, the only
    # task left reads a stream nothing can write to any more, so the stream ends.
    async def main() -> tuple[object, object]:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            st = s.stream("frames")
            got = s.submit(consume, "frames")
            n = s.submit(produce, "frames", [1, 2, 3])
        assert st.stats().ended
        return got, n
    got, n = asyncio.run(asyncio.wait_for(main(), 300))   # a guard against a hang only
    assert got.result() == [1, 2, 3] and n.result() == 3     # type: ignore[attr-defined]


def test_a_stream_whose_writers_did_not_all_come_fails_its_readers(tmp_path: Path) -> None:
    async def main() -> object:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            s.stream("maps", writers=2)
            got = s.submit(consume, "maps")
            s.submit(produce, "maps", ["only one"])
        return got
    got = asyncio.run(asyncio.wait_for(main(), 300))       # a guard against a hang only
    error = got.exception()                                   # type: ignore[attr-defined]
    assert isinstance(error, TaskFailed)
    assert "1 of its 2 writers came" in str(error)


class OverTcp(FunctionBackend):
    """Local workers that say they reach the driver at 127.0.0.1, as workers on other hosts
    of an allocation do: the session's streams then go over TCP."""

    def driver_host(self) -> str | None:
        return "127.0.0.1"


def test_streams_go_over_tcp_with_the_sessions_token_when_a_backend_runs_elsewhere(
        tmp_path: Path) -> None:
    async def main() -> tuple[str, list[object]]:
        fb = OverTcp(log_dir=tmp_path / "workers", prespawn=2)
        async with open_session(run_dir=tmp_path, journal=False, backends=[fb]) as s:
            s.stream("frames", writers=1)
            got = s.submit(consume, "frames")
            await s.submit(produce, "frames", list(range(20)))
            return os.environ[ENV], await got
    address, items = asyncio.run(main())
    assert address.startswith("tcp:127.0.0.1:") and items == list(range(20))
    assert ENV not in os.environ                    # the session put the environment back


def test_segments_waiting_in_a_stream_count_on_the_writers_node_until_taken(
        tmp_path: Path) -> None:
    from tandem import read_trace

    async def main() -> tuple[int, str, dict[str, int]]:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            st = s.stream("big", maxsize=4, writers=1)
            wrote = s.submit(produce_arrays, "big", 3)       # all three wait: nobody reads yet
            await wrote
            waiting = st.stats().buffered
            got = await s.submit(consume_arrays, "big")
            assert [x for x, _ in got] == [0.0, 1.0, 2.0]
            node = wrote.record.placement.slots[0].node          # type: ignore[union-attr]
            return waiting, node, s.driver.data.kept.held()
    waiting, node, held = asyncio.run(main())
    assert waiting == 3 and held == {node: 0}
    changes = [(r["change"], r["held"]) for r in read_trace(tmp_path)
               if r["ev"] == "data" and r["node"] == node]
    ups = [c for c, _ in changes if c > 0]
    assert len(ups) == 3 and all(c >= 8_000_000 for c in ups)
    assert max(h for _, h in changes) == sum(ups) and changes[-1][1] == 0


def fail_after_big(name: str) -> None:
    import numpy as np

    w = writer(name)
    w.put(np.zeros(1_000_000))
    raise RuntimeError("diverged")


def test_a_failed_stream_removes_the_segments_that_waited_in_it(tmp_path: Path) -> None:
    async def main() -> tuple[list[str], dict[str, int]]:
        async with session(tmp_path) as s:                          # type: ignore[attr-defined]
            st = s.stream("big", maxsize=4, writers=1)
            with pytest.raises(TaskFailed):
                await s.submit(fail_after_big, "big")
            assert st.stats().failed is not None
            directory = s.driver.data.kept.directory
            assert directory is not None
            return os.listdir(directory), s.driver.data.kept.held()
    left, held = asyncio.run(main())
    assert left == [] and set(held.values()) == {0}
