"""The command line, through ``tandem.cli.main`` (output captured, no subprocess)."""

from __future__ import annotations

import json
import re
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


def test_errors_exit_2_with_file_line_and_key(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "dg2.yaml"
    bad.write_text((EXAMPLES / "dg2.yaml").read_text().replace("cores: 40", 'cores: "many"'))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if '"many"' in t)
    assert err == (f'tandem: error: {bad}:{line}: task_sets[1].cores: expected an integer >= 0, '
                   'got "many"\n')
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: no such file" in capsys.readouterr().err
    assert main(["run", str(bad)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_run_prints_the_measured_makespan(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", str(EXAMPLES / "slide.yaml"), "--time-scale", "0.0001",
            "--run-dir", str(tmp_path / "a"), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "async" and out["tasks"] == 6 and out["failed"] == 0
    # the mock tasks sleep their scaled durations: the run is never faster than the
    # simulator's schedule (how much slower depends on the machine's load)
    assert out["predicted"] == pytest.approx(0.55)
    assert out["makespan"] >= 0.55 - 1e-3
    assert (tmp_path / "a" / "trace.jsonl").exists()
    args = ["run", str(EXAMPLES / "slide.yaml"), "--mode", "barrier", "--time-scale", "0.0001",
            "--run-dir", str(tmp_path / "b")]
    assert main(args) == 0
    out_text = capsys.readouterr().out
    made = re.search(r"slide \(barrier, time scale 0\.0001\): 6 tasks, makespan ([0-9.]+) s",
                     out_text)
    assert made is not None and float(made[1]) >= 0.75 - 1e-3, out_text
    assert f"run directory: {tmp_path / 'b'}" in out_text
    assert "simulator: 0.750 s for the same durations (measured +" in out_text


def test_run_refuses_real_work_on_a_logical_platform(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text("platform: {nodes: 16, cores_per_node: 168}\n"
                  "task_sets: [{name: sim, command: [sleep, '1']}]\n")
    assert main(["run", str(wf), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tandem: error: workflow 'wf': task set 'sim' runs a command")
    assert "local: true" in err


def test_run_with_failing_tasks_exits_1(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text("platform: {local: true}\ntask_sets: [{name: bad, command: [sh, -c, exit 4]}]\n")
    assert main(["run", str(wf), "--run-dir", str(tmp_path / "r")]) == 1
    captured = capsys.readouterr()
    assert "bad: failed: sh exited with code 4" in captured.out
    assert "1 of 1 tasks did not succeed" in captured.err


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


def test_run_with_a_walltime_defers_what_cannot_finish_and_exits_3(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text("platform: {nodes: 1, cores_per_node: 1}\n"
                  "task_sets:\n"
                  "  - {name: quick, count: 2, duration: 1}\n"
                  "  - {name: long, duration: 1000, depends_on: [quick]}\n"
                  "  - {name: after, duration: 1, depends_on: [long]}\n")
    # Time scale 0.01: quick tasks of 0.01 s; the long one would take 10 s, and a walltime
    # of 5 s cannot hold it: it is deferred, and what waits for it never starts.
    args = ["run", str(wf), "--time-scale", "0.01", "--walltime", "5", "--no-progress",
            "--run-dir", str(tmp_path / "r")]
    assert main(args) == 3
    captured = capsys.readouterr()
    said = ("walltime: the session closed early: nothing left fits the remaining walltime: "
            "2 done, 1 deferred, 0 preempted, 1 never started; open the next session with "
            "resume=True to continue")
    assert captured.out.count(said) == 1
    # said once: the session's own closing warning is muted while tandem run prints it
    assert not [r for r in caplog.records if r.name == "tandem.walltime"]
    assert f"--resume {tmp_path / 'r'} --walltime S" in captured.err
    assert main([*args[:-1], str(tmp_path / "j"), "--json"]) == 3
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] == 0 and out["walltime"]["deferred"] == 1


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


def test_run_resume_and_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, marker = tmp_path / "ran.log", tmp_path / "fixed"
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        "platform: {local: true}\ntask_sets:\n"
        f"  - {{name: ok, count: 3, command: [sh, -c, 'echo ran >> {log}']}}\n"
        f"  - {{name: flaky, command: [sh, -c, 'test -e {marker}']}}\n")
    rd = tmp_path / "r"
    assert main(["run", str(wf), "--run-dir", str(rd), "--no-progress"]) == 1
    capsys.readouterr()
    assert main(["journal", str(rd)]) == 0
    out = capsys.readouterr().out
    assert "3 finished, 1 failed, 0 in flight" in out and "flaky" in out
    marker.touch()
    assert main(["run", str(wf), "--resume", str(rd), "--no-progress"]) == 0
    assert log.read_text().count("ran") == 3           # the finished ones did not run again
    capsys.readouterr()
    assert main(["journal", str(rd), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["finished"], got["failed"], len(got["runs"])) == (4, 0, 2)
    assert main(["run", str(wf), "--resume", str(rd), "--run-dir", str(rd)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["journal", str(tmp_path)]) == 2
    assert "has no journal" in capsys.readouterr().err
