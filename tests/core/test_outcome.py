"""How a task ends (tandem.core.outcome): the kill cause is a typed value, separate from the
canceller's reason, so a reason that reads like a timeout or a preemption is only a message."""

from __future__ import annotations

import pytest

from tandem.core.actions import Kill
from tandem.core.events import CancelRequested, Started, TimerFired
from tandem.core.outcome import of_exit, of_upstream, with_root
from tandem.core.states import TaskState
from tandem.core.task import CoreTask
from tandem.core.values import Failure, FailureKind, KillCause
from tandem.errors import SpecError

from .helpers import Driver, platform, spec

S = TaskState
SIGTERM = Failure(kind=FailureKind.SIGNAL, message="SIGTERM", signal=15)


@pytest.mark.parametrize("reason", ["timeout", "preempted", "cancelled by the user"])
@pytest.mark.parametrize("retries", [0, 1])
def test_a_cancel_ends_cancelled_whatever_its_reason_says(reason: str, retries: int) -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a", retries=retries, timeout=60.0))
    d.send(Started(a))
    d.send(CancelRequested(task_id=a, reason=reason))
    assert d.killed == [Kill(a, KillCause.CANCEL)]
    d.finish(a, SIGTERM)
    assert [x.task_id for x in d.launched] == [a]           # never relaunched
    assert d.resolved[a].state is S.CANCELLED
    failure = d.resolved[a].failure
    assert failure is not None and failure.kind is FailureKind.CANCELLED
    assert failure.message == reason


def test_a_shutdown_cancel_carries_its_cause_to_the_kill() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a"))
    d.send(CancelRequested(task_id=a, reason="session closing", cause=KillCause.SHUTDOWN))
    assert d.killed == [Kill(a, KillCause.SHUTDOWN)]
    d.finish(a, SIGTERM)
    assert d.resolved[a].state is S.CANCELLED


def test_a_cancel_cause_must_be_cancel_or_shutdown() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a"))
    with pytest.raises(SpecError, match="cause"):
        d.send(CancelRequested(task_id=a, cause=KillCause.TIMEOUT))
    assert d.killed == []


def test_a_timeout_with_a_retry_left_is_retried_then_times_out() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a", retries=1, timeout=5.0))
    d.now = 5.0
    assert d.send(TimerFired()) == [Kill(a, KillCause.TIMEOUT)]
    d.finish(a, SIGTERM)
    assert [x.attempt for x in d.launched] == [1, 2]
    d.now = 10.0
    d.send(TimerFired())
    d.finish(a, SIGTERM)
    assert d.resolved[a].state is S.TIMED_OUT


def _task(tid: int = 1, **kw: object) -> CoreTask:
    return CoreTask(tid, spec("t", **kw), (), 0.0)  # type: ignore[arg-type]


def test_of_exit_direct() -> None:
    t = _task(retries=1)
    t.attempt = 1
    boom = Failure(kind=FailureKind.EXIT, message="boom", exit_code=1)
    state, failure, retry = of_exit(t, boom)
    assert (state, retry) == (S.FAILED, True) and failure.root_task_id == 1
    t.kill, t.kill_message = KillCause.CANCEL, "timeout"
    state, failure, retry = of_exit(t, None)
    assert (state, retry, failure.message) == (S.CANCELLED, False, "timeout")
    t.kill = KillCause.TIMEOUT
    state, failure, retry = of_exit(t, SIGTERM)
    assert (state, retry, failure.kind) == (S.TIMED_OUT, True, FailureKind.TIMEOUT)
    t.kill = None
    with pytest.raises(ValueError):
        of_exit(t, None)


def test_of_upstream_names_the_root_even_when_it_was_forgotten() -> None:
    root = _task(1)
    root.state = S.FAILED
    root.failure = Failure(kind=FailureKind.EXIT, message="boom", root_task_id=1)
    mid = _task(2)
    mid.state = S.DEPENDENCY_FAILED
    mid.failure = Failure(kind=FailureKind.DEPENDENCY, message="up", root_task_id=1)
    state, failure = of_upstream(mid, {1: root, 2: mid})
    assert state is S.DEPENDENCY_FAILED and failure.root_task_id == 1
    assert "dependency 't' (task 1) failed" in failure.message
    state, failure = of_upstream(mid, {2: mid})          # the root was forgotten
    assert state is S.DEPENDENCY_FAILED and "dependency task 1 failed" in failure.message
    cancelled = _task(3)
    cancelled.state = S.CANCELLED
    cancelled.failure = Failure(kind=FailureKind.CANCELLED, message="no", root_task_id=3,
                                by="me")
    state, failure = of_upstream(cancelled, {3: cancelled})
    assert state is S.CANCELLED and failure.by == "me" and "was cancelled: no" in failure.message


def test_with_root() -> None:
    f = with_root(Failure(kind=FailureKind.EXIT, message="x", exit_code=2), 7)
    assert (f.root_task_id, f.exit_code, f.message) == (7, 2, "x")
