"""The lifecycle handlers (tandem.core.handlers, and transitions.submit for a submission):
check first, then change through transitions; an event that raises was not applied."""

from __future__ import annotations

import pytest

from tandem.core.actions import Action, Kill
from tandem.core.dispatch import schedule
from tandem.core.events import Exited, Started, Submitted, TimerFired
from tandem.core.handlers import live_deadline, on_exited, on_started, on_timer
from tandem.core.policy import Order, Policy
from tandem.core.state import CoreState
from tandem.core.states import LAUNCHED, PENDING, READY, RUNNING
from tandem.core.transitions import submit as on_submitted
from tandem.core.values import KillCause
from tandem.errors import InfeasibleRequest, TandemInternalError

from .helpers import platform, spec


def test_submit_queues_a_task_with_nothing_to_wait_for_and_wires_the_others() -> None:
    s = CoreState(platform(cores=1), Policy(order=Order.FIFO))
    out: list[Action] = []
    on_submitted(s, Submitted(task_id=0, spec=spec("a")), 0.0, out)
    on_submitted(s, Submitted(task_id=1, spec=spec("b"), deps=(0,)), 0.0, out)
    assert s.tasks[0].state is READY and s.tasks[1].state is PENDING
    assert s.tasks[0].dependents == [s.tasks[1]] and s.unfinished == 2 and s.dirty
    with pytest.raises(TandemInternalError, match="submitted twice"):
        on_submitted(s, Submitted(task_id=0, spec=spec("a")), 0.0, out)
    with pytest.raises(InfeasibleRequest):
        on_submitted(s, Submitted(task_id=2, spec=spec("big", cores=2)), 0.0, out)
    assert 2 not in s.tasks and s.unfinished == 2


def test_critical_path_submissions_wait_for_the_settling() -> None:
    s = CoreState(platform(cores=1), Policy())
    out: list[Action] = []
    on_submitted(s, Submitted(task_id=0, spec=spec("a")), 0.0, out)
    on_submitted(s, Submitted(task_id=1, spec=spec("b"), deps=(0,)), 0.0, out)
    assert [t.id for t in s.burst] == [1] and s.burst_ready == []


def test_started_exited_and_timer() -> None:
    s = CoreState(platform(cores=1), Policy())
    out: list[Action] = []
    on_submitted(s, Submitted(task_id=0, spec=spec("a", timeout=2.0)), 0.0, out)
    with pytest.raises(TandemInternalError, match="exited while ready"):
        on_exited(s, Exited(0), 0.0, out)
    t = s.tasks[0]
    schedule(s, 0.0, out)
    assert t.state is LAUNCHED and live_deadline(t, 2.0, 1)
    on_started(s, Started(0), 0.5, out)
    assert t.state is RUNNING and t.started == 0.5
    on_started(s, Started(0), 0.7, out)            # a late report: ignored
    assert t.started == 0.5
    out.clear()
    on_timer(s, TimerFired(), 1.0, out)
    assert out == []
    on_timer(s, TimerFired(), 2.0, out)
    assert out == [Kill(0, KillCause.TIMEOUT)] and t.kill is KillCause.TIMEOUT
    assert not live_deadline(t, 2.0, 1)
