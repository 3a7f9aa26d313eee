"""The trace sink: a writer process the driver never waits on, and a fallback when it dies."""

from __future__ import annotations

import json
import logging
import os
import select
import signal
from pathlib import Path

import pytest

from tandem.trace.sink import TraceSink

from .test_writer import end_row


def ids(path: Path) -> list[int]:
    return [json.loads(x)["id"] for x in path.read_text().splitlines()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("process", [True, False])
def test_lines_arrive_in_order_and_close_ends_the_writer(tmp_path: Path, process: bool) -> None:
    path = tmp_path / "trace.jsonl"
    sink = TraceSink(path, process=process)
    pid = sink.pid
    assert (pid is not None) == process
    for i in range(0, 300, 3):
        sink.send([end_row(i), end_row(i + 1), end_row(i + 2)])
    sink.close()
    assert ids(path) == list(range(300))
    assert pid is None or not alive(pid)


def test_a_stopped_writer_never_blocks_the_driver(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    sink = TraceSink(path)
    assert sink.pid is not None
    os.kill(sink.pid, signal.SIGSTOP)
    try:
        for i in range(0, 60_000, 1000):   # about 4 MB of rows: more than the pipe holds
            sink.send([end_row(j) for j in range(i, i + 1000)])
    finally:
        os.kill(sink.pid, signal.SIGCONT)
    sink.close()
    assert ids(path) == list(range(60_000))


def test_a_killed_writer_is_reported_and_the_run_is_traced_in_process(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "trace.jsonl"
    sink = TraceSink(path)
    pid = sink.pid
    assert pid is not None
    sink.send([end_row(0)])
    exited = os.pidfd_open(pid)
    os.kill(pid, signal.SIGKILL)
    select.select([exited], [], [])     # it is dead: its end of the pipe is closed
    os.close(exited)
    with caplog.at_level(logging.WARNING, logger="tandem"):
        for i in range(1, 2000):    # the first send after the kill finds the pipe broken
            sink.send([end_row(i)])
        sink.close()
    assert f"trace writer (pid {pid})" in caplog.text and "in-process" in caplog.text
    got = ids(path)
    assert got == sorted(got) and set(range(1, 2000)) <= set(got)   # none lost after it
