"""The walltime in the pure core: deferral of what cannot finish, the preemption at the end,
the typed cause of every task left. No event loop, no sleep: time is an argument."""

from __future__ import annotations

import heapq

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.core.actions import Kill, Launch, Preempt, Resolve, Steered
from tandem.core.events import Exited, PauseRequested, Submitted, TimerFired
from tandem.core.policy import Order, Policy
from tandem.core.scheduler import Scheduler
from tandem.core.states import TaskState
from tandem.core.values import FailureKind, KillCause, SteerAction, Walltime

from .helpers import Driver, platform, spec

S = TaskState


def walled(cores: int = 1, *, ends_at: float = 6.0, margin: float = 0.0, grace: float = 1.0,
           policy: Policy | None = None) -> Driver:
    d = Driver(platform(cores), policy)
    d.core = Scheduler(platform(cores), policy,
                       walltime=Walltime(ends_at=ends_at, margin=margin, grace=grace))
    return d


def defers(actions: list[object]) -> list[Steered]:
    return [a for a in actions if isinstance(a, Steered) and a.action is SteerAction.DEFER]


def run_to_end(d: Driver) -> None:
    """Finish each launched task at its estimate (one core), firing deadlines on the way."""
    running: dict[int, float] = {}
    while d.core.unfinished:
        for a in d.launched:
            if a.task_id not in running and d.core.state(a.task_id) in (S.LAUNCHED, S.RUNNING):
                est = d.core.tasks[a.task_id].spec.estimate
                assert est is not None
                running[a.task_id] = d.now + est
        live = {t: e for t, e in running.items()
                if d.core.state(t) in (S.LAUNCHED, S.RUNNING)}
        deadline = d.core.next_deadline()
        nxt = min(live.values(), default=None)
        if deadline is not None and (nxt is None or deadline <= nxt):
            d.now = deadline
            d.send(TimerFired())
            continue
        assert nxt is not None, "stuck: nothing runs and no deadline"
        d.now = nxt
        for t, e in sorted(live.items()):
            if e == nxt:
                d.finish(t)


def test_six_seconds_of_walltime_and_two_second_tasks_start_none_that_cannot_finish() -> None:
    d = walled(ends_at=6.0, grace=1.0)      # launch_by = 5: tasks at 0 and 2 fit, not at 4
    ids = [d.submit(spec(f"t{i}", estimate=2.0)) for i in range(4)]
    run_to_end(d)
    starts = {a.task_id: a for a in d.launched}
    assert sorted(starts) == ids[:2]
    for tid in ids[:2]:
        assert d.core.state(tid) is S.DONE
    rec = d.core.record(ids[2])
    assert rec.state is S.CANCELLED and rec.launched is None
    assert rec.failure is not None and rec.failure.kind is FailureKind.WALLTIME
    assert "deferred: it does not fit the remaining walltime" in rec.failure.message
    assert "resume=True" in rec.failure.message and rec.failure.by == "walltime"
    # Nothing ran past the walltime: every launched task ended by launch_by.
    assert max(d.core.record(t).ended or 0.0 for t in ids[:2]) <= 5.0


def test_a_deferral_is_recorded_once_with_its_need_and_the_time_left() -> None:
    d = walled(cores=2, ends_at=10.0, grace=1.0, margin=1.0)   # launch_by = 8
    out = d.core.handle_many([Submitted(task_id=0, spec=spec("long", estimate=9.0)),
                              Submitted(task_id=1, spec=spec("short", estimate=1.0))], 0.0)
    d.take(out)
    rec = defers(out)
    assert [(s.task_id, s.by, s.reason) for s in rec] == [
        (0, "walltime", "deferred: does not fit the remaining walltime")]
    assert dict(rec[0].details) == {"needs": 9.0, "left": 8.0}
    assert d.launched_ids() == [1]
    assert d.core.state(0) is S.READY and d.core.deferred() == (0,)
    d.now = 1.0
    out = d.finish(1)
    assert defers(out) == []            # never twice
    # Nothing else can run now: the deferred task ends at once, the session may close.
    assert d.core.state(0) is S.CANCELLED and d.core.unfinished == 0


def test_the_timeout_bounds_a_need_and_a_task_without_either_is_launched() -> None:
    d = walled(cores=3, ends_at=10.0, grace=0.0)
    a = d.submit(spec("bounded", estimate=50.0, timeout=5.0))   # min(estimate, timeout) = 5
    b = d.submit(spec("only-timeout", timeout=20.0))
    c = d.submit(spec("unknown"))
    assert sorted(d.launched_ids()) == [a, c]
    assert d.core.state(b) is S.READY and d.core.deferred() == (b,)


def test_at_the_end_running_tasks_are_preempted_with_the_grace_and_everything_left_ends() -> None:
    d = walled(cores=1, ends_at=10.0, grace=2.0)
    a = d.submit(spec("no-estimate"))
    b = d.submit(spec("waits"))
    c = d.submit(spec("child"), deps=(b,))
    assert d.launched_ids() == [a]
    assert d.core.next_deadline() == 8.0
    d.now = 8.0
    out = d.send(TimerFired())
    preempts = [x for x in out if isinstance(x, Preempt)]
    assert [(p.task_id, p.grace) for p in preempts] == [(a, 2.0)]
    steer = [x for x in out if isinstance(x, Steered)]
    assert [(s.action, s.by) for s in steer] == [(SteerAction.PREEMPT, "walltime")]
    for tid in (b, c):      # dependents first: each names the walltime, not its upstream
        rec = d.core.record(tid)
        assert rec.state is S.CANCELLED and rec.failure is not None
        assert rec.failure.kind is FailureKind.WALLTIME
        assert "never started: the walltime ended first" in rec.failure.message
    assert d.core.next_deadline() is None
    # The preempted task checkpoints and exits: it is not launched again, it ends WALLTIME.
    d.now = 9.0
    d.send(Exited(a))
    assert d.launched_ids() == [a]
    rec = d.core.record(a)
    assert rec.state is S.CANCELLED and rec.preempted == 1
    assert rec.failure is not None and rec.failure.kind is FailureKind.WALLTIME
    assert "preempted when the walltime ended" in rec.failure.message
    assert d.core.unfinished == 0 and d.core.walltime_over
    # A task submitted after the end is never launched.
    late = d.submit(spec("late"))
    assert d.launched_ids() == [a] and d.core.state(late) is S.CANCELLED


def test_a_task_paused_without_its_cores_is_ended_with_the_walltime_cause() -> None:
    d = walled(cores=1, ends_at=10.0, grace=1.0)
    a = d.submit(spec("paused"))
    d.send(PauseRequested(task_id=a, release=True))
    assert d.core.state(a) is S.SUSPENDED
    d.now = 9.0
    out = d.send(TimerFired())
    assert [k for k in out if isinstance(k, Kill)] == [Kill(a, KillCause.WALLTIME)]
    d.send(Exited(a))
    rec = d.core.record(a)
    assert rec.state is S.CANCELLED and rec.failure is not None
    assert rec.failure.kind is FailureKind.WALLTIME and "resume=True" in rec.failure.message


def test_deferral_with_several_shapes_lets_what_fits_pass() -> None:
    d = walled(cores=4, ends_at=10.0, grace=0.0, policy=Policy(order=Order.FIFO))
    d.take(d.core.handle_many([
        Submitted(task_id=0, spec=spec("big-long", cores=2, estimate=20.0)),
        Submitted(task_id=1, spec=spec("small", cores=1, estimate=3.0)),
        Submitted(task_id=2, spec=spec("big-short", cores=2, estimate=3.0)),
    ], 0.0))
    assert sorted(d.launched_ids()) == [1, 2]
    assert d.core.deferred() == (0,)


def test_without_a_walltime_nothing_is_deferred_and_there_is_no_extra_deadline() -> None:
    d = Driver(platform(1))
    d.submit(spec("long", estimate=1e9))
    assert d.launched_ids() == [0] and d.core.next_deadline() is None
    assert d.core.deferred() == () and not d.core.walltime_over


@pytest.mark.parametrize("kwargs", [dict(ends_at=float("nan")), dict(ends_at=1.0, grace=-1.0),
                                    dict(ends_at=1.0, margin=-0.5), dict(ends_at="1")])
def test_a_walltime_value_refuses_what_is_not_a_time(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Walltime"):
        Walltime(**kwargs)  # type: ignore[arg-type]


def test_launches_never_end_past_the_launch_limit_for_many_shapes() -> None:
    d = walled(cores=3, ends_at=20.0, grace=2.0, margin=1.0)    # launch_by = 17
    ests = [1.0, 2.5, 4.0, 7.0, 3.0, 5.5, 6.0, 2.0, 9.0, 1.5]
    for i, e in enumerate(ests):
        d.submit(spec(f"t{i}", estimate=e))
    run_to_end(d)
    for a in d.launched:
        assert isinstance(a, Launch)
        rec = d.core.record(a.task_id)
        assert rec.launched is not None and rec.launched + ests[a.task_id] <= 17.0
        assert rec.state is S.DONE
    assert d.core.unfinished == 0


@settings(max_examples=60, deadline=None)
@given(tasks=st.lists(st.tuples(st.one_of(st.none(), st.floats(0.5, 8.0)),
                                st.floats(0.1, 12.0), st.integers(1, 2),
                                st.one_of(st.none(), st.integers(0, 20))),
                      min_size=1, max_size=25),
       ends_at=st.floats(3.0, 30.0), grace=st.floats(0.0, 2.0), margin=st.floats(0.0, 1.0))
def test_no_estimated_launch_ends_late_nothing_starts_after_the_end_every_task_ends(
        tasks: list[tuple[float | None, float, int, int | None]], ends_at: float, grace: float,
        margin: float) -> None:
    wall = Walltime(ends_at=ends_at, margin=margin, grace=grace)
    core = Scheduler(platform(3), walltime=wall)
    events: list[tuple[float, int, int]] = []          # (time, task, attempt) of exits
    attempts: dict[int, int] = {}
    now = 0.0

    def take(actions: list[object]) -> None:
        for a in actions:
            if isinstance(a, Launch):
                assert now < wall.preempt_at, "launched after the walltime's end"
                est = tasks[a.task_id][0]
                if est is not None:
                    assert now + est <= wall.launch_by + 1e-9
                attempts[a.task_id] = a.attempt
                heapq.heappush(events, (now + tasks[a.task_id][1], a.task_id, a.attempt))
            elif isinstance(a, (Preempt, Kill)):
                heapq.heappush(events, (now, a.task_id, attempts[a.task_id]))
            elif isinstance(a, Resolve) and a.failure is not None:
                assert a.failure.kind is FailureKind.WALLTIME

    for i, (est, _, cores, dep) in enumerate(tasks):
        deps = (dep,) if dep is not None and dep < i else ()
        take(core.handle(Submitted(task_id=i, spec=spec(f"t{i}", cores=cores, estimate=est),
                                   deps=deps), now))
    while core.unfinished:
        deadline = core.next_deadline()
        if events and (deadline is None or events[0][0] < deadline):
            when, tid, attempt = heapq.heappop(events)
            if attempts.get(tid) != attempt or core.state(tid) not in (S.LAUNCHED, S.RUNNING):
                continue
            now = max(now, when)
            take(core.handle(Exited(tid), now))
        else:
            assert deadline is not None, "stuck: tasks left, nothing runs, no deadline"
            now = max(now, deadline)
            take(core.handle(TimerFired(), now))
    for i in range(len(tasks)):
        assert core.state(i) in (S.DONE, S.CANCELLED)
