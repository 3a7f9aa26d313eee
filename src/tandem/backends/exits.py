"""How an executable's leader exit becomes a task's failure: exit code, signal, lost node.

Contract: one pure-ish function (:func:`failure_of`; it reads the task's stderr file for its
tail) shared by every launcher of :class:`~tandem.backends.process.ProcessBackend`: code 0 is
success (``None``); a launcher may say that the code means a node failed
(``Launcher.lost_node``: ``NODE_FAILED`` naming the node, unless the task was being killed) or
that it stands for a signal (``Launcher.signal_of``: ``srun`` and Open MPI's ``mpiexec`` exit
with 128 + n); a negative code is the signal that ended the leader (``SIGNAL``, "killed on
request" when tandem ended it); anything else is ``EXIT`` with the code. Every failure but a
lost exit status carries the last lines of the task's stderr.
Imports: tandem.backends.launch, tandem.core.values.
"""

from __future__ import annotations

import os
import signal

from tandem.backends.launch import Launcher
from tandem.core.values import Failure, FailureKind

TAIL_BYTES = 4096
TAIL_LINES = 20
_SIGNALS = frozenset(s.value for s in signal.Signals)


def failure_of(code: int | None, argv0: str, stderr_path: str, *, killing: bool,
               launcher: Launcher | None = None) -> Failure | None:
    """The failure of a leader that exited with ``code`` (``os.waitstatus_to_exitcode``;
    ``None``: its status was lost), or ``None`` for success."""
    if code == 0:
        return None
    if code is not None and code > 0 and launcher is not None:
        tail = stderr_tail(stderr_path)
        node = None if killing else launcher.lost_node(code, tail)
        if node is not None:
            return Failure(kind=FailureKind.NODE_FAILED, node=node, exit_code=code,
                           stderr_tail=tail,
                           message=f"{argv0}: node {node!r} failed or cannot be reached "
                                   f"({launcher.name} exited with code {code})")
        sig = launcher.signal_of(code)
        if sig is not None:
            code = -sig
    if code is None:
        return Failure(kind=FailureKind.EXIT,
                       message=f"{argv0}: exit status lost (reaped by another waiter)")
    if code < 0:
        name = signal.Signals(-code).name if -code in _SIGNALS else f"signal {-code}"
        reason = " (killed on request)" if killing else ""
        return Failure(kind=FailureKind.SIGNAL, signal=-code,
                       stderr_tail=stderr_tail(stderr_path),
                       message=f"{argv0} was killed by {name}{reason}")
    return Failure(kind=FailureKind.EXIT, exit_code=code, stderr_tail=stderr_tail(stderr_path),
                   message=f"{argv0} exited with code {code}")


def stderr_tail(path: str) -> str:
    """The last lines (at most ``TAIL_LINES`` within ``TAIL_BYTES``) of a file."""
    try:
        with open(path, "rb") as f:
            start = max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES)
            f.seek(start)
            data = f.read()
    except OSError:
        return ""
    lines = data.decode(errors="replace").splitlines()
    if start > 0:
        lines = lines[1:]  # the first line was cut
    return "\n".join(lines[-TAIL_LINES:])
