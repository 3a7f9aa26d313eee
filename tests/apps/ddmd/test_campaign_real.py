"""A short real campaign (OpenMM, torch, scikit-learn) end to end, sync and async, and plain MD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("openmm")
pytest.importorskip("torch")
pytest.importorskip("sklearn")

from tandem.trace.records import load_trace
from tandem_apps.ddmd.main import main
from tandem_apps.ddmd.types import RestartPoint

CONFIG = """
simulations: 2
iterations: 3
cores: 2
target_rmsd: 8.5
md: {segment_ps: 2.0, report_interval_ps: 0.2}
training: {epochs: 1, initial_epochs: 1, batch_size: 16}
agent: {n_neighbors: 5}
mock: {simulation: 0.3, aggregation: 0.05, training: 1.0, agent: 0.3}
"""


@pytest.mark.slow
def test_short_campaign_both_modes_and_baseline(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "ddmd.yaml"
    cfg.write_text(CONFIG)
    base = tmp_path / "run"
    assert main(["--config", str(cfg), "--run-dir", str(base)]) == 0
    printed = capsys.readouterr().out
    assert "I = (T_sync - T_async) / T_sync: measured" in printed
    s = json.loads((base / "summary.json").read_text())
    assert set(s["runs"]) == {"sync", "async", "plain-md"}
    for mode in ("sync", "async"):
        run = s["runs"][mode]
        assert run["segments"] == 6 and run["ml_rounds"] == 3
        # Every task of the campaign ran to completion, and the trace says where it ran.
        trace = load_trace(base / mode)
        work = [t for t in trace.tasks if t.kind != "setup"]
        assert {t.kind for t in work} == {"simulation", "aggregation", "training", "agent"}
        assert all(t.state == "done" and t.slots for t in work)
        assert (base / mode / "report.html").exists()
        assert (base / f"predicted-{mode}" / "trace.jsonl").exists()
        # restart points name real frames of real trajectories
        for rnd in range(3):
            points = json.loads((base / mode / "data" / "ml" / f"round{rnd:03d}" / "agent" /
                                 "restarts.json").read_text())
            assert points
            for p in map(RestartPoint.from_dict, points):
                assert Path(p.dcd).exists() and p.frame >= 0
    # sync restarts every later segment from the previous round's outliers
    assert s["runs"]["sync"]["restarts_used"] == 4
    # async segments of round 2 start from round 0's list at the latest (staleness 1)
    assert s["runs"]["async"]["restarts_used"] >= 2
    assert s["runs"]["plain-md"]["restarts_used"] == 0
    assert s["runs"]["plain-md"]["ml_rounds"] == 0
    # predicted before the run (empty history: from the calibration), measured beside it
    p = s["prediction"]
    assert set(p["makespan_s"]) == {"sync", "async", "plain-md"}
    assert {src for per in p["durations_from"].values() for src in per} == {"calibration"}
    assert (base / "calibration" / "trace.jsonl").exists()
    assert set(p["error"]["makespan"]) == {"sync", "async"} and "I_points" in p["error"]
    assert "predicted before the run" in printed
    # with each task's measured duration, the driver on virtual time gives about the measured
    # makespan: what is left is the dispatch between tasks, which the replay leaves out (a
    # loose bound: on a loaded machine each of the ~15 hops of this 3-s campaign may take
    # tens of ms)
    for mode in ("sync", "async"):
        assert abs(s["replayed"][mode]["error"]) < 0.25
    # the baseline stopped at the budget: the longest campaign's makespan
    budget = max(s["runs"][m]["effective"]["makespan_s"] for m in ("sync", "async"))
    assert s["baseline_budget_s"] == pytest.approx(budget, abs=0.01)
    for fig in ("rmsd_over_time.png", "latent_space.png", "async_vs_sync.html"):
        assert (base / fig).stat().st_size > 10_000
    eff = s["runs"]["sync"]["effective"]
    assert eff["best_rmsd_A"] is not None and eff["best_rmsd_A"] > 0
