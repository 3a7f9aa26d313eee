"""Every transition goes through advance (tandem.core.transitions); forgetting final tasks."""

from __future__ import annotations

import gc
import sys

import pytest

from tandem.core import transitions as tr
from tandem.core.actions import Action, Launch
from tandem.core.events import (
    CancelRequested,
    Exited,
    PauseRequested,
    PriorityChanged,
    ResumeRequested,
    Started,
    Submitted,
    TimerFired,
)
from tandem.core.lifecycle import NEXT, Cause
from tandem.core.policy import Mode, Order, Policy
from tandem.core.scheduler import Scheduler
from tandem.core.state import CoreState
from tandem.core.states import FINAL, TaskState
from tandem.core.task import CoreTask
from tandem.core.transitions import advance
from tandem.core.values import Failure, FailureKind, Placement, Slot
from tandem.errors import SpecError, TandemInternalError
from tandem.spec import Resources, TaskSpec

from .helpers import NOOP, Driver, platform, spec

S = TaskState
BOOM = Failure(kind=FailureKind.EXIT, message="boom", exit_code=1)


@pytest.mark.parametrize("state", list(TaskState))
@pytest.mark.parametrize("cause", list(Cause))
def test_advance_follows_the_table_and_nothing_else(state: TaskState, cause: Cause) -> None:
    t = CoreTask(3, spec("x"), (), 0.0)
    t.state = state
    new = NEXT.get((state, cause))
    for target in TaskState:
        t.state = state
        if target is new:
            advance(t, target, cause)
            assert t.state is target
        else:
            with pytest.raises(TandemInternalError, match=f"task 3 \\('x'\\): {state.value} "):
                advance(t, target, cause)
            assert t.state is state


def test_forget_drops_a_final_task_and_refuses_one_that_is_not() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a"))
    b = d.submit(spec("b"))
    with pytest.raises(SpecError, match="not final"):
        d.core.forget(a)
    d.finish(a)
    d.core.forget(a)
    assert a not in d.core.tasks
    with pytest.raises(SpecError, match=f"no task with id {a}"):
        d.core.state(a)
    with pytest.raises(SpecError, match=f"no task with id {a}"):
        d.core.record(a)
    with pytest.raises(SpecError, match=f"unknown task id {a}"):
        d.submit(spec("c"), deps=(a,))
    with pytest.raises(SpecError):
        d.core.forget(a)
    assert d.core.state(b) is S.LAUNCHED


def test_forgotten_tasks_leave_nothing_behind() -> None:
    """10,000 tasks submitted, finished and forgotten: every structure of the core is empty
    (or bounded by a small constant), whatever paths the tasks took."""
    policy = Policy(order=Order.CRITICAL_PATH, mode=Mode.BARRIER)
    core = Scheduler(platform(cores=4), policy)
    now = 0.0
    running: list[int] = []
    n = 10_000
    for start in range(0, n, 100):
        events = []
        for i in range(start, start + 100):
            deps = (i - 1,) if i % 3 == 0 and i % 100 else ()
            s = spec("t", timeout=50.0 if i % 2 else None, estimate=1.0 if i % 5 else None)
            events.append(Submitted(task_id=i, spec=s, deps=deps))
        for a in core.handle_many(events, now):
            if type(a) is Launch:
                running.append(a.task_id)
        if start % 700 == 0:   # some waiting tasks are cancelled while queued or pending
            for tid in list(core.tasks):
                if core.state(tid) in (S.READY, S.PENDING):
                    core.handle(CancelRequested(task_id=tid, reason="no"), now)
                    break
        while running:
            now += 0.5
            tid = running.pop()
            failure = BOOM if tid % 7 == 0 else None
            for a in core.handle(Exited(tid, failure), now):
                if type(a) is Launch:
                    running.append(a.task_id)
        for tid in [t for t, v in core.tasks.items() if v.state in FINAL]:
            core.forget(tid)
    core.handle(TimerFired(), now + 1000.0)
    assert core.unfinished == 0 and len(core.tasks) == 0
    assert sum(core.counts().values()) == 0
    foot = core.footprint()
    assert foot["tasks"] == foot["running"] == foot["held_by_barrier"] == foot["burst"] == 0
    assert foot["deadlines"] <= 64 and foot["releases"] <= 64 and foot["queued_entries"] <= 64


def test_a_forgotten_dependency_does_not_break_its_running_dependents() -> None:
    d = Driver(platform(cores=2), Policy(order=Order.CRITICAL_PATH))
    a = d.submit(spec("a", estimate=1.0))
    b = d.submit(spec("b", estimate=1.0))
    c = d.submit(spec("c", estimate=1.0), deps=(a, b))
    d.finish(a)
    d.core.forget(a)
    d.submit(spec("e", estimate=5.0), deps=(c,))    # raises c's ancestors: a is gone
    d.finish(b)
    assert d.core.state(c) is S.LAUNCHED


def test_a_task_cancelled_while_its_dependency_runs_can_be_forgotten() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a"))
    b = d.submit(spec("b"), deps=(a,))
    d.send(CancelRequested(task_id=b, reason="no"))
    d.core.forget(b)
    d.finish(a)                       # a's dependents no longer name b
    assert d.core.state(a) is S.DONE


def test_pause_resume_and_retry_go_through_the_table() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a", retries=1, timeout=10.0))
    d.send(Started(a))
    d.now = 4.0
    d.send(PauseRequested(task_id=a, release=True))
    assert d.core.state(a) is S.SUSPENDED and d.core.next_deadline() is None
    d.now = 100.0
    d.send(ResumeRequested(task_id=a))
    assert d.core.state(a) is S.RUNNING and d.core.next_deadline() == 106.0
    d.finish(a, BOOM)
    assert d.core.state(a) is S.LAUNCHED and d.launched[-1].attempt == 2


def test_after_forget_nothing_in_the_core_refers_to_the_task() -> None:
    d = Driver(platform(cores=1), Policy(mode=Mode.BARRIER))
    a = d.submit(spec("a", timeout=9.0, estimate=1.0))
    b = d.submit(spec("b"), deps=(a,))
    c = d.submit(spec("c", estimate=1.0))
    d.send(PriorityChanged(task_id=c, priority=5))       # leaves a stale queue entry
    d.send(CancelRequested(task_id=b, reason="no"))
    d.send(CancelRequested(task_id=c, reason="no"))
    d.finish(a)
    views = [d.core.tasks[i] for i in (a, b, c)]
    for i in (a, b, c):
        d.core.forget(i)
    gc.collect()
    for v in views:
        assert sys.getrefcount(v) == 3, gc.get_referrers(v)   # views, v, the call's argument


def test_the_inlined_checks_refuse_a_move_the_table_lacks() -> None:
    """The moves every task makes check the lifecycle inline; a state that has no such move
    raises, naming the task, its state and the cause, and changes nothing."""
    s = CoreState(platform(cores=1), Policy())
    out: list[Action] = []
    t = CoreTask(7, spec("x"), (), 0.0, s.bucket_of(spec("x"))[0])
    s.tasks[7] = t
    t.state = S.RUNNING
    with pytest.raises(TandemInternalError, match=r"task 7 \('x'\): running -> ready on "
                                                  r"'dependencies done'"):
        tr.make_ready(s, t, 0.0)
    with pytest.raises(TandemInternalError, match="running -> launched on 'placed'"):
        tr.launch(s, t, Placement(slots=(Slot(node="n0", cores=(0,)),)), 0.0, out)
    t.state = S.PENDING
    with pytest.raises(TandemInternalError, match="pending -> done on 'exited with a result'"):
        tr.finish(s, t, S.DONE, None, 0.0, out)
    assert t.state is S.PENDING and out == [] and not s.dirty and s.running == {}
    with pytest.raises(TandemInternalError, match="exited while pending"):
        tr.exited(s, Exited(7), 0.0, out)


@pytest.mark.parametrize("order", list(Order))
@pytest.mark.parametrize("mode", list(Mode))
def test_a_plain_burst_does_what_the_same_events_do_one_by_one(order: Order, mode: Mode) -> None:
    """A burst of plain submissions (submit_burst, without the per-event checks) gives the same
    actions and tasks as the event-by-event path of handle_many (which a TimerFired forces)."""
    res = Resources(cores=1)
    cores = [Scheduler(platform(cores=3), Policy(order=order, mode=mode)) for _ in range(2)]
    outs: list[list[object]] = [[], []]
    for i, core in enumerate(cores):
        core.handle(Submitted(task_id=0, spec=spec("first", priority=1)), 0.0)
        for start in (1, 11):
            burst: list[object] = [
                Submitted(task_id=j, spec=TaskSpec(name=f"t{j}", work=NOOP, resources=res,
                                                   priority=j % 3))
                for j in range(start, start + 10)]
            if i:
                burst.append(TimerFired())      # not a plain burst: checked event by event
            got = core.handle_many(burst, 1.0)
            for a in got:
                if type(a) is Launch:
                    got += core.handle(Exited(a.task_id), 2.0)
            outs[i] += got
    assert outs[0] == outs[1] and outs[0]
    assert {t: v.state for t, v in cores[0].tasks.items()} \
        == {t: v.state for t, v in cores[1].tasks.items()}
    assert [cores[0].record(t) for t in cores[0].tasks] == \
        [cores[1].record(t) for t in cores[1].tasks]
