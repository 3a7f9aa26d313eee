"""The campaign end to end: both methods on real processes, on virtual time, and the command."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tandem import Duration, Platform
from tandem.trace.records import load_trace
from tandem_apps.active_learning.campaign import (
    AL,
    SWEEP,
    CampaignConfig,
    run_campaign,
    simulate_campaign,
)
from tandem_apps.active_learning.main import main

# A coarse grid (tens of milliseconds per solve; the optimum reads 72.3 °C there).
SMALL = CampaignConfig(target=74.0, budget=14, grid=40, initial=4, seed=0)


def two_cores() -> Platform:
    here = Platform.local()
    cores = sorted(c for n in here.nodes for c in n.cores)
    return Platform.local(cores=cores[:2])


def test_both_methods_run_on_real_processes(tmp_path: Path) -> None:
    platform = two_cores()
    al = asyncio.run(run_campaign(AL, SMALL, platform, tmp_path / AL))
    assert al.time_to_target is not None and al.best <= SMALL.target
    assert al.trainings >= 1 and 0 < len(al.evaluations) <= SMALL.budget
    assert len(al.durations["simulation"]) == len(al.evaluations)
    times = [t for t, _, _ in al.evaluations]
    assert times == sorted(times) and al.time_to_target == pytest.approx(times[-1])
    trace = load_trace(tmp_path / AL)
    kinds = {t.kind for t in trace.tasks}
    assert {"simulation", "training", "warm-up"} <= kinds
    assert all(x.by == "active-learner" for x in trace.steering)

    sweep = asyncio.run(run_campaign(SWEEP, SMALL, platform, tmp_path / SWEEP))
    assert len(sweep.evaluations) + sweep.cancelled <= SMALL.budget
    if sweep.time_to_target is None:
        assert len(sweep.evaluations) == SMALL.budget
    else:
        assert sweep.best <= SMALL.target
    curve = sweep.best_so_far()
    assert [v for _, v in curve] == sorted((v for _, v in curve), reverse=True)


def test_the_same_campaign_on_virtual_time_is_reproducible_and_fast() -> None:
    platform = Platform.uniform(1, cores=2)
    kw = {"seconds": Duration(mean=0.5, sd=0.05), "training_seconds": Duration(mean=0.1),
          "model_grid": 24}
    cfg = CampaignConfig(target=76.0, budget=20, grid=160, seed=2)
    a = simulate_campaign(AL, cfg, platform, **kw)
    assert a == simulate_campaign(AL, cfg, platform, **kw)
    assert a.time_to_target is not None and a.trainings >= 1
    # virtual seconds: at least (simulations / cores) x 0.45 s
    assert a.elapsed >= len(a.evaluations) / 2 * 0.4
    s = simulate_campaign(SWEEP, cfg, platform, **kw)
    assert s.trainings == 0 and len(s.evaluations) + s.cancelled <= cfg.budget


def test_the_command_compares_both_and_writes_the_figure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--grid", "32", "--budget", "8", "--target", "80", "--seeds", "1",
               "--model-grid", "16", "--cores", "2", "--run-dir", str(tmp_path)])
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["measured"]) == {AL, SWEEP}
    assert set(summary["predicted"]) >= {AL, SWEEP, "simulation_s", "training_s"}
    assert (tmp_path / "best_vs_time.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "time to target" in out and "predicted on virtual time" in out


def test_bad_options_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--methods", "grid"]) == 2
    assert "unknown grid" in capsys.readouterr().err
