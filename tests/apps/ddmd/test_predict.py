"""DeepDriveMD predicted before it runs: the campaign driver itself on tandem's virtual time.

Conformance: the driver on virtual time submits the same tasks in the same order as the same
driver with sleeping stages on a real event loop. Durations are chosen so that no two task ends
that could race lie closer than 50 ms (checked on the virtual run), so the comparison does not
depend on the machine's load.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tandem import Node, Platform
from tandem.history.describe import key_of
from tandem.history.store import HistoryStore, Row
from tandem.spec.resources import Resources
from tandem.spec.task import FunctionCall, TaskSpec
from tandem.trace.records import load_trace
from tandem_apps.ddmd import stages
from tandem_apps.ddmd.campaign import features, round_frames, run_campaign
from tandem_apps.ddmd.config import CampaignConfig, load_config
from tandem_apps.ddmd.mock import sleeping_stages
from tandem_apps.ddmd.predict import (
    HistoryDurations,
    StageDurations,
    StageModel,
    predict,
    predict_campaign,
)
from tandem_apps.ddmd.stages import Prepared

TWO_CORES = Platform(nodes=(Node(name="n0", cores=(0, 1)),))
PREPARED = Prepared(initial_pdb="/nowhere/initial.pdb", target_pdb="/nowhere/target.pdb",
                    sequence="AAAAAAAAAAAAAAA")
PER_LINEAGE = 0.45
STAGE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "simulation": stages.simulate, "aggregation": stages.aggregate, "training": stages.train,
    "agent": stages.agent}


def _small() -> CampaignConfig:
    return load_config(overrides={
        "simulations": 2, "iterations": 3, "cores": 2,
        "mock": {"simulation": 0.6, "aggregation": 0.2, "training": 0.6, "agent": 0.2}})


def _mock_seconds(cfg: CampaignConfig) -> Callable[[TaskSpec], float]:
    """The ``mock`` section's seconds; a segment of lineage j takes ``j * PER_LINEAGE`` more."""
    m = cfg.mock

    def seconds(spec: TaskSpec) -> float:
        if spec.kind == "setup":
            return 0.0
        if spec.kind == "simulation":
            assert isinstance(spec.work, FunctionCall)
            return m.simulation + PER_LINEAGE * float(spec.work.args[2])
        return float(getattr(m, spec.kind))
    return seconds


def _submitted(run_dir: Path) -> list[str]:
    """Task names in submission order (task ids are given at submission)."""
    tasks = sorted(load_trace(run_dir).tasks, key=lambda t: t.id)
    return [t.name for t in tasks if t.kind != "setup"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_virtual_campaign_submits_as_the_sleeping_one(mode: str, tmp_path: Path) -> None:
    cfg = _small()
    fns = sleeping_stages(cfg.mock, per_lineage=PER_LINEAGE)
    predicted = predict_campaign(cfg, mode, TWO_CORES, PREPARED,  # type: ignore[arg-type]
                                 _mock_seconds(cfg), tmp_path / "virtual", functions=fns)
    trace = load_trace(tmp_path / "virtual")
    work = [t for t in trace.tasks if t.kind != "setup"]
    ends = sorted({round(t.ended or 0.0, 6) for t in work})
    assert min(b - a for a, b in itertools.pairwise(ends)) >= 0.05 - 1e-6
    real = asyncio.run(run_campaign(cfg, mode, tmp_path / "real",  # type: ignore[arg-type]
                                    TWO_CORES, PREPARED, functions=fns))
    virtual_order = _submitted(tmp_path / "virtual")
    assert len(virtual_order) == 3 * 2 + 3 * 3
    assert _submitted(tmp_path / "real") == virtual_order
    # the same decisions: every segment restarted from the same round's list (or none)
    assert [s.restart_round for s in real.segments] == [
        s.restart_round for s in predicted.segments]
    # and the sleeping run cannot beat its own schedule
    assert real.makespan >= predicted.makespan - 0.01


def test_async_overlaps_next_segments_with_training(tmp_path: Path) -> None:
    """Some segment of round k+1 runs while training M{k} runs (the trace, virtual time)."""
    cfg = load_config(overrides={"cores": 2})      # 4 lineages x 6 rounds, staleness 1
    predict_campaign(cfg, "async", TWO_CORES, PREPARED, _mock_seconds(cfg), tmp_path)
    tasks = {t.name: t for t in load_trace(tmp_path).tasks}
    overlapped = []
    for k in range(cfg.iterations - 1):
        m = tasks[f"M{k}"]
        assert m.started is not None and m.ended is not None
        for j in range(cfg.simulations):
            s = tasks[f"S{k + 1}.{j}"]
            assert s.started is not None and s.ended is not None
            if s.started < m.ended and m.started < s.ended:
                overlapped.append((k, j))
    assert overlapped, "no segment of a later round ran during a training"
    # in sync mode, nothing of round k+1 runs before the agent of round k has published
    predict_campaign(cfg, "sync", TWO_CORES, PREPARED, _mock_seconds(cfg), tmp_path / "sync")
    synced = {t.name: t for t in load_trace(tmp_path / "sync").tasks}
    for k in range(cfg.iterations - 1):
        agent_end = synced[f"I{k}"].ended
        assert agent_end is not None
        assert all((synced[f"S{k + 1}.{j}"].started or 0.0) >= agent_end
                   for j in range(cfg.simulations))


def test_stage_model_scales_by_features() -> None:
    cfg = load_config()
    model = StageModel(segment_setup=0.5, segment_per_ps=0.1, aggregate_fixed=0.01,
                       aggregate_per_frame=0.001, train_fixed=0.2, train_per_frame_epoch=0.002,
                       agent_fixed=0.05, agent_per_frame=0.0001, overhead=0.01)

    def spec(kind: str, k: int = 0) -> TaskSpec:
        return TaskSpec(name=f"x{k}", kind=kind, work=FunctionCall(fn=print),
                        features=features(cfg, "sync", kind, k))

    assert model.seconds(spec("simulation")) == pytest.approx(0.5 + 0.1 * 25 + 0.01)
    # round 2 trains on 3 rounds of 4 segments of 25 frames, for `epochs` epochs
    assert round_frames(cfg, 2) == 300
    assert model.seconds(spec("training", 2)) == pytest.approx(
        0.2 + 0.002 * 300 * cfg.training.epochs + 0.01)
    assert model.seconds(spec("training", 0)) == pytest.approx(
        0.2 + 0.002 * 100 * cfg.training.initial_epochs + 0.01)
    assert model.seconds(spec("agent", 1)) == pytest.approx(0.05 + 0.0001 * 200 + 0.01)
    assert model.seconds(spec("setup")) == 0.0
    with pytest.raises(ValueError, match="feature 'frames' missing"):
        model.seconds(TaskSpec(name="M0", kind="training", work=FunctionCall(fn=print)))


def test_segments_are_drawn_with_their_spread_when_seeded() -> None:
    cfg = load_config()
    model = dataclasses.replace(StageModel.fixed(4.0, 0.1, 1.0, 0.1), segment_spread=0.1)
    seg = _segment_spec(cfg, "sync")
    train = TaskSpec(name="M0", kind="training", work=FunctionCall(fn=print),
                     features=features(cfg, "sync", "training", 0))
    plain = StageDurations(model)
    assert {plain(seg) for _ in range(5)} == {4.0}          # no seed: the median itself
    drawn = StageDurations(model, seed=3)
    xs = [drawn(seg) for _ in range(400)]
    assert len(set(xs)) == 400 and statistics.median(xs) == pytest.approx(4.0, rel=0.03)
    assert statistics.stdev(xs) / statistics.mean(xs) == pytest.approx(0.1, rel=0.2)
    assert {drawn(train) for _ in range(5)} == {1.0}        # only segments vary
    again = StageDurations(model, seed=3)
    assert [again(seg) for _ in range(3)] == xs[:3]          # reproducible
    assert drawn.used == {"simulation": {"calibration": 400}, "training": {"calibration": 5}}


def _row(spec: TaskSpec, seconds: float, run: str) -> Row:
    return Row(key=key_of(spec), kind=spec.kind, name=spec.name, state="done",
               cores=spec.resources.cores, gpus=spec.resources.gpus, ranks=1, memory_mb=None,
               features=dict(spec.features or {}), sizes=None, duration=seconds, node="n0",
               run=run, t=0.0)


def _segment_spec(cfg: CampaignConfig, mode: str, name: str = "S3.1") -> TaskSpec:
    return TaskSpec(name=name, kind="simulation", work=FunctionCall(fn=stages.simulate),
                    resources=Resources(cores=1), features=features(cfg, mode, "simulation"))


def test_history_gives_the_same_work_with_the_same_features(tmp_path: Path) -> None:
    cfg = load_config()
    other = cfg.model_copy(update={"md": cfg.md.model_copy(update={"segment_ps": 5.0})})
    store = HistoryStore(tmp_path)
    store.add([_row(_segment_spec(cfg, "sync"), 3.0, "a"), _row(_segment_spec(cfg, "sync"), 4.0,
                                                              "b"),
               _row(_segment_spec(cfg, "async"), 9.0, "a"),
               _row(_segment_spec(other, "sync"), 1.0, "a")])
    h = HistoryDurations(tmp_path)
    assert h.seconds(_segment_spec(cfg, "sync")) == pytest.approx(3.5)    # median, same mode
    assert h.seconds(_segment_spec(cfg, "async")) == pytest.approx(9.0)
    # a mode the history has not seen takes the same work of the other modes
    assert h.seconds(_segment_spec(cfg, "plain-md")) == pytest.approx(4.0)
    # another round is another key; another segment length is other work
    assert h.seconds(_segment_spec(cfg, "sync", name="S4.0")) is None
    bigger = cfg.model_copy(update={"md": cfg.md.model_copy(update={"segment_ps": 50.0})})
    assert h.seconds(_segment_spec(bigger, "sync")) is None
    assert HistoryDurations(tmp_path / "empty").seconds(_segment_spec(cfg, "sync")) is None


def test_a_corrupt_history_is_one_warning_then_unused(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "history.sqlite").write_bytes(b"this is not a database" * 100)
    h = HistoryDurations(tmp_path)
    cfg = load_config()
    assert h.seconds(_segment_spec(cfg, "sync")) is None
    assert h.seconds(_segment_spec(cfg, "async")) is None
    warned = [r for r in caplog.records if "history" in r.getMessage()]
    assert len(warned) == 1 and "not a tandem history" in warned[0].getMessage()


def test_prediction_takes_the_history_where_it_knows_the_work(tmp_path: Path) -> None:
    cfg = _small().model_copy(update={"modes": ("sync",)})
    model = StageModel.fixed(1.0, 0.1, 1.0, 0.1)
    first = predict(cfg, TWO_CORES, PREPARED, tmp_path / "p1", model, history=tmp_path / "h")
    assert set(first.sources["simulation"]) == {"calibration"}
    # the history of one earlier run: every segment took 2 s, every ML task 0.5 s
    rows = []
    for t in load_trace(tmp_path / "p1" / "predicted-sync").tasks:
        if t.kind == "setup":
            continue
        k = int(t.name[1:].split(".")[0])
        fn = STAGE_FUNCTIONS[t.kind]
        spec = TaskSpec(name=t.name, kind=t.kind, work=FunctionCall(fn=fn),
                        features=features(cfg, "sync", t.kind, k))
        rows.append(_row(spec, 2.0 if t.kind == "simulation" else 0.5, "earlier"))
    HistoryStore(tmp_path / "h").add(rows)
    second = predict(cfg, TWO_CORES, PREPARED, tmp_path / "p2", model, history=tmp_path / "h")
    # every campaign task from the history; the baseline's segments (P...) are work it has
    # not seen, so they come from the stage model
    assert {k: set(v) for k, v in second.sources.items() if k != "simulation"} == {
        "aggregation": {"history"}, "training": {"history"}, "agent": {"history"}}
    assert second.sources["simulation"]["history"] == 6
    # 3 rounds: both segments at once (2 s), then A, M, I (0.5 s each)
    assert second.makespans["sync"] == pytest.approx(3 * (2.0 + 1.5), abs=0.01)
    # the baseline ran for the longest campaign and no longer
    base = second.runs["plain-md"]
    horizon = base.horizon
    assert horizon is not None and horizon == pytest.approx(second.makespans["sync"])
    assert all(s.started < horizon for s in base.segments)
