"""SIGTERM ends sessions in order: every process they started is ended before the program is.

Contract: while at least one session is open on the main thread's event loop, and nobody else
has claimed SIGTERM, a SIGTERM (a batch system's walltime, ``kill PID``) cancels the tasks
running those sessions, so each ends its tasks' process trees as on any error; when the last
of them has closed, the handler is removed and the signal is raised again, so the program
still terminates with SIGTERM's status. SIGINT needs nothing: ``asyncio.run`` already turns it
into a cancellation. Imports only the standard library.
Imports: nothing from tandem.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator

_sessions: set[asyncio.Task[object]] = set()
_state = {"installed": False, "received": False}


def _on_sigterm() -> None:
    _state["received"] = True
    for task in list(_sessions):
        task.cancel("SIGTERM")


@contextlib.contextmanager
def sigterm_ends(task: asyncio.Task[object] | None) -> Iterator[None]:
    """Let SIGTERM cancel ``task`` (the one running a session) while the block runs."""
    loop = asyncio.get_running_loop()
    usable = task is not None and threading.current_thread() is threading.main_thread()
    if usable and not _state["installed"]:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            usable = False            # somebody else handles SIGTERM: leave it to them
        else:
            loop.add_signal_handler(signal.SIGTERM, _on_sigterm)
            _state["installed"] = True
    if not usable or task is None:
        yield
        return
    _sessions.add(task)
    try:
        yield
    finally:
        _sessions.discard(task)
        if not _sessions and _state["installed"]:
            loop.remove_signal_handler(signal.SIGTERM)
            _state["installed"] = False
            if _state["received"]:
                _state["received"] = False
                signal.raise_signal(signal.SIGTERM)
