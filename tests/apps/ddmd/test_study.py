"""The study command end to end on a tiny configuration with sleeping stages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tandem_apps.ddmd.science import Frames
from tandem_apps.ddmd.study import main, states_visited


def test_states_are_distinct_cells_up_to_a_time() -> None:
    f = Frames(time=np.array([1.0, 2.0, 3.0, 4.0]), rmsd=np.array([5.1, 5.2, 4.4, 3.0]),
               fnc=np.array([0.11, 0.12, 0.11, 0.5]), lineage=np.zeros(4, dtype=int),
               segment=np.zeros(4, dtype=int))
    assert states_visited(f, 2.0) == 1       # 5.1 and 5.2 Å, fnc 0.11 and 0.12: one cell
    assert states_visited(f, 3.0) == 2
    assert states_visited(f, 10.0) == 3
    assert states_visited(f, 0.5) == 0


@pytest.mark.slow
def test_study_runs_every_kind_over_seeds(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("simulations: 2\niterations: 2\ncores: 2\ntarget_rmsd: 9.5\n"
                   "mock: {simulation: 0.2, aggregation: 0.05, training: 0.1, agent: 0.05}\n")
    assert main(["--config", str(cfg), "--mock", "--seeds", "2",
                 "--run-dir", str(tmp_path / "s")]) == 0
    doc = json.loads((tmp_path / "s" / "study.json").read_text())
    assert set(doc["runs"]) == {"1", "2"}
    for runs in doc["runs"].values():
        assert set(runs) == {"sync", "async", "plain-md"}
        # the baseline stopped at the seed's longest campaign
        assert runs["plain-md"]["makespan_s"] <= max(runs["sync"]["makespan_s"],
                                                     runs["async"]["makespan_s"]) + 0.3
        for r in runs.values():
            assert r["states_per_core_hour"] > 0
    s = doc["summary"]
    # stand-in segments reach 10 - k Å at segment k: the target 9.5 Å at the end of segment 0
    assert s["sync"]["reached"] == 2 and s["sync"]["time_to_target_s"]["median"] > 0
    assert s["plain-md"]["seeds"] == 2
    out = capsys.readouterr().out
    assert "states / core-hour" in out and "measured:" in out


def test_bad_seeds_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--mock", "--seeds", "0"]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err
