"""Running a Workflow for real: mock sets on a logical platform, real work on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tandem.config import loads_workflow
from tandem.errors import SpecError
from tandem.runtime.workflow import run_workflow

MOCKS = """\
name: two_branches
platform: {nodes: 4, cores_per_node: 64, gpus_per_node: 8}
task_sets:
  - {name: a, count: 8, cores: 32, gpus: 4, duration: 0.2}
  - {name: b, count: 3, cores: 16, duration: 0.1, depends_on: [a]}
  - {name: c, count: 2, gpus: 2, cores: 1, duration: 0.4, depends_on: [a]}
  - {name: d, duration: 0.1, depends_on: [b]}
"""


def test_mock_workflow_on_a_logical_platform(tmp_path: Path) -> None:
    wf = loads_workflow(MOCKS)
    barrier = run_workflow(wf, mode="barrier", run_dir=tmp_path / "b")
    asynchronous = run_workflow(wf, run_dir=tmp_path / "a")
    assert asynchronous.mode == "async" and not barrier.failed and not asynchronous.failed
    # barrier: 0.2 + max(0.1, 0.4) + 0.1; async: 0.2 + max(0.1 + 0.1, 0.4)
    assert barrier.makespan == pytest.approx(0.7, abs=0.05)
    assert asynchronous.makespan == pytest.approx(0.6, abs=0.05)
    assert asynchronous.task_sets == ("a",) * 8 + ("b",) * 3 + ("c",) * 2 + ("d",)
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["tasks"] == 14 and summary["failed"] == 0 and summary["mode"] == "async"
    assert summary["task_sets"]["c"]["last_end"] == pytest.approx(0.6, abs=0.05)
    assert (tmp_path / "a" / "trace.jsonl").exists()


def test_time_scale_override(tmp_path: Path) -> None:
    wf = loads_workflow(MOCKS)
    result = run_workflow(wf, time_scale=0.5, run_dir=tmp_path)
    assert result.time_scale == 0.5
    assert result.makespan == pytest.approx(0.3, abs=0.04)
    with pytest.raises(SpecError, match="time_scale must be a number > 0"):
        run_workflow(wf, time_scale=0, run_dir=tmp_path)


REAL = """\
name: real
platform: {local: true}
task_sets:
  - {name: mock, duration: 0.05}
  - {name: shell, command: ["sh", "-c", "echo hi"], depends_on: [mock]}
  - {name: call, function: "os.path:join", args: [x, y], duration: 0.1, depends_on: [shell]}
"""


def test_commands_and_functions_run_as_real_processes_here(tmp_path: Path) -> None:
    result = run_workflow(loads_workflow(REAL), run_dir=tmp_path)
    assert not result.failed
    order = sorted(result.records, key=lambda r: r.started or 0.0)
    assert [r.name for r in order] == ["mock", "shell", "call"]
    shell_dirs = list((tmp_path / "tasks").glob("*-shell"))
    assert len(shell_dirs) == 1 and (shell_dirs[0] / "stdout").read_text() == "hi\n"


def test_real_work_on_a_logical_platform_is_refused(tmp_path: Path) -> None:
    wf = loads_workflow(REAL.replace("{local: true}", "{nodes: 2, cores_per_node: 4}"))
    with pytest.raises(SpecError) as info:
        run_workflow(wf, run_dir=tmp_path)
    msg = str(info.value)
    assert "task set 'shell' runs a command" in msg and "local: true" in msg
    assert "2 nodes" in msg


def test_failures_are_in_the_result(tmp_path: Path) -> None:
    wf = loads_workflow(REAL.replace('"echo hi"', '"exit 3"'))
    result = run_workflow(wf, run_dir=tmp_path)
    states = {r.name: r.state.value for r in result.failed}
    assert states == {"shell": "failed", "call": "dependency_failed"}
