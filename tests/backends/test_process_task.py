"""Tests of one executable's process tree as the process backend holds it, with real processes
and no backend."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

from tandem.backends.process_task import ProcessTask, signal_group


def leader(script: str) -> ProcessTask:
    """``/bin/sh -c script`` in a session of its own, as the process backend starts a task."""
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", script], dict(os.environ), setsid=True)
    return ProcessTask(task_id=1, argv0="sh", pid=pid, pidfd=os.pidfd_open(pid),
                       stderr_path="/dev/null")


def stat(pid: int) -> list[str] | None:
    """State, ppid, pgrp... of ``pid`` from ``/proc``; ``None`` once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def children(pid: int) -> list[int]:
    kids = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        fields = stat(int(entry))
        if fields is not None and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def wait_for(cond: Callable[[], object], seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def watch(task: ProcessTask) -> tuple[asyncio.Event, Callable[[ProcessTask, int], None]]:
    """Watch the leader as the backend does; the event is set once the task is gone, and the
    callback is for held descendants' exits."""
    loop = asyncio.get_running_loop()
    gone = asyncio.Event()

    def leader_exit() -> None:
        if task.reap(loop) and task.gone:
            gone.set()

    def kid_exit(t: ProcessTask, fd: int) -> None:
        t.forget(loop, fd)
        if t.gone:
            gone.set()

    loop.add_reader(task.pidfd, leader_exit)
    return gone, kid_exit


def test_signal_group_of_a_gone_group_is_no_error() -> None:
    task = leader("exit 0")
    os.waitpid(task.pid, 0)
    os.close(task.pidfd)
    signal_group(task.pid, signal.SIGTERM)


def test_terminate_ends_descendants_that_left_the_group() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = leader("setsid sleep 60 & sleep 60")

        def outside() -> list[int]:
            return [c for c in children(task.pid)
                    if (s := stat(c)) is not None and int(s[2]) != task.pid]

        wait_for(outside)
        away = outside()
        gone, kid_exit = watch(task)
        task.terminate(loop, signal.SIGTERM, 5.0, kid_exit)
        assert task.killing and task.timer is not None and task.kids
        await asyncio.wait_for(gone.wait(), 10)
        task.cancel_timer()
        assert task.reaped and task.code == -signal.SIGTERM
        assert all((s := stat(c)) is None or s[0] == "Z" for c in away)

    asyncio.run(main())


def test_stop_cont_and_escalate() -> None:
    async def main() -> None:
        task = leader("sleep 60")
        gone, _ = watch(task)
        wait_for(lambda: stat(task.pid) is not None)
        task.stop()
        assert task.stopped
        wait_for(lambda: (s := stat(task.pid)) is not None and s[0] == "T")
        task.cont(None)
        assert not task.stopped
        wait_for(lambda: (s := stat(task.pid)) is not None and s[0] != "T")
        task.escalate()
        await asyncio.wait_for(gone.wait(), 10)
        assert task.code == -signal.SIGKILL

    asyncio.run(main())
