"""A driver killed with SIGKILL leaves no process behind: its executables (and the children
they forked), its function workers (and theirs) and its trace writer end, by the guardian."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.procs import pid_alive

DRIVER = textwrap.dedent("""\
    import asyncio, os, sys, subprocess
    from pathlib import Path
    import tandem
    from tandem import guardian

    out = Path(sys.argv[1])
    ready = out / "ready"      # a FIFO the test reads: one line per started process set

    def forks(path):
        child = subprocess.Popen(["sleep", "300"])
        with open(path, "w") as f:
            f.write(f"fn {os.getpid()} {child.pid}\\n")
        import time
        time.sleep(300)

    async def main():
        async with tandem.open_session(tandem.Platform.local(virtual_gpus=3),
                                       run_dir=out / "run") as s:
            for i in range(2):
                s.execute(f"sleep 300 & echo exe{i} $$ $! > {ready}; wait", shell=True,
                          cores=0, gpus=1, name=f"exe{i}")
            s.submit(forks, str(ready), cores=0, gpus=1, name="fn")
            writer = s.trace.writer_pid if s.trace is not None else None
            with open(ready, "w") as f:
                f.write(f"driver {os.getpid()} {guardian.pid() or 0} {writer or ''}\\n")
            await asyncio.sleep(3600)

    asyncio.run(main())
    """)
NAMES = ("exe0", "exe1", "fn", "driver")


def start_driver(out: Path, source: str = DRIVER) -> tuple[subprocess.Popen[bytes],
                                                           dict[str, list[int]]]:
    """Run ``source`` as a driver in ``out``; once its tasks and children run, the driver and
    the pids each reported (read from a FIFO: woken by their writes, no polling)."""
    fifo = out / "ready"
    os.mkfifo(fifo)
    (out / "driver.py").write_text(source)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    keep = os.open(fifo, os.O_WRONLY)        # a writer of our own: no end of file between lines
    driver = subprocess.Popen([sys.executable, str(out / "driver.py"), str(out)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dead = os.pidfd_open(driver.pid)
    got: dict[str, list[int]] = {}
    data = b""
    try:
        end = time.monotonic() + 120
        while len(got) < len(NAMES):
            left = end - time.monotonic()
            assert left > 0, f"the driver did not start its tasks (got {sorted(got)})"
            ready, _, _ = select.select([rfd, dead], [], [], left)
            if dead in ready:
                err = driver.stderr.read().decode() if driver.stderr else ""
                raise AssertionError(f"the driver ended: {err}")
            data += os.read(rfd, 4096)
            *lines, data = data.split(b"\n")
            for line in lines:
                name, *pids = line.decode().split()
                got[name] = [int(p) for p in pids]
    finally:
        for fd in (rfd, keep, dead):
            os.close(fd)
    return driver, got


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait (on pidfds, no polling) until every pid has ended; the ones still alive."""
    fds = {}
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            fds[os.pidfd_open(p)] = p
    end = time.monotonic() + timeout
    try:
        while fds and time.monotonic() < end:
            ready, _, _ = select.select(list(fds), [], [], end - time.monotonic())
            for fd in ready:
                os.close(fd)
                del fds[fd]
    finally:
        for fd in fds:
            os.close(fd)
    return [p for p in pids if pid_alive(p)]


def test_a_killed_driver_leaves_no_process(tmp_path: Path) -> None:
    driver, got = start_driver(tmp_path)
    try:
        pids = got["exe0"] + got["exe1"] + got["fn"]
        guard, writer = got["driver"][1], got["driver"][2:]
        pids += writer
        assert all(pid_alive(p) for p in [*pids, guard])
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        t0 = time.monotonic()
        left = wait_gone([*pids, guard], 60)
        elapsed = time.monotonic() - t0
        assert left == [], f"still alive after the driver was killed: {left}"
        print(f"every process gone {elapsed:.2f} s after the driver's SIGKILL")
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def test_the_guardian_leaves_with_the_last_session_and_ends_nothing(tmp_path: Path) -> None:
    import asyncio

    import psutil

    import tandem
    from tandem import guardian

    async def main() -> tuple[int | None, int | None]:
        async with tandem.open_session(tandem.Platform.local(), run_dir=tmp_path / "a") as s:
            first = guardian.pid()
            async with tandem.open_session(tandem.Platform.local(),
                                           run_dir=tmp_path / "b") as inner:
                assert guardian.pid() == first          # one guardian per driver process
                await inner.execute(["true"])
            assert guardian.pid() == first              # the outer session still has it
            await s.execute(["true"])
        return first, guardian.pid()

    first, after = asyncio.run(asyncio.wait_for(main(), 60))
    assert first is not None and after is None
    assert not psutil.pid_exists(first) or psutil.Process(first).status() == "zombie"
    assert [p.pid for p in psutil.Process().children()] == []
