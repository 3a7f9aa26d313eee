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
    # Which points active learning tries, and so whether it reaches the target within the
    # budget, depends on when each training ends against the simulations (on virtual time,
    # below, it is fixed); what holds whatever the machine's load:
    assert 0 < len(al.evaluations) <= SMALL.budget
    times = [t for t, _, _ in al.evaluations]
    assert times == sorted(times)
    if al.time_to_target is None:              # the budget was spent
        assert len(al.evaluations) == SMALL.budget and al.best > SMALL.target
    else:                                      # it stopped at the first result on target
        assert al.best <= SMALL.target and al.time_to_target == pytest.approx(times[-1])
        assert [v <= SMALL.target for _, _, v in al.evaluations].index(True) == len(times) - 1
    # the first results (Latin-hypercube points, all above the target) train a surrogate
    assert al.trainings >= 1
    assert len(al.durations["simulation"]) == len(al.evaluations)
    trace = load_trace(tmp_path / AL)
    kinds = {t.kind for t in trace.tasks}
    assert {"simulation", "training", "warm-up"} <= kinds
    assert all(x.by == "active-learner" for x in trace.steering)
    # at the target, what still ran (simulations, a training) was cancelled by the agent
    assert all(x.action == "cancel" and x.reason.startswith("target reached")
               for x in trace.steering)
    assert al.time_to_target is not None or not trace.steering

    sweep = asyncio.run(run_campaign(SWEEP, SMALL, platform, tmp_path / SWEEP))
    # no point of the sweep's hypercube is on target: it evaluates all of them, in any order
    assert sweep.time_to_target is None and sweep.cancelled == 0
    assert len(sweep.evaluations) == SMALL.budget and sweep.best > SMALL.target
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
