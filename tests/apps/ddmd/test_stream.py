"""DeepDriveMD streaming (``data: stream``): segments publish each frame while they run, and
each round's aggregation, reading its stream, ends with the data ``data: memory`` hands over."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tandem import Platform, open_session
from tandem.errors import TaskFailed
from tandem_apps.ddmd import stages
from tandem_apps.ddmd.config import ConfigError, load_config
from tandem_apps.ddmd.streamed import aggregate_stream, parts_of
from tandem_apps.ddmd.types import SegmentFrames, SegmentResult, StreamedFrame


def _segment(lineage: int, segment: int, frames: int, seed: int) -> SegmentFrames:
    rng = np.random.default_rng(seed)
    res = SegmentResult(lineage=lineage, segment=segment, dcd=f"/r/{lineage}.{segment}.dcd",
                        h5="", topology="/r/t.pdb", frames=frames, min_rmsd=1.0,
                        final_rmsd=2.0, max_fnc=0.5, ns_per_day=1.0, platform="CPU",
                        threads=1, started_from="initial")
    return SegmentFrames(
        result=res, contact_map=rng.integers(0, 2, (frames, 6, 6), dtype=np.uint8),
        rmsd=rng.random(frames, dtype=np.float32), fnc=rng.random(frames, dtype=np.float32),
        time_ps=np.arange(1, frames + 1, dtype=np.float32),
        positions=rng.random((frames, 9, 3), dtype=np.float32))


def _items(seg: SegmentFrames) -> list[StreamedFrame]:
    r = seg.result
    return [StreamedFrame(lineage=r.lineage, segment=r.segment, frame=k, dcd=r.dcd,
                          topology=r.topology, contact_map=seg.contact_map[k],
                          rmsd=float(seg.rmsd[k]), fnc=float(seg.fnc[k]),
                          time_ps=float(seg.time_ps[k]), positions=seg.positions[k])
            for k in range(r.frames)]


def _same(a: Any, b: Any) -> None:
    for key in ("contact_map", "rmsd", "fnc", "time_ps", "source"):
        np.testing.assert_array_equal(getattr(a.frames, key), getattr(b.frames, key))
    for key in ("files", "dcds", "topologies", "lineages", "segments"):
        assert getattr(a.frames, key) == getattr(b.frames, key)
    np.testing.assert_array_equal(a.positions, b.positions)


async def _aggregate(items: list[StreamedFrame], previous: Any, last_n: int = 0) -> Any:
    async with open_session(Platform.local(cores=[0])) as s:
        st = s.stream("round1", maxsize=len(items) + 1)
        fut = s.submit(aggregate_stream, previous, "", "round1", last_n, cores=0, gpus=0)
        for it in items:
            await st.put(it)
        st.close()
        return await fut


def test_a_rounds_stream_aggregates_to_what_memory_mode_concatenates() -> None:
    """Frames of two lineages arrive interleaved and out of lineage order; the aggregation
    reader (a task with no cores) puts them in the memory mode's order after the previous
    round's frames, which it takes by reference."""
    r0 = [_segment(0, 0, 4, 1), _segment(1, 0, 4, 2)]
    r1 = [_segment(0, 1, 4, 3), _segment(1, 1, 4, 4)]
    previous = stages.aggregate_memory(r0, "")
    late, early = _items(r1[0]), _items(r1[1])
    mixed = [x for pair in zip(early, late, strict=True) for x in pair]
    got = asyncio.run(_aggregate(mixed, previous))
    _same(got, stages.aggregate_memory([*r0, *r1], ""))
    newest = asyncio.run(_aggregate(mixed, previous, last_n=3))
    _same(newest, stages.aggregate_memory([*r0, *r1][-3:], ""))


def test_an_aggregation_cut_back_into_segments_gives_them_back() -> None:
    segs = [_segment(0, 0, 3, 5), _segment(1, 0, 5, 6)]
    parts = parts_of(stages.aggregate_memory(segs, ""))
    for (part, xyz), seg in zip(parts, segs, strict=True):
        np.testing.assert_array_equal(part["rmsd"], seg.rmsd)
        np.testing.assert_array_equal(xyz, seg.positions)
        assert (part["lineage"], part["segment"], part["dcd"]) == (
            seg.result.lineage, seg.result.segment, seg.result.dcd)


def test_a_segment_with_a_missing_frame_is_named() -> None:
    items = _items(_segment(2, 1, 4, 7))
    with pytest.raises(TaskFailed, match=r"stream round1: lineage 2 segment 1 sent frames "
                       r"\[0, 1, 3\], not 0..2"):
        asyncio.run(_aggregate([items[0], items[1], items[3]], None))


def test_stream_mode_refuses_stuck_lineage_kills() -> None:
    with pytest.raises(ConfigError, match="stuck.enabled: cannot be used with data: stream"):
        load_config(None, {"data": "stream", "stuck": {"enabled": True}})
    assert load_config(None, {"data": "stream"}).data == "stream"


def test_a_segment_streams_every_frame_it_returns(tmp_path: Path) -> None:
    """A real OpenMM segment in a tandem worker: each frame reaches the driver while the
    segment runs, equal to the arrays it returns (one frame at a time gives the values of
    the whole segment at once)."""
    pytest.importorskip("openmm")
    prepared = stages.prepare(str(tmp_path / "system"), "A" * 15)
    cfg = load_config(None, {"md": {"segment_ps": 0.8, "report_interval_ps": 0.2}})
    from tandem_apps.ddmd.streamed import simulate_stream

    async def main() -> tuple[list[StreamedFrame], SegmentFrames]:
        async with open_session(Platform.local(cores=[0])) as s:
            st = s.stream("round0", writers=1, maxsize=1)
            fut = s.submit(simulate_stream, prepared, cfg.md, 0, 0, None,
                           str(tmp_path / "seg"), 5, "round0")
            items = [await st.get()]
            # One item waits at most: the segment cannot have put its last frame yet.
            assert not fut.done()
            items += [x async for x in st]
            return items, await fut

    items, seg = asyncio.run(main())
    assert [it.frame for it in items] == list(range(seg.result.frames)) == [0, 1, 2, 3]
    for k, it in enumerate(items):
        np.testing.assert_array_equal(it.contact_map, seg.contact_map[k])
        np.testing.assert_array_equal(it.positions, seg.positions[k])
        assert (it.rmsd, it.fnc, it.time_ps) == (seg.rmsd[k], seg.fnc[k], seg.time_ps[k])
        assert it.dcd == seg.result.dcd and it.topology == seg.result.topology
    assert Path(seg.result.dcd).exists() and seg.result.h5 == ""
