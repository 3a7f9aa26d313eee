"""Where trace items go: a writer process that formats them off the driver's thread, or this
process.

Contract: :class:`TraceSink` takes lists of trace items (see :mod:`tandem.trace.writer`) and
appends their lines to the trace file in order. With ``process=True`` it starts the writer
(``sys.executable -I -S writer.py``) and sends each list as one frame on a non-blocking pipe: a
frame the pipe cannot take now waits in memory and goes with the next one, so the driver never
blocks on the writer while the run goes; :meth:`close` sends the rest, ends the pipe and waits
for the writer. If the writer cannot start or dies, the sink says so on the ``tandem`` logger
and writes the rest of the run itself (frames the writer had not read then are lost).
Imports: tandem.guardian, tandem.trace.writer.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import select
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

import tandem.trace.writer as writer
from tandem import guardian

log = logging.getLogger("tandem")

WRITER = Path(writer.__file__)
PIPE_BYTES = 1 << 20          # asked of the kernel for the pipe (Linux; the default is 64 KiB)
CLOSE_TIMEOUT_S = 60.0        # the longest close() waits for the writer to take the rest
_F_SETPIPE_SZ = 1031


class TraceSink:
    """Appends trace items to ``path``, through a writer process when ``process``."""

    def __init__(self, path: Path, *, process: bool = True) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd = -1
        self._frames: deque[bytes] = deque()   # not (fully) in the pipe yet
        self._sent = 0                          # bytes of the first of them already in it
        if process:
            self._start()
        if self._proc is None:
            self._file = open(path, "a")  # noqa: SIM115 - closed by close()

    @property
    def pid(self) -> int | None:
        """The writer process's pid, while it writes."""
        return self._proc.pid if self._proc is not None else None

    def _start(self) -> None:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(WRITER), str(self.path)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                process_group=0,   # a Ctrl-C at the terminal ends the driver, not its writer
            )
        except OSError as e:
            log.warning("tandem: could not start the trace writer (%s); tracing in-process", e)
            return
        guardian.watch(proc.pid)
        assert proc.stdin is not None
        fd = proc.stdin.fileno()
        with contextlib.suppress(OSError):
            import fcntl

            fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_BYTES)
        os.set_blocking(fd, False)
        self._proc, self._fd = proc, fd

    def send(self, items: list[Any]) -> None:
        """Append ``items``' lines (in order, after everything sent before)."""
        if not items:
            return
        if self._proc is None:
            self._write_here(items)
            return
        body = marshal.dumps(items)
        self._frames.append(writer.FRAME.pack(len(body)) + body)
        self._pump()

    def _pump(self) -> None:
        frames = self._frames
        while frames:
            first = frames[0]
            try:
                n = os.write(self._fd, memoryview(first)[self._sent:])
            except BlockingIOError:
                return
            except OSError:
                self._lost()
                return
            self._sent += n
            if self._sent == len(first):
                frames.popleft()
                self._sent = 0

    def _lost(self) -> None:
        """The writer is gone: say so, and write what it did not get here."""
        proc = self._proc
        assert proc is not None
        err = self._stop(kill=True)
        log.warning("tandem: the trace writer (pid %d) ended with %s%s; lines it had not "
                    "written are missing from %s, the rest of the run is traced in-process",
                    proc.pid, proc.returncode, f": {err}" if err else "", self.path)
        self._file = open(self.path, "a")  # noqa: SIM115 - closed by close()
        # The writer writes whole frames only: one it got part of was not written.
        frames, self._frames, self._sent = self._frames, deque(), 0
        for frame in frames:
            self._write_here(marshal.loads(frame[writer.FRAME.size:]))

    def _write_here(self, items: list[Any]) -> None:
        assert self._file is not None
        self._file.write(writer.text(items))
        self._file.flush()

    def close(self) -> None:
        """Send what is left, end the pipe and wait for the writer (at most
        ``CLOSE_TIMEOUT_S``)."""
        if self._proc is not None:
            deadline = time.monotonic() + CLOSE_TIMEOUT_S
            while self._frames and self._proc is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                select.select([], [self._fd], [], left)
                self._pump()
            if self._proc is not None:
                proc = self._proc
                unsent = bool(self._frames)
                err = self._stop(kill=unsent, timeout=max(0.0, deadline - time.monotonic()))
                if unsent or proc.returncode:
                    log.warning("tandem: the trace writer (pid %d) ended with %s%s; %s may miss "
                                "its last lines", proc.pid, proc.returncode,
                                f": {err}" if err else "", self.path)
        if self._file is not None:
            self._file.close()
            self._file = None

    def _stop(self, *, kill: bool, timeout: float = CLOSE_TIMEOUT_S) -> str:
        """End the writer (closing its input; killing it if ``kill`` or if it does not exit
        within ``timeout``) and return the tail of its stderr."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stderr is not None
        self._proc, self._fd = None, -1
        with contextlib.suppress(OSError):
            proc.stdin.close()
        if kill:
            proc.kill()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        guardian.unwatch(proc.pid)
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        return err[-500:]
