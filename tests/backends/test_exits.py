"""A leader's exit code as a task's failure (pure, over a real stderr file)."""

from __future__ import annotations

from pathlib import Path

from tandem.backends.exits import TAIL_LINES, failure_of, stderr_tail
from tandem.backends.srun import Srun
from tandem.core.values import FailureKind


def test_codes_signals_and_lost_status(tmp_path: Path) -> None:
    err = tmp_path / "stderr"
    err.write_text("boom\n")
    assert failure_of(0, "sim", str(err), killing=False) is None
    f = failure_of(3, "sim", str(err), killing=False)
    assert f is not None and f.kind is FailureKind.EXIT and f.exit_code == 3
    assert f.stderr_tail == "boom" and f.message == "sim exited with code 3"
    f = failure_of(-9, "sim", str(err), killing=True)
    assert f is not None and f.kind is FailureKind.SIGNAL and f.signal == 9
    assert f.message == "sim was killed by SIGKILL (killed on request)"
    f = failure_of(None, "sim", str(err), killing=False)
    assert f is not None and "exit status lost" in f.message


def test_a_launcher_maps_codes_to_signals_and_lost_nodes(tmp_path: Path) -> None:
    err = tmp_path / "stderr"
    srun = Srun(job_id="1", nodes=["n1", "n2"])
    err.write_text("srun: error: n2: task 0: Killed\n")
    f = failure_of(137, "srun", str(err), killing=False, launcher=srun)
    assert f is not None and f.kind is FailureKind.SIGNAL and f.signal == 9
    err.write_text("srun: error: Task launch for StepId=3.0 failed on node n2: Communication "
                   "connection failure\n")
    f = failure_of(233, "srun", str(err), killing=False, launcher=srun)
    assert f is not None and f.kind is FailureKind.NODE_FAILED and f.node == "n2"
    f = failure_of(233, "srun", str(err), killing=True, launcher=srun)
    assert f is not None and f.kind is FailureKind.EXIT   # tandem was ending it: not the node


def test_the_tail_is_the_last_whole_lines(tmp_path: Path) -> None:
    err = tmp_path / "stderr"
    err.write_text("".join(f"line {i}\n" for i in range(5000)))
    tail = stderr_tail(str(err)).splitlines()
    assert len(tail) == TAIL_LINES and tail[-1] == "line 4999"
    assert stderr_tail(str(tmp_path / "missing")) == ""
