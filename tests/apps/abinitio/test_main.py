"""The application end to end on a tiny configuration: both campaigns on real PySCF tasks,
the summary's numbers against each run's trace."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tandem.trace.records import load_trace
from tandem_apps.abinitio.main import main


def test_both_campaigns_run_and_the_summary_matches_their_traces(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rd = tmp_path / "ab"
    assert main(["--run-dir", str(rd), "--chains", "2", "--steps", "12", "--basis", "sto-3g",
                 "--min-pairs", "6", "--retrain-every", "6", "--cores", "2"]) == 0
    out = capsys.readouterr().out
    assert "faster" in out and "surrogate answered" in out
    summary = json.loads((rd / "summary.json").read_text())
    real, sur = summary["runs"]["real"], summary["runs"]["surrogate"]
    assert real["samples"] == sur["samples"] == 24
    kinds = Counter(t.kind for t in load_trace(rd / "real").tasks)
    assert kinds["hf"] == real["real_tasks"] > 0
    assert all(t.state == "done" for t in load_trace(rd / "real").tasks)
    kinds = Counter(t.kind for t in load_trace(rd / "surrogate").tasks)
    assert kinds["hf-real"] == sur["real_tasks"] > 0
    assert kinds["hf-audit"] == sur["audit_tasks"]
    assert kinds["hf-retrain"] >= sur["surrogate"]["versions"]
    assert (rd / "surrogate" / "hf.jsonl").exists()
    assert set(sur["vs_real"]) == {"energy_mEh", "bond_A", "angle_deg"}


def test_bad_options_are_one_line_and_status_2(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--run-dir", str(tmp_path), "--modes", "fast"]) == 2
    assert "--modes: fast not among real, surrogate" in capsys.readouterr().err
    assert main(["--run-dir", str(tmp_path), "--steps", "0"]) == 2
    assert "steps must be an integer >= 1" in capsys.readouterr().err
