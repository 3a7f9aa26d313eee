"""``tandem trace export`` and ``tandem trace summary``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tandem.cli import main


def test_summary_text(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "summary", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "4 tasks" in out and "makespan" in out and "critical path" in out
    assert "train -> infer" in out and "simulation: 2 tasks" in out


def test_summary_json(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "summary", str(run_dir), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tasks"] == 4 and doc["makespan"] > 0
    assert doc["critical_path"]["names"][-1] == "infer"
    assert {k["kind"] for k in doc["kinds"]} == {"simulation", "training", "inference"}


def test_export(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    assert main(["trace", "export", str(run_dir), "--perfetto", "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert json.loads(out.read_text())["traceEvents"]
    assert main(["trace", "export", str(run_dir)]) == 2
    assert "--perfetto" in capsys.readouterr().err


def test_missing_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "summary", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tandem: error:") and "no trace here" in err
