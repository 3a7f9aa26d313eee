"""Trace lines from trace rows, and the trace writer process that makes them off the driver's
thread.

Contract: the standard library only, so the writer starts in milliseconds as a script
(``python -I -S writer.py TRACE_FILE``). The driver sends frames on the writer's stdin: a
4-byte little-endian length, then a ``marshal``-ed list of items. An item is a finished line
(``str``), an end row (:data:`END_FIELDS` values) or a launch row (id, time, attempt, slots).
The writer turns each frame into lines, appends them to the trace file and flushes, so what
reached the writer survives the driver's crash; it exits at the end of its input (the driver
closed the pipe, or died). It runs in its own process group and ignores SIGINT: a Ctrl-C ends
the driver, whose end closes the pipe, and the writer then writes what it got.

``marshal`` is the same interpreter's format on both sides: the writer is started with the
driver's own ``sys.executable``.
Imports: nothing from tandem.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import struct
import sys
from collections.abc import Iterable
from typing import Any

FRAME = struct.Struct("<I")

END_FIELDS = ("id", "static", "state", "submitted", "ready", "launched", "started", "ended",
              "attempts", "deps", "slots", "failure", "peak_mb", "restored", "estimate")
"""An end row: the task id; the line's part shared by tasks of one name, kind, level, request
and submitter (``,"name":..,"kind":..,"level":..,"cores":..,"gpus":..,"by":..``); the state's
value; five times (seconds, ``None`` where a step did not happen); attempts; dependency ids;
slots and failure as JSON text; the last attempt's peak memory in MiB (``None``: not measured,
and the line has no ``peak_mb``); the journal key of a task restored from an earlier run, as
JSON text (``None``: it was not, and the line has no ``restored``); the task's estimate, where
it came from and its features as JSON text (``(seconds | None, "user" | "learned", text |
None)``; ``None``: neither estimate nor features, and the line has none of them)."""


def _time(t: float | None) -> str:
    return "null" if t is None else "%.6f" % t


def end_line(row: tuple[Any, ...]) -> str:
    tid, static, state, submitted, ready, launched, started, ended, attempts, deps, slots, \
        failure, peak, restored, estimate = row
    if ready is not None and launched is not None and started is not None \
            and ended is not None:
        times = '"submitted":%.6f,"ready":%.6f,"launched":%.6f,"started":%.6f,"ended":%.6f' \
            % (submitted, ready, launched, started, ended)
    else:
        times = '"submitted":%.6f,"ready":%s,"launched":%s,"started":%s,"ended":%s' % (
            submitted, _time(ready), _time(launched), _time(started), _time(ended))
    return '{"ev":"end","id":%d%s,"state":"%s",%s,"attempts":%d,"deps":[%s],"slots":%s,' \
        '"failure":%s%s%s%s}' % (tid, static, state, times, attempts,
                               ",".join(map(str, deps)) if deps else "", slots, failure,
                               "" if peak is None else ',"peak_mb":%.1f' % peak,
                               "" if restored is None else ',"restored":%s' % restored,
                               "" if estimate is None else _estimate(estimate))


def _estimate(estimate: tuple[Any, ...]) -> str:
    seconds, source, features = estimate
    text = "" if seconds is None else ',"estimate":%.6f,"estimated":"%s"' % (seconds, source)
    return text if features is None else text + ',"features":' + features


def launch_line(row: tuple[Any, ...]) -> str:
    tid, t, attempt, slots = row
    return '{"ev":"launch","id":%d,"t":%.6f,"attempt":%d,"slots":%s}' % (tid, t, attempt, slots)


def text(items: Iterable[Any]) -> str:
    """The trace text of a frame's items, one line each."""
    out = []
    for x in items:
        if type(x) is str:
            out.append(x)
        elif len(x) == 4:
            out.append(launch_line(x))
        else:
            out.append(end_line(x))
    out.append("")
    return "\n".join(out)


def _read(stream: Any, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: writer.py TRACE_FILE (frames on stdin)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(10)   # background work: tasks and the driver come first when cores are busy
    stdin = sys.stdin.buffer
    with open(argv[1], "a") as f:
        while True:
            head = _read(stdin, FRAME.size)
            if head is None:
                return 0
            body = _read(stdin, FRAME.unpack(head)[0])
            if body is None:          # the driver died mid-frame: what came before is kept
                return 0
            f.write(text(marshal.loads(body)))
            f.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
