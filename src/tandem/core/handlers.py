"""The handlers of the drivers' lifecycle events: a start, an exit, a timer (a submission is
:func:`tandem.core.transitions.submit`; a start and an exit are transitions' own).

Contract: one function per event type, ``(state, event, now, out) -> None``, that checks the
event before it changes anything (an event that raises was not applied) and makes its changes
through :mod:`tandem.core.transitions`. Pure: no I/O, no clock.

Imports: tandem.core.actions, tandem.core.events, tandem.core.locality, tandem.core.state,
tandem.core.states,
tandem.core.task, tandem.core.transitions, tandem.core.values.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from tandem.core.actions import Action, Kill
from tandem.core.events import Exited, Started, TimerFired
from tandem.core.locality import expire
from tandem.core.state import CoreState
from tandem.core.states import LAUNCHED, RUNNING
from tandem.core.task import CoreTask
from tandem.core.transitions import exited, kill, start
from tandem.core.values import KillCause

_TIMEOUT = KillCause.TIMEOUT


on_started: Callable[[CoreState, Started, float, list[Action]], None] = start
on_exited: Callable[[CoreState, Exited, float, list[Action]], None] = exited
"""A start and an exit are :func:`tandem.core.transitions.start` and
:func:`~tandem.core.transitions.exited` themselves, which check the task before they change
anything (a call less on every lifecycle)."""


def on_timer(s: CoreState, ev: TimerFired, now: float, out: list[Action]) -> None:
    if s.wait_heap:
        expire(s, now)      # tasks waiting for their inputs' node whose time is up
    d = s.deadlines
    tasks = s.tasks
    while d and d[0][0] <= now:
        when, tid, attempt = heapq.heappop(d)
        t = tasks.get(tid)
        if t is not None and live_deadline(t, when, attempt):
            kill(t, _TIMEOUT)
            out.append(Kill(t.id, _TIMEOUT))


def live_deadline(t: CoreTask, when: float, attempt: int) -> bool:
    """Whether ``(when, attempt)`` is the armed timeout of ``t``'s live, unkilled attempt."""
    return t.attempt == attempt and t.deadline == when and t.kill is None \
        and (t.state is LAUNCHED or t.state is RUNNING)

