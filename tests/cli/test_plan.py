"""``tandem validate`` and ``tandem predict`` (``tandem.cli.plan``), through ``tandem.cli.main``
(output captured, no subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tandem.cli import main
from tests.workflows import EXAMPLES, REFERENCE


def test_validate_summarises(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLES / "dg2.yaml")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "workflow 'dg2' is valid" in out
    assert "5 task sets, 256 tasks (all mock)" in out
    assert "4 levels in barrier mode: {T0} {T1T2} {T3T6, T4T5} {T7}" in out
    assert "16 nodes x 168 cores x 6 GPUs (2688 cores, 96 GPUs in all)" in out


def test_validate_names_the_async_structure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLES / "ddmd_mock.yaml")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "12 levels in barrier mode" in out and "6 levels with the async dependencies" in out


def test_predict_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(EXAMPLES / "dg2.yaml"), "--json", "--seeds", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("t_seq", "t_async", "improvement", "lower_bound", "bounds", "simulated"):
        assert key in out
    seq, asy = REFERENCE["dg2"]
    assert out["t_seq"] == pytest.approx(seq, abs=0.05)
    assert out["t_async"] == pytest.approx(asy, abs=0.05)
    assert out["improvement"] == pytest.approx(0.261, abs=0.001)
    assert set(out["simulated"]) == {"async", "barrier"}
    assert out["simulated"]["barrier"]["p50"] == pytest.approx(seq, abs=0.05)
    assert out["simulated"]["async"]["p95"] == pytest.approx(asy, abs=0.05)


def test_predict_table_and_one_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(EXAMPLES / "slide.yaml"), "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "T_seq" in out and "7500.0 s" in out and "5500.0 s" in out and "26.7%" in out
    assert main(["predict", str(EXAMPLES / "slide.yaml"), "--mode", "async", "--json",
                 "--seeds", "1"]) == 0
    assert set(json.loads(capsys.readouterr().out)["simulated"]) == {"async"}


def test_predict_platform_override(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["predict", str(EXAMPLES / "dg2.yaml"), "--json", "--seeds", "1", "--nodes", "8"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert "8 nodes x 168 cores x 6 GPUs" in out["platform"]
    assert out["simulated"]["async"]["p50"] > REFERENCE["dg2"][1]   # two GPU waves now
    assert main(["predict", str(EXAMPLES / "dg2.yaml"), "--cores-per-node", "8"]) == 2
    assert "can never fit" in capsys.readouterr().err


def test_predict_from_a_trace_and_what_if(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    assert main(["run", str(EXAMPLES / "slide.yaml"), "--time-scale", "0.0001",
                 "--run-dir", str(run_dir)]) == 0
    capsys.readouterr()
    args = ["predict", str(EXAMPLES / "slide.yaml"), "--from-trace", str(run_dir), "--json",
            "--seeds", "2", "--what-if-nodes", "1,2", "--deadline", "1"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["calibrated_from"] == str(run_dir)
    # durations fitted from the run: seconds as measured there (scale 1/10000)
    assert out["simulated"]["async"]["p50"] == pytest.approx(0.55, rel=0.05)
    assert out["simulated"]["barrier"]["p50"] == pytest.approx(0.75, rel=0.05)
    assert [row["nodes"] for row in out["what_if"]] == [1, 2]
    assert out["what_if"][0]["meets"] is True and out["what_if"][0]["chosen"] is True
    args = ["predict", str(EXAMPLES / "slide.yaml"), "--seeds", "1", "--what-if-nodes", "1,2"]
    assert main(args) == 0
    assert "what if" in capsys.readouterr().out
    assert main(["predict", str(EXAMPLES / "slide.yaml"), "--deadline", "5"]) == 2
    assert "--deadline goes with --what-if-nodes" in capsys.readouterr().err


def test_predict_out_writes_simulated_runs_for_report(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pred"
    assert main(["predict", str(EXAMPLES / "dg2.yaml"), "--seeds", "1", "--out", str(out),
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["prediction_run_dirs"] == {m: str(out / m) for m in ("barrier", "async")}
    seq = REFERENCE["dg2"][0]
    assert main(["trace", "summary", str(out / "barrier"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["makespan"] == pytest.approx(seq, abs=0.05)
    assert main(["report", str(out / "async"), "--compare", str(out / "barrier")]) == 0
    assert (out / "async" / "report.html").exists()


def test_predict_with_a_walltime_says_how_much_finishes_and_how_many_allocations(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text("platform: {nodes: 1, cores_per_node: 1}\n"
                  "task_sets:\n"
                  "  - {name: sim, count: 6, duration: 2}\n")
    assert main(["predict", str(wf), "--mode", "async", "--seeds", "1", "--walltime", "11",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["walltime"]
    # Grace 3 s and margin 1 s by default: tasks are launched to end by 7 s, so 3 fit.
    assert out["runs"][0]["done"] == 3 and out["allocations"] == 2
    assert out["fraction_done"] == 0.5 and out["work_fraction"] == 0.5
    assert main(["predict", str(wf), "--mode", "async", "--seeds", "1", "--walltime", "3"]) == 2
    assert "leave no time to run" in capsys.readouterr().err
    assert main(["predict", str(wf), "--mode", "async", "--seeds", "1", "--walltime", "5"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "walltime (async, seed 0): in 5 s: 0 of 6 tasks finish" in text
    assert "6 tasks can never finish in allocations of 5 s" in text


SURROGATE = Path(__file__).resolve().parents[2] / "examples" / "surrogate" / "mc_sampler.yaml"


def test_predict_a_surrogate_backed_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(SURROGATE), "--mode", "async", "--seeds", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    sur = out["surrogates"]["async"]
    c = sur["sets"]["sample"]
    assert c["calls"] == 200 and c["surrogate"] + c["real"] == 200 and c["retrains"] >= 1
    assert sur["without_p50"] == pytest.approx(157.0)
    assert sur["speedup"] == pytest.approx(157.0 / out["simulated"]["async"]["p50"])
    assert main(["predict", str(SURROGATE), "--mode", "async", "--seeds", "1"]) == 0
    text = capsys.readouterr().out
    assert "surrogate of 'sample' answered" in text and "every call real" in text


def test_a_walltime_prediction_refuses_a_surrogate_model(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(SURROGATE), "--mode", "async", "--seeds", "1",
                 "--walltime", "100"]) == 2
    assert "does not model the surrogate of task set 'sample'" in capsys.readouterr().err
