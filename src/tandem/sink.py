"""A writer process fed frames on a pipe that the driver never waits on (the trace's, the
journal's), with the driver itself as the fallback.

Contract: :class:`ProcessSink` starts ``sys.executable -I -S SCRIPT ARGS...`` (a standard
library script that reads frames from its stdin: a 4-byte little-endian length, then a
``marshal``-ed list of items) and sends each list of items given to :meth:`ProcessSink.send`
as one frame on a non-blocking pipe: a frame the pipe cannot take now waits in memory and goes
with the next one, so the driver never blocks while the run goes. :meth:`ProcessSink.close`
sends the rest, ends the pipe and waits for the writer (at most ``CLOSE_TIMEOUT_S``). If the
writer cannot start or dies, the sink says so on the ``tandem`` logger and hands every frame
the writer did not get (whole frames only: the writer applies whole frames) to ``local``, the
in-process fallback, from then on. With ``acks``, :meth:`ProcessSink.sync` sends a frame and
waits for the writer's one-byte answer on its stdout (the writer answers a frame that asks for
it once it has applied it).

``marshal`` is the same interpreter's format on both sides: the writer is started with the
driver's own ``sys.executable``. The writer runs in its own process group (a Ctrl-C at the
terminal ends the driver, whose end closes the pipe; the writer then applies what it got) and
is watched by the guardian.
Imports: tandem.guardian.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import select
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tandem import guardian

log = logging.getLogger("tandem")

FRAME = struct.Struct("<I")
PIPE_BYTES = 1 << 20          # asked of the kernel for the pipe (Linux; the default is 64 KiB)
CLOSE_TIMEOUT_S = 60.0        # the longest close() waits for the writer to take the rest
_F_SETPIPE_SZ = 1031


def _exited_within(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for ``proc`` to exit, at most ``timeout`` seconds, on its pidfd (``Popen.wait``
    with a timeout polls, sleeping up to 50 ms between looks)."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):     # no pidfds here, or it is gone already
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


class ProcessSink:
    """Frames of items to a writer process (``script`` with ``args``), else to ``local``."""

    def __init__(self, script: Path, args: list[str], *, what: str,
                 local: Callable[[list[Any]], None], process: bool = True,
                 acks: bool = False) -> None:
        self.what = what                       # for messages: "the trace writer"
        self._local = local
        self._acks = acks
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd = -1
        self._frames: deque[bytes] = deque()   # not (fully) in the pipe yet
        self._sent = 0                          # bytes of the first of them already in it
        if process:
            self._start(script, args)

    @property
    def pid(self) -> int | None:
        """The writer process's pid, while it writes."""
        return self._proc.pid if self._proc is not None else None

    def _start(self, script: Path, args: list[str]) -> None:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(script), *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE if self._acks else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                process_group=0,   # a Ctrl-C at the terminal ends the driver, not its writer
            )
        except OSError as e:
            log.warning("tandem: could not start %s (%s); writing in-process", self.what, e)
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
        """Hand ``items`` on (in order, after everything sent before)."""
        if not items:
            return
        if self._proc is None:
            self._local(items)
            return
        body = marshal.dumps(items)
        self._frames.append(FRAME.pack(len(body)) + body)
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

    def _drain(self, deadline: float) -> None:
        """Block until every frame is in the pipe (or the deadline passes)."""
        while self._frames and self._proc is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            select.select([], [self._fd], [], left)
            self._pump()

    def sync(self, items: list[Any], timeout: float = CLOSE_TIMEOUT_S) -> bool:
        """Send ``items`` (a frame the writer answers) and wait for the answer: everything
        sent before has been applied. ``False`` if it did not come within ``timeout``."""
        if self._proc is None:
            self._local(items)
            return True
        self.send(items)
        deadline = time.monotonic() + timeout
        self._drain(deadline)
        proc = self._proc
        if proc is None:                # the writer died: the rest was applied here
            return True
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        left = max(0.0, deadline - time.monotonic())
        if not select.select([fd], [], [], left)[0]:
            return False
        if os.read(fd, 1):
            return True
        self._lost()                    # end of its output: it died
        return True

    def _lost(self) -> None:
        """The writer is gone: say so, and apply what it did not get here."""
        proc = self._proc
        assert proc is not None
        err = self._stop(kill=True)
        log.warning("tandem: %s (pid %d) ended with %s%s; what it had not written is "
                    "missing, the rest of the run is written in-process", self.what, proc.pid,
                    proc.returncode, f": {err}" if err else "")
        # The writer applies whole frames only: one it got part of was not applied.
        frames, self._frames, self._sent = self._frames, deque(), 0
        for frame in frames:
            self._local(marshal.loads(frame[FRAME.size:]))

    def close(self) -> None:
        """Send what is left, end the pipe and wait for the writer (at most
        ``CLOSE_TIMEOUT_S``)."""
        if self._proc is None:
            return
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        self._drain(deadline)
        if self._proc is None:
            return
        proc = self._proc
        unsent = bool(self._frames)
        err = self._stop(kill=unsent, timeout=max(0.0, deadline - time.monotonic()))
        if unsent or proc.returncode:
            log.warning("tandem: %s (pid %d) ended with %s%s; what it had not written is "
                        "missing", self.what, proc.pid, proc.returncode,
                        f": {err}" if err else "")

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
        if not _exited_within(proc, timeout):
            proc.kill()
        proc.wait()
        guardian.unwatch(proc.pid)
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        if proc.stdout is not None:
            proc.stdout.close()
        return err[-500:]
