"""DeepDriveMD in memory (``data: memory``) against the file-based mode: the same data, the
same decisions, and what each stage read and wrote through the filesystem."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openmm")
pytest.importorskip("torch")
pytest.importorskip("sklearn")

from tandem import Platform
from tandem_apps.ddmd import aggregate, dcd, stages
from tandem_apps.ddmd.campaign import CampaignRun, run_campaign
from tandem_apps.ddmd.config import CampaignConfig, load_config
from tandem_apps.ddmd.fsio import FileIO, counted
from tandem_apps.ddmd.main import overrides, parser
from tandem_apps.ddmd.types import RestartPoint

from .synthetic import one_core

TINY = {"simulations": 2, "iterations": 2, "cores": 2, "modes": ["sync"], "baseline": False,
        "md": {"segment_ps": 0.8, "report_interval_ps": 0.2},
        "training": {"epochs": 1, "initial_epochs": 1, "batch_size": 4},
        "agent": {"n_neighbors": 3}}
SMALL = 100  # bytes: what a stage reads besides its data (OpenMM reads 4 bytes of /sys)


def test_the_counter_counts_this_threads_file_bytes(tmp_path: Path) -> None:
    with counted() as c:
        (tmp_path / "f").write_bytes(b"x" * 12345)
        assert (tmp_path / "f").read_bytes() == b"x" * 12345
    assert c.io == FileIO(read=12345, written=12345)
    with counted() as nothing:
        pass
    assert nothing.io == FileIO(0, 0)


def test_the_option_and_the_config_key() -> None:
    assert load_config(None).data == "files"
    for argv in (["--in-memory"], ["--data", "memory"]):
        assert load_config(None, overrides(parser().parse_args(argv))).data == "memory"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> stages.Prepared:
    return stages.prepare(str(tmp_path_factory.mktemp("system")), "A" * 15)


def test_a_segment_in_memory_holds_what_its_files_hold(prepared: stages.Prepared,
                                                       tmp_path: Path) -> None:
    cfg = load_config(None, TINY)
    with one_core():   # one OpenMM thread, as a placed segment: the same trajectory twice
        _segments_and_aggregation(prepared, cfg, tmp_path)


def _segments_and_aggregation(prepared: stages.Prepared, cfg: CampaignConfig,
                              tmp_path: Path) -> None:
    on_disk = stages.simulate(prepared, cfg.md, 0, 0, None, str(tmp_path / "f"), 5)
    kept = stages.simulate_memory(prepared, cfg.md, 0, 0, None, str(tmp_path / "m"), 5)
    frames = aggregate.read_segments([on_disk.h5])
    for key in aggregate.FRAME_DATASETS:
        np.testing.assert_array_equal(getattr(kept, key), getattr(frames, key))
    for i in range(on_disk.frames):   # the coordinates a restart takes: the DCD's
        np.testing.assert_array_equal(kept.positions[i], dcd.read_frame(kept.result.dcd, i))
        np.testing.assert_array_equal(kept.positions[i], dcd.read_frame(on_disk.dcd, i))
    assert kept.result.min_rmsd == on_disk.min_rmsd and kept.result.h5 == ""
    # Both write the trajectory (OpenMM's writer also rewrites 8 bytes of its header per
    # frame); only the file-based one writes segment.h5. OpenMM reads 4 bytes,
    # /sys/devices/system/cpu/online, when it creates a Context.
    dcd_bytes = Path(on_disk.dcd).stat().st_size
    assert dcd_bytes <= kept.result.io.written <= dcd_bytes + 8 * on_disk.frames
    assert kept.result.io.read < SMALL
    assert Path(on_disk.h5).exists() and on_disk.io.written > kept.result.io.written
    # Continuing from the last frame: from the DCD on disk, or from the frames in memory.
    again = stages.simulate(prepared, cfg.md, 0, 1, stages.last_frame(on_disk),
                            str(tmp_path / "f1"), 6)
    again_kept = stages.simulate_memory(prepared, cfg.md, 0, 1, (kept, on_disk.frames - 1),
                                        str(tmp_path / "m1"), 6)
    assert again_kept.result.min_rmsd == again.min_rmsd
    np.testing.assert_array_equal(again_kept.rmsd, aggregate.read_segments([again.h5]).rmsd)
    assert again_kept.result.io.read < SMALL
    assert again.io.read >= 3 * 4 * 153   # the restart frame's coordinates, from the DCD
    # Aggregation: the same arrays, none of them through a file.
    agg = stages.aggregate([on_disk, again], str(tmp_path / "train.h5"))
    agg_kept = stages.aggregate_memory([kept, again_kept], "")
    on_file = aggregate.read_aggregate(agg.path)
    for key in (*aggregate.FRAME_DATASETS, "source"):
        np.testing.assert_array_equal(getattr(agg_kept.frames, key), getattr(on_file, key))
    assert agg_kept.io == FileIO(0, 0) and agg.io.read > 0 and agg.io.written > 0


def _campaign(data: str, run_dir: Path, prepared: stages.Prepared) -> CampaignRun:
    cfg = load_config(None, {**TINY, "data": data})
    platform = Platform.local(cores=sorted(c for n in Platform.local().nodes
                                           for c in n.cores)[:2])
    return asyncio.run(run_campaign(cfg, "sync", run_dir, platform, prepared))


def _point(p: RestartPoint) -> tuple[int, int, int, float, float]:
    return p.lineage, p.segment, p.frame, p.rmsd, p.lof


@pytest.mark.slow
def test_sync_campaign_in_memory_makes_the_same_decisions(prepared: stages.Prepared,
                                                          tmp_path: Path) -> None:
    files = _campaign("files", tmp_path / "files", prepared)
    memory = _campaign("memory", tmp_path / "memory", prepared)
    assert len(files.segments) == len(memory.segments) == 4
    for f, m in zip(files.segments, memory.segments, strict=True):
        assert (f.result.lineage, f.result.segment) == (m.result.lineage, m.result.segment)
        assert f.restart_round == m.restart_round
        assert m.result.started_from.replace(str(memory.run_dir), "") == \
            f.result.started_from.replace(str(files.run_dir), "")
        np.testing.assert_array_equal(m.rmsd, aggregate.read_segments([f.result.h5]).rmsd)
    for f, m in zip(files.rounds, memory.rounds, strict=True):
        assert f.train.losses == m.train.losses and f.train.frames == m.train.frames
        assert [_point(p) for p in f.agent.restarts] == [_point(p) for p in m.agent.restarts]
        ef, em = np.load(f.agent.embeddings), np.load(m.agent.embeddings)
        for key in ("z", "rmsd", "source", "lineage", "segment", "lof", "selected"):
            np.testing.assert_array_equal(ef[key], em[key])
    # Every restart's coordinates reached the segment by reference: no DCD was read.
    assert sum(1 for s in memory.segments if s.restart_round is not None) == 2
    assert memory.io["simulation"].read < SMALL * 4
    assert files.io["simulation"].read >= 2 * 3 * 4 * 153
    assert memory.io["aggregation"] == FileIO(0, 0)
    assert memory.io["training"].read < SMALL and memory.io["agent"].read < SMALL
    assert files.io["training"].read > 0 and files.io["agent"].read > 0
    total = {run.data: sum((v for v in run.io.values()), FileIO()) for run in (files, memory)}
    assert total["memory"].written < total["files"].written
    # The hand-offs went through tandem's shared memory instead.
    assert set(memory.kept) == {"simulation", "aggregation", "training", "agent"}
    assert not files.kept
    # ... and not through tandem's journal, which would copy them to <run>/results/.
    assert memory.journal == 0 and not (memory.run_dir / "results").exists()
    # What the user keeps: trajectories, restart lists, the last round's model.
    data = memory.run_dir / "data"
    assert len(list(data.glob("md/*/*/segment.dcd"))) == 4
    assert not list(data.glob("md/*/*/segment.h5")) and not list(data.glob("ml/*/train.h5"))
    assert [p.parent.name for p in sorted(data.glob("ml/*/cvae.pt"))] == ["round001"]
    assert len(list(data.glob("ml/*/agent/restarts.json"))) == 2


@pytest.mark.slow
def test_sync_campaign_streaming_makes_the_decisions_of_memory_mode(
        prepared: stages.Prepared, tmp_path: Path) -> None:
    """``data: stream``: the same segments, training and restart points as ``data: memory``,
    no file read or written by aggregation, and every round's aggregation already running
    (launched: the scheduler's own decision) before the round's first segment was submitted."""
    from tandem.trace.records import load_trace

    memory = _campaign("memory", tmp_path / "memory", prepared)
    stream = _campaign("stream", tmp_path / "stream", prepared)
    for m, s in zip(memory.segments, stream.segments, strict=True):
        assert (m.result.lineage, m.result.segment, m.restart_round) == (
            s.result.lineage, s.result.segment, s.restart_round)
        np.testing.assert_array_equal(m.rmsd, s.rmsd)
    for m, s in zip(memory.rounds, stream.rounds, strict=True):
        assert m.train.losses == s.train.losses and m.train.frames == s.train.frames
        assert [_point(p) for p in m.agent.restarts] == [_point(p) for p in s.agent.restarts]
    assert stream.io["aggregation"] == FileIO(0, 0) and stream.journal == 0
    assert stream.io["simulation"].read < SMALL * 4
    tasks = {t.name: t for t in load_trace(stream.run_dir).tasks}
    for k in range(2):
        agg = tasks[f"A{k}"]
        assert agg.launched is not None and agg.cores == 0
        assert agg.launched <= min(tasks[f"S{k}.{j}"].submitted for j in range(2))
    assert not list((stream.run_dir / "data").glob("md/*/*/segment.h5"))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_on_virtual_time_both_modes_submit_and_restart_alike(mode: str, tmp_path: Path) -> None:
    """The driver's decisions do not depend on the data path: on tandem's virtual time (no
    clock, no machine load) both modes submit the same tasks in the same order, and every
    segment starts from the same round's list and the same point."""
    from tandem import Node
    from tandem.spec.task import TaskSpec
    from tandem.trace.records import load_trace
    from tandem_apps.ddmd.predict import predict_campaign

    two = Platform(nodes=(Node(name="n0", cores=(0, 1)),))
    fake = stages.Prepared(initial_pdb="/nowhere/i.pdb", target_pdb="/nowhere/t.pdb",
                           sequence="A" * 15)

    def seconds(spec: TaskSpec) -> float:   # lineage j's segments take 0.3 s more
        if spec.kind == "setup":
            return 0.0
        if spec.kind == "simulation":
            return 1.0 + 0.3 * float(spec.work.args[2])  # type: ignore[union-attr]
        return {"aggregation": 0.1, "training": 1.2, "agent": 0.2}[spec.kind]

    runs = {}
    for data in ("files", "memory", "stream"):
        cfg = load_config(None, {"simulations": 3, "iterations": 4, "cores": 2, "data": data})
        runs[data] = predict_campaign(cfg, mode, two, fake, seconds,  # type: ignore[arg-type]
                                      tmp_path / data)
    order = {d: [t.name for t in sorted(load_trace(tmp_path / d).tasks, key=lambda t: t.id)]
             for d in runs}
    assert order["files"] == order["memory"]
    for f, m in zip(runs["files"].segments, runs["memory"].segments, strict=True):
        assert f.restart_round == m.restart_round
        assert f.result.started_from.replace(str(tmp_path / "files"), "") == \
            m.result.started_from.replace(str(tmp_path / "memory"), "")
    assert runs["files"].makespan == runs["memory"].makespan
    assert any(s.restart_round is not None for s in runs["memory"].segments)
    # Streaming warms one more worker (for the aggregations, on no cores) and submits every
    # aggregation first; the segments and their starts are the same, and the aggregations'
    # 0.1 s runs under the segments instead of after them.
    assert sorted(order["stream"]) == sorted([*order["memory"], "warm-up"])
    for m, s in zip(runs["memory"].segments, runs["stream"].segments, strict=True):
        assert m.restart_round == s.restart_round
        assert m.result.started_from.replace(str(tmp_path / "memory"), "") == \
            s.result.started_from.replace(str(tmp_path / "stream"), "")
    assert runs["stream"].makespan < runs["memory"].makespan


def test_an_in_memory_start_is_the_named_frame_and_its_coordinates() -> None:
    from tandem_apps.ddmd.types import AgentResult, SegmentFrames, SegmentResult

    seg = SegmentResult(lineage=1, segment=2, dcd="/r/s.dcd", h5="", topology="/r/t.pdb",
                        frames=3, min_rmsd=5.0, final_rmsd=6.0, max_fnc=0.1, ns_per_day=1.0,
                        platform="CPU", threads=1, started_from="initial")
    xyz = np.arange(3 * 4 * 3, dtype=np.float32).reshape(3, 4, 3)
    frames = SegmentFrames(result=seg, contact_map=np.zeros((3, 4, 4), np.uint8),
                           rmsd=np.array([7.0, 5.0, 6.0], np.float32),
                           fnc=np.zeros(3, np.float32), time_ps=np.zeros(3, np.float32),
                           positions=xyz)
    point, at = stages.start_of((frames, 2))       # the lineage's own last frame
    assert point == stages.last_frame(seg) and np.array_equal(at, xyz[2])
    point, at = stages.start_of((frames, 1))
    assert (point.frame, point.rmsd) == (1, 5.0) and np.array_equal(at, xyz[1])
    restarts = (RestartPoint(dcd="/r/a.dcd", topology="/r/t.pdb", frame=4, lineage=0,
                             segment=0, rmsd=3.0, lof=2.0),
                RestartPoint(dcd="/r/b.dcd", topology="/r/t.pdb", frame=0, lineage=1,
                             segment=0, rmsd=4.0, lof=1.5))
    agent = AgentResult(restarts_json="", embeddings="", restarts=restarts, frames=9,
                        positions=xyz[:2])
    point, at = stages.start_of((agent, 1))
    assert point == restarts[1] and np.array_equal(at, xyz[1])
    assert stages.start_of(None) == (None, None)
    with pytest.raises(ValueError, match="without coordinates"):
        stages.start_of((AgentResult(restarts_json="", embeddings="", restarts=restarts,
                                     frames=9), 0))
