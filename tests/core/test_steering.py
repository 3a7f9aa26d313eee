"""Steering in the pure core: cancel with a reason, pause/resume (holding or releasing cores),
preemption, priority changes, and dependents of running tasks. No event loop, no sleep."""

from __future__ import annotations

import signal

import pytest

from tandem.core.actions import Kill, Launch, Pause, Preempt, Resume, Steered
from tandem.core.events import (
    CancelRequested,
    PauseRequested,
    PreemptRequested,
    PriorityChanged,
    ResumeRequested,
    Started,
    TimerFired,
)
from tandem.core.lifecycle import LEGAL, Cause
from tandem.core.policy import Order, Policy
from tandem.core.states import TaskState
from tandem.core.task import CoreTask
from tandem.core.transitions import advance
from tandem.core.values import Failure, FailureKind, KillCause
from tandem.errors import TandemInternalError

from .helpers import Driver, platform, spec

S = TaskState
FAIL = Failure(kind=FailureKind.EXIT, message="x", exit_code=1)


def steered(actions: list[object]) -> list[Steered]:
    return [a for a in actions if isinstance(a, Steered)]


def test_new_states_go_through_the_table() -> None:
    assert (S.RUNNING, S.PAUSED) in LEGAL and (S.PAUSED, S.RUNNING) in LEGAL
    assert (S.SUSPENDED, S.RESUMING) in LEGAL and (S.RESUMING, S.RUNNING) in LEGAL
    assert (S.PAUSED, S.TIMED_OUT) not in LEGAL     # paused time never times out
    assert (S.PENDING, S.PAUSED) not in LEGAL
    d = Driver(platform(cores=1))
    a = d.submit(spec("a"))
    d.send(Started(a))
    task = CoreTask(a, spec("a"), (), 0.0)
    task.state = S.RUNNING
    with pytest.raises(TandemInternalError, match=r"task 0 \('a'\): running -> resuming"):
        advance(task, S.RESUMING, Cause.RESUMED)


def test_cancel_records_reason_and_who_and_reaches_the_whole_downstream() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a"))
    b = d.submit(spec("b"), deps=(a,))
    c = d.submit(spec("c"), deps=(b,))
    out = d.send(CancelRequested(task_id=a, reason="stuck in a basin", by="lof-agent"))
    assert steered(out) == [Steered("cancel", a, "lof-agent", "stuck in a basin")]
    assert [k for k in out if isinstance(k, Kill)] == [Kill(a, KillCause.CANCEL)]
    d.finish(a)    # the backend reports the killed process gone
    for tid in (a, b, c):
        r = d.core.record(tid)
        assert r.state is S.CANCELLED and r.failure is not None
        assert r.failure.by == "lof-agent" and r.failure.root_task_id == a
    assert d.core.record(a).failure.message == "stuck in a basin"  # type: ignore[union-attr]
    assert "stuck in a basin" in d.core.record(c).failure.message  # type: ignore[union-attr]


def test_a_cancel_without_who_is_not_a_steering_action() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a"))
    assert steered(d.send(CancelRequested(task_id=a, reason="closing"))) == []
    assert steered(d.send(CancelRequested(task_id=a, reason="again", by="me"))) == [
        Steered("cancel", a, "me", "again")]
    d.finish(a)
    late = CancelRequested(task_id=a, reason="late", by="me")
    assert steered(d.send(late)) == []   # ended: ignored


def test_pause_keeping_slots_holds_them_and_resume_continues() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a"))
    b = d.submit(spec("b"))
    d.send(Started(a))
    out = d.send(PauseRequested(task_id=a, by="me", reason="look"))
    assert Pause(a, False) in out and d.core.state(a) is S.PAUSED
    assert d.launched_ids() == [a]           # b still waits: a holds its core
    assert d.send(PauseRequested(task_id=a)) == []   # already paused: ignored, not recorded
    out = d.send(ResumeRequested(task_id=a, by="me"))
    assert Resume(a, None) in out and d.core.state(a) is S.RUNNING
    d.finish(a)
    assert d.launched_ids() == [a, b]


def test_pause_releasing_cores_lets_others_run_and_resume_waits_for_cores_on_its_node() -> None:
    d = Driver(platform(cores=2, gpus=1, nodes=2))
    a = d.submit(spec("a", cores=2, gpus=1))     # node n0, cores 0 and 1, GPU 0
    b = d.submit(spec("b", cores=2))             # node n1
    c = d.submit(spec("c", cores=2))             # waits
    d.send(Started(a))
    out = d.send(PauseRequested(task_id=a, release=True, by="agent"))
    assert out[:2] == [Steered("pause", a, "agent", "", (("release", True),)), Pause(a, True)]
    assert d.core.state(a) is S.SUSPENDED
    launch_c = next(x for x in out if isinstance(x, Launch))
    assert launch_c.task_id == c and launch_c.placement.node == "n0"
    assert d.core.pool.held()["n0"] == ({0, 1}, {"0"})   # c's cores, a's GPU
    d.send(ResumeRequested(task_id=a))
    assert d.core.state(a) is S.RESUMING
    assert not [x for x in d.finish(b) if isinstance(x, Resume)]   # n1 is no use to a
    out = d.finish(c)
    resume = next(x for x in out if isinstance(x, Resume))
    assert resume.placement is not None and resume.placement.node == "n0"
    assert resume.placement.slots[0].cores == (0, 1) and resume.placement.gpus == ("0",)
    assert d.core.state(a) is S.RUNNING
    d.finish(a)
    assert d.core.pool.free_cores == 4 and d.core.pool.free_gpus == 2


def test_resuming_task_takes_its_turn_by_priority() -> None:
    d = Driver(platform(cores=1), Policy(order=Order.PRIORITY))
    a = d.submit(spec("a", priority=1))
    d.send(PauseRequested(task_id=a, release=True))
    b = d.submit(spec("b", priority=0))      # runs on a's released core
    c = d.submit(spec("c", priority=5))      # waits, ahead of a
    d.send(ResumeRequested(task_id=a))
    d.finish(b)
    assert d.launched_ids() == [a, b, c]     # c first (priority 5 > 1)
    assert d.core.state(a) is S.RESUMING
    out = d.finish(c)
    assert any(isinstance(x, Resume) for x in out) and d.core.state(a) is S.RUNNING


def test_paused_time_does_not_count_towards_the_timeout() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a", timeout=10.0))
    assert d.core.next_deadline() == 10.0
    d.now = 4.0
    d.send(PauseRequested(task_id=a))
    assert d.core.next_deadline() is None
    d.now = 100.0
    d.send(ResumeRequested(task_id=a))
    assert d.core.next_deadline() == 106.0
    assert d.send(TimerFired()) == []        # the stale deadline at 10 does nothing
    d.now = 106.0
    assert d.send(TimerFired()) == [Kill(a, KillCause.TIMEOUT)]


def test_preempt_requeues_without_using_a_retry() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a", retries=0))
    out = d.send(PreemptRequested(task_id=a, grace=2.0, signal=signal.SIGTERM, by="sched"))
    assert Preempt(a, signal.SIGTERM, 2.0) in out
    assert d.send(PreemptRequested(task_id=a, grace=1.0, signal=signal.SIGTERM)) == []
    out = d.finish(a, Failure(kind=FailureKind.SIGNAL, message="x", signal=15))
    assert [x for x in out if isinstance(x, Launch)] == [
        Launch(a, d.launched[0].placement, 2, 1)]
    r = d.core.record(a)
    assert r.state is S.LAUNCHED and r.attempts == 2 and r.preempted == 1
    d.finish(a, FAIL)    # a real failure now: no retry was left, preemption used none
    assert d.core.record(a).state is S.FAILED


def test_preempted_task_waits_behind_a_more_urgent_one() -> None:
    d = Driver(platform(cores=1), Policy(order=Order.PRIORITY))
    a = d.submit(spec("a", priority=0))
    b = d.submit(spec("b", priority=9))
    d.send(PreemptRequested(task_id=a, grace=1.0, signal=signal.SIGUSR1))
    d.finish(a)
    assert d.launched_ids() == [a, b]
    d.finish(b)
    assert d.launched_ids() == [a, b, a]


def test_cancel_during_a_preemption_wins() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a"))
    d.send(PreemptRequested(task_id=a, grace=5.0, signal=signal.SIGTERM))
    stop = CancelRequested(task_id=a, reason="stop", by="me")
    assert Kill(a, KillCause.CANCEL) in d.send(stop)
    d.finish(a)
    assert d.core.record(a).state is S.CANCELLED and d.launched_ids() == [a]


def test_preempting_a_paused_task_continues_it_and_a_suspended_one_resumes_first() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a"))
    d.send(PauseRequested(task_id=a))
    out = d.send(PreemptRequested(task_id=a, grace=1.0, signal=signal.SIGTERM))
    assert d.core.state(a) is S.RUNNING and Preempt(a, signal.SIGTERM, 1.0) in out
    d.finish(a)          # requeued and relaunched on the free core
    d.send(PauseRequested(task_id=a, release=True))
    b = d.submit(spec("b"))                  # takes the core
    d.send(PreemptRequested(task_id=a, grace=1.0, signal=signal.SIGTERM))
    assert d.core.state(a) is S.RESUMING
    out = d.finish(b)
    kinds = [type(x) for x in out if isinstance(x, Resume | Preempt)]
    assert kinds == [Resume, Preempt]


def test_exit_while_suspended_gives_back_what_it_held() -> None:
    d = Driver(platform(cores=2, gpus=1))
    a = d.submit(spec("a", cores=1, gpus=1))
    d.send(PauseRequested(task_id=a, release=True))
    assert d.core.pool.free_cores == 2 and d.core.pool.free_gpus == 0
    d.finish(a, FAIL)                        # killed by someone else while stopped
    assert d.core.record(a).state is S.FAILED
    assert d.core.pool.free_cores == 2 and d.core.pool.free_gpus == 1


def test_priority_change_reorders_the_ready_queue() -> None:
    for order in (Order.PRIORITY, Order.CRITICAL_PATH):
        d = Driver(platform(cores=1), Policy(order=order))
        a = d.submit(spec("a"))
        b = d.submit(spec("b"))
        c = d.submit(spec("c"))
        out = d.send(PriorityChanged(task_id=c, priority=3, by="me", reason="urgent"))
        assert steered(out) == [Steered("priority", c, "me", "urgent",
                                        (("priority", 3), ("was", 0)))]
        d.finish(a)
        d.finish(c)
        assert d.launched_ids() == [a, c, b]


def test_priority_change_of_a_running_task_matters_at_its_requeue() -> None:
    d = Driver(platform(cores=1), Policy(order=Order.PRIORITY))
    a = d.submit(spec("a"))
    d.submit(spec("b", priority=1))
    d.send(PriorityChanged(task_id=a, priority=5))
    d.send(PreemptRequested(task_id=a, grace=1.0, signal=signal.SIGTERM))
    d.finish(a)
    assert d.launched_ids() == [a, a]        # back first: its new priority beats b's


def test_dependent_of_a_running_task_starts_right_after_it() -> None:
    d = Driver(platform(cores=2))
    a = d.submit(spec("a"))
    d.send(Started(a))
    b = d.submit(spec("b"), deps=(a,))
    assert d.core.state(b) is S.PENDING
    d.now = 3.0
    d.finish(a)
    assert d.launched_ids() == [a, b] and d.core.record(b).launched == 3.0
