"""``tandem run`` and ``tandem journal`` (``tandem.cli.run``), through ``tandem.cli.main``
(output captured, no subprocess)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tandem.cli import main
from tests.workflows import EXAMPLES


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


def test_run_refuses_a_surrogate_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    wf = Path(__file__).resolve().parents[2] / "examples" / "surrogate" / "mc_sampler.yaml"
    assert main(["run", str(wf), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "task set 'sample' has a surrogate: block" in err and "tandem.Surrogate" in err
