"""The command line: the sleep-based variant end to end, and bad options named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tandem.trace.records import load_trace
from tandem_apps.ddmd.main import main


def test_mock_runs_both_modes_and_predicts_them(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("simulations: 2\niterations: 3\ncores: 2\n"
                   "mock: {simulation: 0.4, aggregation: 0.05, training: 0.2, agent: 0.05}\n")
    seconds = {"simulation": 0.4, "aggregation": 0.05, "training": 0.2, "agent": 0.05}
    assert main(["--config", str(cfg), "--mock", "--run-dir", str(tmp_path / "run")]) == 0
    out = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(out["measured_s"]) == {"sync", "async"}
    # tandem's simulator of the graph is exact: sync is 3 rounds of a segment (0.4 s, both
    # lineages at once) then A, M, I (0.3 s); async overlaps a round's ML with the next segments
    assert out["predicted_s"] == {"sync": 2.1, "async": 1.9}
    assert out["I_predicted"] == round((2.1 - 1.9) / 2.1, 4)
    # The sleeping run: each stage sleeps its full time, so it is never faster than a schedule
    # allows (how much slower depends on the machine's load, so it is not tested here).
    assert out["measured_s"]["sync"] >= 2.1            # barriers: nothing overlaps
    assert out["measured_s"]["async"] >= (6 * 0.4 + 3 * 0.3) / 2    # the work on 2 cores
    for mode in ("sync", "async"):
        trace = load_trace(tmp_path / "run" / mode)
        assert sorted(t.kind for t in trace.tasks) == sorted(
            ["simulation"] * 6 + ["aggregation", "training", "agent"] * 3)
        assert all(t.state == "done" and t.launched is not None and t.ended is not None
                   and t.ended - t.launched >= seconds[t.kind] - 1e-5    # the trace's µs
                   for t in trace.tasks)
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
