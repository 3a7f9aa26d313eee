"""The command line: the sleep-based variant end to end, and bad options named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tandem.trace.records import load_trace
from tandem_apps.ddmd.main import main


def test_mock_runs_the_campaign_driver_and_predicts_it(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("simulations: 2\niterations: 3\ncores: 2\n"
                   "mock: {simulation: 0.4, aggregation: 0.05, training: 0.2, agent: 0.05}\n")
    seconds = {"simulation": 0.4, "aggregation": 0.05, "training": 0.2, "agent": 0.05}
    assert main(["--config", str(cfg), "--mock", "--run-dir", str(tmp_path / "run")]) == 0
    out = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(out["measured_s"]) == {"sync", "async"}
    # The driver on virtual time: sync is 3 rounds of a segment (0.4 s, both lineages at once)
    # then A, M, I (0.3 s). Async gains nothing here: at 0.4 s both lineages submit segment 1
    # before the learner submits A0, so they take both cores and round 0's ML runs from 0.8 s
    # to 1.1 s; then S2.0 runs beside round 1's ML (1.1-1.4 s), S2.1 after it (1.4-1.8 s), and
    # round 2's ML ends at 2.1 s, as in sync.
    assert out["predicted_s"] == {"sync": 2.1, "async": 2.1}
    assert out["I_predicted"] == 0.0
    # The sleeping run: each stage sleeps its full time, so sync (all barriers) is never
    # faster than its schedule, and async never beats the work on 2 cores. (Its two segments
    # of round 0 end together here, so on real time either may end first and the order of the
    # next submissions may differ: test_predict's conformance test staggers the lineages.)
    assert out["measured_s"]["sync"] >= 2.1
    assert out["measured_s"]["async"] >= (6 * 0.4 + 3 * 0.3) / 2
    for mode in ("sync", "async"):
        trace = load_trace(tmp_path / "run" / mode)
        work = [t for t in trace.tasks if t.kind != "setup"]
        assert sorted(t.kind for t in work) == sorted(
            ["simulation"] * 6 + ["aggregation", "training", "agent"] * 3)
        assert all(t.state == "done" and t.launched is not None and t.ended is not None
                   and t.ended - t.launched >= seconds[t.kind] - 1e-5    # the trace's µs
                   for t in work)
        assert (tmp_path / "run" / f"predicted-{mode}" / "trace.jsonl").exists()
    assert "I_predicted" in json.loads(capsys.readouterr().out.split("\n", 1)[1])
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
