"""Calibration from a trace, predictions with it, and what-if over platform sizes."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from tandem.errors import SpecError
from tandem.sim import calibrate, platform_like, predict, simulate_to_run_dir, what_if
from tandem.sim.calibrate import describe, fit, set_of
from tandem.spec import Platform, Resources
from tandem.spec.workflow import Duration, TaskSet, Workflow
from tests.paper import dg


def workflow(sd: float = 5.0, time_scale: float = 1.0) -> Workflow:
    plat = Platform.uniform(2, cores=4, gpus=1)
    return Workflow(name="w", platform=plat, time_scale=time_scale, task_sets=(
        TaskSet(name="sim", count=12, kind="simulation", resources=Resources(cores=1),
                duration=Duration(mean=100, sd=sd)),
        TaskSet(name="train", kind="training", resources=Resources(cores=1, gpus=1),
                duration=Duration(mean=40), depends_on=("sim",)),
        TaskSet(name="infer", count=2, kind="inference", resources=Resources(cores=2, gpus=1),
                duration=Duration(mean=10, sd=1), depends_on=("train",)),
    ))


def test_set_names() -> None:
    assert set_of("sim.12") == "sim"
    assert set_of("a.b.3") == "a.b"
    assert set_of("train") == "train"
    assert set_of("v1.x") == "v1.x"


def test_fit_models() -> None:
    e = fit([1.0, 2.0, 3.0])
    assert e.distribution == "empirical" and e.samples == (1.0, 2.0, 3.0) and e.mean == 2.0
    n = fit([1.0, 2.0, 3.0], "normal")
    assert n.distribution == "normal" and n.sd == pytest.approx(1.0)
    assert fit([4.0], "normal").distribution == "fixed"
    with pytest.raises(SpecError):
        fit([], "normal")
    with pytest.raises(SpecError):
        fit([1.0], "poisson")  # type: ignore[arg-type]


def test_round_trip_through_a_simulated_trace(tmp_path: Path) -> None:
    wf = workflow()
    run = simulate_to_run_dir(wf, tmp_path / "r", seed=3, overhead=0.25)
    cal = calibrate(tmp_path / "r", model="normal")
    assert cal.tasks == 15
    assert cal.launch_latency == pytest.approx(0.25)
    assert cal.dispatch_gap == pytest.approx(0.0)
    assert cal.overhead == pytest.approx(0.25)
    drawn = [r.duration for r in run.records if r.name.startswith("sim")]
    assert cal.by_set["sim"].mean == pytest.approx(statistics.fmean(d for d in drawn if d))
    assert cal.by_set["train"].distribution == "fixed" and cal.by_set["train"].mean == 40.0
    assert cal.by_kind["simulation"].mean == cal.by_set["sim"].mean
    assert describe(cal)["by_set"]["sim"]["distribution"] == "normal"
    # Predicting with the calibration reproduces the calibrated run's scale.
    p = predict(wf, calibration=cal, seeds=10)
    assert p.overhead == pytest.approx(0.25)
    assert p.p50 == pytest.approx(run.makespan, rel=0.1)


def test_calibration_is_in_measured_seconds(tmp_path: Path) -> None:
    # A run at time_scale 1/100 calibrates the same workflow at the same scale.
    wf = workflow(sd=0.0, time_scale=0.01)
    simulate_to_run_dir(wf, tmp_path / "r")
    cal = calibrate(tmp_path / "r")
    assert cal.by_set["sim"].mean == pytest.approx(1.0)
    applied = cal.apply(wf)
    sim = applied.task_set("sim").duration
    assert sim is not None and sim.mean == pytest.approx(100.0)
    assert predict(wf, calibration=cal, seeds=1).p50 == pytest.approx(
        predict(wf, seeds=1).p50)


def test_kind_fallback(tmp_path: Path) -> None:
    simulate_to_run_dir(workflow(sd=0.0), tmp_path / "r")
    cal = calibrate(tmp_path / "r")
    other = Workflow(name="o", platform=workflow().platform, task_sets=(
        TaskSet(name="md", count=4, kind="simulation", duration=Duration(mean=1.0)),))
    md = cal.apply(other).task_set("md").duration
    assert md is not None and md.mean == pytest.approx(100.0)
    assert cal.duration_for("nothing", "nothing") is None


def test_gap_from_a_runtime_like_trace(tmp_path: Path) -> None:
    # Hand-written records: b becomes ready at 2.0 and is launched at 2.5 (a 0.5 s gap).
    lines = [
        {"ev": "run", "platform": [], "policy": "async/fifo", "t": 0.0, "epoch": 0.0},
        {"ev": "end", "id": 0, "name": "a", "kind": "k", "state": "done", "submitted": 0.0,
         "ready": 0.0, "launched": 0.0, "started": 0.1, "ended": 2.0, "deps": []},
        {"ev": "end", "id": 1, "name": "b", "kind": "k", "state": "done", "submitted": 0.0,
         "ready": 2.0, "launched": 2.5, "started": 2.6, "ended": 3.0, "deps": [0]},
        {"ev": "end", "id": 2, "name": "c", "kind": "k", "state": "failed", "submitted": 0.0,
         "ready": 0.0, "launched": 0.0, "started": 0.1, "ended": 9.0, "deps": []},
    ]
    (tmp_path / "trace.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n{torn")
    cal = calibrate(tmp_path)
    assert cal.tasks == 2
    assert cal.launch_latency == pytest.approx(0.1)
    assert cal.dispatch_gap == pytest.approx(0.5)
    assert cal.by_set["a"].mean == pytest.approx(1.9)


def test_empty_trace(tmp_path: Path) -> None:
    (tmp_path / "trace.jsonl").write_text('{"ev": "run"}\n')
    with pytest.raises(SpecError, match="no ended task"):
        calibrate(tmp_path)


def test_what_if_picks_the_smallest_platform_meeting_the_deadline() -> None:
    rows = what_if(dg(2), None, nodes=[32, 4, 8, 16], deadline=1500.0, seeds=1)
    assert [r.nodes for r in rows] == [4, 8, 16, 32]
    assert [r.meets for r in rows] == [False, False, True, True]
    assert [r.chosen for r in rows] == [False, False, True, False]
    assert rows[2].p50 == pytest.approx(1307.6)
    assert rows[2].node_hours == pytest.approx(16 * 1307.6 / 3600)
    assert rows[0].p50 > rows[1].p50 > rows[2].p50
    assert all(r.meets is None for r in what_if(dg(2), None, nodes=[16], seeds=1))
    with pytest.raises(SpecError):
        what_if(dg(2), None, nodes=[0])


def test_platform_like() -> None:
    p = platform_like(dg(2), 3)
    assert len(p.nodes) == 3 and p.total_cores == 3 * 168 and p.total_gpus == 18


def test_the_history_fills_the_durations_task_sets_lack(tmp_path: Path) -> None:
    from tandem.history.store import HistoryStore, Row
    from tandem.sim.calibrate import from_history
    from tandem.spec import Executable

    HistoryStore(tmp_path).add([
        Row(key="sleep@md", kind="sim", name=f"md.{i}", state="done", cores=1, gpus=0,
            ranks=1, memory_mb=None, features=None, sizes=None, duration=d, node="n0",
            run="r", t=0.0) for i, d in enumerate((4.0, 6.0))])
    wf = Workflow(name="w", platform=Platform.uniform(1, cores=2), task_sets=(
        TaskSet(name="md", count=3, work=Executable(argv=("sleep", "5"))),
        TaskSet(name="agg", duration=Duration(mean=1.0), depends_on=("md",)),
        TaskSet(name="new", work=Executable(argv=("sleep", "1")))))
    filled = from_history(wf, tmp_path).apply(wf, missing_only=True)
    md, agg, new = filled.task_sets
    assert md.duration is not None and md.duration.mean == 5.0
    assert agg.duration == Duration(mean=1.0) and new.duration is None
    with pytest.raises(SpecError, match="does not exist"):
        from_history(wf, tmp_path / "none")
