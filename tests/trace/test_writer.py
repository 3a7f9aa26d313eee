"""The trace writer: rows become the trace's JSON lines; frames reach the file whole."""

from __future__ import annotations

import json
import marshal
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tandem.trace.writer import END_FIELDS, FRAME, text

STATIC = ',"name":"sim","kind":"simulation","level":2,"cores":4,"gpus":1'
SLOTS = '[["n0",[0,1,2,3],["0"]]]'


def end_row(tid: int, **over: object) -> tuple[object, ...]:
    row = dict(id=tid, static=STATIC, state="done", submitted=1.0, ready=1.5, launched=2.0,
               started=2.25, ended=3.125, attempts=1, deps=(0, 1), slots=SLOTS, failure="null",
               peak_mb=None, restored=None, estimate=None)
    row.update(over)
    return tuple(row[f] for f in END_FIELDS)


def test_an_end_row_is_the_end_record() -> None:
    (line,) = text([end_row(7)]).splitlines()
    assert json.loads(line) == {
        "ev": "end", "id": 7, "name": "sim", "kind": "simulation", "level": 2, "cores": 4,
        "gpus": 1, "state": "done", "submitted": 1.0, "ready": 1.5, "launched": 2.0,
        "started": 2.25, "ended": 3.125, "attempts": 1, "deps": [0, 1],
        "slots": [["n0", [0, 1, 2, 3], ["0"]]], "failure": None,
    }


def test_steps_that_did_not_happen_are_null_and_a_failure_is_kept() -> None:
    failure = json.dumps({"kind": "dependency", "message": 'upstream "a" failed'})
    row = end_row(3, state="dependency_failed", ready=None, launched=None, started=None,
                  attempts=0, deps=(), slots="[]", failure=failure)
    rec = json.loads(text([row]))
    assert (rec["ready"], rec["launched"], rec["started"], rec["deps"]) == (None, None, None, [])
    assert rec["failure"]["message"] == 'upstream "a" failed'


def test_a_measured_peak_is_in_the_end_record_and_an_unmeasured_one_is_absent() -> None:
    measured, unmeasured = (json.loads(x) for x in
                            text([end_row(1, peak_mb=812.46), end_row(2)]).splitlines())
    assert measured["peak_mb"] == 812.5
    assert "peak_mb" not in unmeasured


def test_an_estimate_says_where_it_came_from_and_features_are_kept() -> None:
    learned, given, neither = (json.loads(x) for x in text([
        end_row(1, estimate=(2.5, "learned", '{"n": 4}')), end_row(2, estimate=(1.0, "user",
                                                                                None)),
        end_row(3)]).splitlines())
    assert (learned["estimate"], learned["estimated"], learned["features"]) == \
        (2.5, "learned", {"n": 4})
    assert (given["estimated"], "features" in given) == ("user", False)
    assert not {"estimate", "estimated", "features"} & set(neither)


def test_lines_launch_rows_and_end_rows_keep_their_order() -> None:
    lines = text(['{"ev":"run"}', (5, 0.5, 2, SLOTS), end_row(4)]).splitlines()
    assert [json.loads(x)["ev"] for x in lines] == ["run", "launch", "end"]
    assert json.loads(lines[1]) == {"ev": "launch", "id": 5, "t": 0.5, "attempt": 2,
                                    "slots": [["n0", [0, 1, 2, 3], ["0"]]]}


def frame(items: list[object]) -> bytes:
    body = marshal.dumps(items)
    return FRAME.pack(len(body)) + body


def writer(path: Path) -> subprocess.Popen[bytes]:
    import tandem.trace.writer as w

    return subprocess.Popen([sys.executable, "-I", "-S", w.__file__, str(path)],
                            stdin=subprocess.PIPE)


def test_the_writer_keeps_whole_frames_when_its_driver_dies_mid_frame(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    proc = writer(path)
    assert proc.stdin is not None
    proc.stdin.write(frame(['{"ev":"run"}', end_row(0)]))
    proc.stdin.write(frame([end_row(1)])[:9])      # the driver dies here
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert [json.loads(x).get("id") for x in path.read_text().splitlines()] == [None, 0]


def test_the_writer_outlasts_a_ctrl_c_and_ends_with_its_input(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    proc = writer(path)
    assert proc.stdin is not None
    proc.stdin.write(frame([end_row(0)]))
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)     # the writer is up (its handlers are set) once it wrote a frame
    os.kill(proc.pid, signal.SIGINT)
    proc.stdin.write(frame([end_row(1)]))
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert [json.loads(x)["id"] for x in path.read_text().splitlines()] == [0, 1]


def test_a_restored_task_says_its_key_and_others_do_not() -> None:
    restored, ran = (json.loads(x) for x in text([
        end_row(1, restored='"sim.3f2a"', launched=None, started=None, attempts=0),
        end_row(2)]).splitlines())
    assert restored["restored"] == "sim.3f2a" and restored["launched"] is None
    assert "restored" not in ran
