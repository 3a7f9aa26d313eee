"""SIGTERM to a program with an open session ends every process the session started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.procs import pid_alive

SCRIPT = textwrap.dedent("""
    import asyncio, sys, time
    import tandem

    async def main():
        async with tandem.open_session(tandem.Platform.local(), run_dir=sys.argv[1],
                                       kill_grace=0.5) as s:
            s.execute(["sh", "-c", "echo $$ > " + sys.argv[2] + "; exec sleep 100"])
            s.submit(time.sleep, 100)
            await s.wait_all()

    asyncio.run(main())
""")



def test_sigterm_ends_the_session_and_its_processes(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text(SCRIPT)
    pid_file = tmp_path / "pid"
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "run"), str(pid_file)],
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text().strip():
            assert time.monotonic() < deadline, "the task never started"
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert pid_alive(child)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGTERM
    assert not pid_alive(child)
    ends = [line for line in (tmp_path / "run" / "trace.jsonl").read_text().splitlines()
            if '"ev":"end"' in line]
    assert len(ends) == 2 and all('"state":"cancelled"' in e for e in ends)
