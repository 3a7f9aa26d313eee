"""The command line: the sleep-based variant end to end, and bad options named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tandem_apps.ddmd.main import main


def test_mock_runs_both_modes_and_predicts_them(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("simulations: 2\niterations: 3\ncores: 2\n"
                   "mock: {simulation: 0.4, aggregation: 0.05, training: 0.2, agent: 0.05}\n")
    assert main(["--config", str(cfg), "--mock", "--run-dir", str(tmp_path / "run")]) == 0
    out = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(out["measured_s"]) == {"sync", "async"}
    for mode in ("sync", "async"):
        assert (tmp_path / "run" / mode / "trace.jsonl").exists()
        # the sleeping run and tandem's simulator of the same graph agree
        assert out["measured_s"][mode] == pytest.approx(out["predicted_s"][mode], rel=0.15)
    assert out["predicted_s"]["async"] < out["predicted_s"]["sync"]
    assert "I_predicted" in json.loads(capsys.readouterr().out)
    assert (tmp_path / "run" / "mock.yaml").exists()
    assert (tmp_path / "run" / "async_vs_sync.html").exists()


def test_bad_config_is_one_line_naming_the_key(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("md: {segmnt_ps: 3}\n")
    assert main(["--config", str(cfg), "--mock", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}: md.segmnt_ps: unknown key" in err
    assert "Traceback" not in err


def test_too_many_cores_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cores", "4096", "--mock", "--run-dir", str(tmp_path / "r")]) == 2
    assert "cores: 4096 asked" in capsys.readouterr().err
