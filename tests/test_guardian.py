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

    def forks(path):
        child = subprocess.Popen(["sleep", "300"])
        Path(path).write_text(f"{os.getpid()} {child.pid}")
        import time
        time.sleep(300)

    async def main():
        async with tandem.open_session(tandem.Platform.local(virtual_gpus=3),
                                       run_dir=out / "run") as s:
            for i in range(2):
                s.execute(f"sleep 300 & c=$!; echo $$ $c > {out}/exe{i}.tmp; "
                          f"mv {out}/exe{i}.tmp {out}/exe{i}; wait", shell=True,
                          cores=0, gpus=1, name=f"exe{i}")
            s.submit(forks, str(out / "fn.tmp"), cores=0, gpus=1, name="fn")
            writer = s.trace.writer_pid if s.trace is not None else None
            (out / "driver").write_text(f"{os.getpid()} {guardian.pid()} {writer or ''}")
            await asyncio.sleep(3600)

    asyncio.run(main())
    """)


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
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        names = ["exe0", "exe1", "driver"]
        deadline = time.monotonic() + 120
        while not all((tmp_path / n).exists() for n in names) or not (
                any(tmp_path.glob("fn.tmp")) and (tmp_path / "fn.tmp").read_text()):
            assert driver.poll() is None, driver.stderr.read().decode() if driver.stderr else ""
            assert time.monotonic() < deadline, "the driver did not start its tasks"
            time.sleep(0.05)
        pids = [int(x) for n in ("exe0", "exe1", "fn.tmp")
                for x in (tmp_path / n).read_text().split()]
        info = (tmp_path / "driver").read_text().split()
        guard = int(info[1])
        pids += [int(x) for x in info[2:]]
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
