"""The scheduler core, driven by hand: no event loop, no sleep."""

from __future__ import annotations

import pytest

from tandem.core.actions import Kill
from tandem.core.events import CancelRequested, Exited, Started, TimerFired
from tandem.core.policy import Mode, Order, Policy
from tandem.core.states import TaskState
from tandem.core.values import Failure, FailureKind, KillCause
from tandem.errors import InfeasibleRequest, SpecError, TandemInternalError
from tandem.spec import Resources

from .helpers import Driver, platform, spec

S = TaskState
FAIL = Failure(kind=FailureKind.EXIT, message="boom", exit_code=3)


def test_tasks_start_when_their_own_dependencies_are_done() -> None:
    d = Driver(platform(cores=2))
    a = d.submit(spec("a"))
    b = d.submit(spec("b"))
    c = d.submit(spec("c"), deps=(a,))
    assert d.launched_ids() == [a, b]
    assert d.core.state(c) is S.PENDING
    d.finish(a)
    assert d.launched_ids() == [a, b, c]     # c does not wait for b
    assert d.resolved[a].state is S.DONE


def test_placement_uses_exact_ids_and_never_oversubscribes() -> None:
    d = Driver(platform(cores=4, gpus=2))
    t1 = d.submit(spec("x", cores=2, gpus=1))
    t2 = d.submit(spec("y", cores=2, gpus=1))
    t3 = d.submit(spec("z", cores=1))
    p = {a.task_id: a.placement for a in d.launched}
    assert p[t1].cores == (0, 1) and p[t1].gpus == ("0",)
    assert p[t2].cores == (2, 3) and p[t2].gpus == ("1",)
    assert t3 not in p
    d.finish(t1)
    assert d.launched[-1].task_id == t3 and d.launched[-1].placement.cores == (0,)


def test_gpu_only_task_takes_no_core() -> None:
    d = Driver(platform(cores=1, gpus=1))
    g = d.submit(spec("train", cores=0, gpus=1))
    c = d.submit(spec("sim", cores=1))
    assert d.launched_ids() == [g, c]
    assert d.launched[0].placement.cores == ()


def test_infeasible_request_names_request_and_capacity() -> None:
    d = Driver(platform(cores=2, gpus=0))
    with pytest.raises(InfeasibleRequest) as e:
        d.submit(spec("big", cores=4))
    assert "'big'" in str(e.value) and "4 cores" in str(e.value) and "2 cores" in str(e.value)
    with pytest.raises(InfeasibleRequest, match="1 GPU"):
        d.submit(spec("gpu", gpus=1))


def test_unknown_dependency_is_a_spec_error() -> None:
    d = Driver(platform())
    with pytest.raises(SpecError, match="unknown task id 42"):
        d.submit(spec("a"), deps=(42,))


def test_failure_propagates_transitively_naming_the_root() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("root"))
    b = d.submit(spec("mid"), deps=(a,))
    c = d.submit(spec("leaf"), deps=(b,))
    d.finish(a, FAIL)
    assert d.resolved[a].state is S.FAILED
    for t in (b, c):
        r = d.resolved[t]
        assert r.state is S.DEPENDENCY_FAILED
        assert r.failure is not None and r.failure.root_task_id == a
        assert "'root'" in r.failure.message and "boom" in r.failure.message


def test_depending_on_an_already_failed_task_fails_at_submit() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("root"))
    d.finish(a, FAIL)
    late = d.submit(spec("late"), deps=(a,))
    assert d.resolved[late].state is S.DEPENDENCY_FAILED


def test_cancel_pending_cancels_dependents_and_running_gets_killed() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("a"))
    b = d.submit(spec("b"), deps=(a,))
    c = d.submit(spec("c"), deps=(b,))
    d.send(CancelRequested(task_id=b, reason="not needed"))
    assert d.resolved[b].state is S.CANCELLED and d.resolved[c].state is S.CANCELLED
    assert "not needed" in d.resolved[c].failure.message  # type: ignore[union-attr]
    d.send(CancelRequested(task_id=a, reason="stop"))
    assert d.killed == [Kill(a, KillCause.CANCEL)]
    assert d.core.state(a) is S.LAUNCHED            # still holds its core until it exits
    d.finish(a, Failure(kind=FailureKind.SIGNAL, message="SIGTERM", signal=15))
    assert d.resolved[a].state is S.CANCELLED


def test_timeout_kills_then_times_out() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("slow", timeout=5.0))
    assert d.core.next_deadline() == 5.0
    d.now = 5.0
    d.send(TimerFired())
    assert d.killed == [Kill(a, KillCause.TIMEOUT)]
    assert d.core.next_deadline() is None
    d.finish(a, Failure(kind=FailureKind.SIGNAL, message="SIGTERM", signal=15))
    assert d.resolved[a].state is S.TIMED_OUT
    assert "timeout of 5.0 s" in d.resolved[a].failure.message  # type: ignore[union-attr]


def test_retries_relaunch_then_fail() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("flaky", retries=1))
    d.finish(a, FAIL)
    assert [x.attempt for x in d.launched] == [1, 2]
    d.finish(a, FAIL)
    assert d.resolved[a].state is S.FAILED and d.core.record(a).attempts == 2


def test_priority_order() -> None:
    d = Driver(platform(cores=1), Policy(order=Order.PRIORITY))
    first = d.submit(spec("first"))
    low = d.submit(spec("low", priority=0))
    high = d.submit(spec("high", priority=5))
    d.finish(first)
    assert d.launched_ids() == [first, high]
    d.finish(high)
    assert d.launched_ids()[-1] == low


def test_critical_path_first_prefers_longest_downstream_path() -> None:
    d = Driver(platform(cores=1), Policy(order=Order.CRITICAL_PATH))
    blocker = d.submit(spec("blocker", estimate=1))
    short = d.submit(spec("short", estimate=1))
    long_head = d.submit(spec("long_head", estimate=1))
    d.submit(spec("long_tail", estimate=10), deps=(long_head,))
    d.finish(blocker)
    assert d.launched_ids()[-1] == long_head
    assert short not in d.launched_ids()


def test_fifo_ignores_estimates() -> None:
    d = Driver(platform(cores=1), Policy(order=Order.FIFO))
    d.submit(spec("blocker"))
    short = d.submit(spec("short", estimate=1))
    long_head = d.submit(spec("long_head", estimate=1))
    d.submit(spec("long_tail", estimate=10), deps=(long_head,))
    d.finish(0)
    assert d.launched_ids()[-1] == short


def test_backfill_passes_blocked_task_without_delaying_it() -> None:
    d = Driver(platform(cores=4), Policy(order=Order.FIFO, backfill=True))
    run = d.submit(spec("running", cores=2, estimate=10))
    wide = d.submit(spec("wide", cores=4, estimate=5))      # needs all 4: reserved at t=10
    short = d.submit(spec("short", cores=1, estimate=3))    # ends before t=10: may pass
    long = d.submit(spec("long", cores=2, estimate=50))     # would delay "wide": may not
    assert d.launched_ids() == [run, short]
    d.now = 3
    d.finish(short)
    assert long not in d.launched_ids()
    d.now = 10
    d.finish(run)
    assert d.launched_ids()[-1] == wide


def test_no_backfill_keeps_strict_order() -> None:
    d = Driver(platform(cores=4), Policy(order=Order.FIFO, backfill=False))
    d.submit(spec("running", cores=2, estimate=10))
    d.submit(spec("wide", cores=4, estimate=5))
    short = d.submit(spec("short", cores=1, estimate=3))
    assert short not in d.launched_ids()


def test_backfill_without_estimates_uses_only_spare_resources() -> None:
    d = Driver(platform(cores=2, gpus=1), Policy(order=Order.FIFO))
    train = d.submit(spec("train", cores=0, gpus=1))
    infer = d.submit(spec("infer", cores=0, gpus=1))     # blocked on the GPU
    sim = d.submit(spec("sim", cores=1))                 # needs no GPU: may pass
    assert d.launched_ids() == [train, sim]
    d.finish(train)
    assert d.launched_ids()[-1] == infer


def test_barrier_mode_waits_for_whole_level() -> None:
    d = Driver(platform(cores=2), Policy(mode=Mode.BARRIER))
    a = d.submit(spec("a"))
    b = d.submit(spec("b"))
    c = d.submit(spec("c"), deps=(a,))
    d.finish(a)
    assert c not in d.launched_ids()           # b (level 0) still running
    d.finish(b)
    assert d.launched_ids()[-1] == c
    assert d.core.record(c).level == 1


def test_async_mode_does_not_wait_for_the_level() -> None:
    d = Driver(platform(cores=2), Policy(mode=Mode.ASYNC))
    a = d.submit(spec("a"))
    d.submit(spec("b"))
    c = d.submit(spec("c"), deps=(a,))
    d.finish(a)
    assert d.launched_ids()[-1] == c


def test_mpi_ranks_spread_over_nodes() -> None:
    d = Driver(platform(cores=2, nodes=2))
    t = d.submit(spec("mpi", cores=1, ranks=3))
    p = d.launched[0].placement
    assert [(s.node, s.cores) for s in p.slots] == [("n0", (0,)), ("n0", (1,)), ("n1", (0,))]
    d.finish(t)
    assert d.core.pool.free_cores == 4


def test_started_then_exited_records_times() -> None:
    d = Driver(platform())
    a = d.submit(spec("a"))
    d.now = 1.0
    d.send(Started(a))
    d.now = 3.0
    d.finish(a)
    r = d.core.record(a)
    assert (r.submitted, r.launched, r.started, r.ended) == (0.0, 0.0, 1.0, 3.0)
    assert r.duration == 2.0


def test_exit_of_task_not_running_is_an_internal_error() -> None:
    d = Driver(platform())
    a = d.submit(spec("a"))
    d.finish(a)
    with pytest.raises(TandemInternalError, match="reported exited while done"):
        d.send(Exited(a))


def test_unknown_event_and_unknown_task() -> None:
    d = Driver(platform())
    with pytest.raises(TandemInternalError, match="unknown event"):
        d.send(object())
    with pytest.raises(SpecError, match="no task with id 9"):
        d.send(CancelRequested(task_id=9))


def test_dynamic_graph_depends_on_running_and_finished_tasks() -> None:
    d = Driver(platform(cores=2))
    a = d.submit(spec("a"))
    d.finish(a)
    b = d.submit(spec("b"))
    c = d.submit(spec("c"), deps=(a, b))     # a done, b running
    assert c not in d.launched_ids()
    d.finish(b)
    assert d.launched_ids()[-1] == c


def test_backfill_reads_tasks_without_estimates_last() -> None:
    # "a" never ends as far as the core knows; "b" ends at t=10. "w" (3 cores) fits once "b"
    # ends, with nothing spare: a task still running then may not pass it; one done by then may.
    for estimate, passes in ((20.0, False), (5.0, True)):
        d = Driver(platform(cores=5), Policy(order=Order.FIFO))
        a = d.submit(spec("a", cores=2))
        b = d.submit(spec("b", cores=2, estimate=10))
        w = d.submit(spec("w", cores=3, estimate=5))
        c = d.submit(spec("candidate", cores=1, estimate=estimate))
        assert d.launched_ids() == ([a, b, c] if passes else [a, b])
        d.now = 10
        d.finish(b)
        if passes:
            assert w not in d.launched_ids()      # "candidate" still holds a core "w" needs
            d.finish(c)
        assert d.launched_ids()[-1] == w


def test_a_dropped_scheduler_is_freed_without_the_cycle_collector() -> None:
    import gc
    import weakref

    d = Driver(platform(cores=2))
    for _ in range(3):
        d.submit(spec("t"))
    ref = weakref.ref(d.core)
    gc.disable()
    try:
        del d
        assert ref() is None
    finally:
        gc.enable()


def test_record_fields_are_the_tasks_own() -> None:
    d = Driver(platform(cores=2))
    first = d.submit(spec("first", kind="sim", estimate=2.0))
    d.now = 1.5
    d.send(Started(first))
    d.now = 2.5
    d.finish(first)
    second = d.submit(spec("second", cores=2), deps=(first,))
    r = d.core.record(first)
    assert r._asdict() == {
        "task_id": first, "name": "first", "kind": "sim", "state": TaskState.DONE,
        "resources": Resources(cores=1), "deps": (), "placement": r.placement, "attempts": 1,
        "failure": None, "submitted": 0.0, "ready": 0.0, "launched": 0.0, "started": 1.5,
        "ended": 2.5, "level": 0, "preempted": 0,
    }
    assert r.placement is not None and r.placement.cores == (0,)
    assert d.core.record(second).level == 1 and d.core.record(second).deps == (first,)


def test_a_queued_task_is_re_keyed_when_a_later_task_depends_on_it() -> None:
    # "b" and "a" have no dependencies and are queued at once; "c" (10 s) depends on "a",
    # so "a" heads the longer path and must start first — in one burst (after a task with a
    # dependency, "x") or event by event.
    from tandem.core.events import Submitted

    for burst in (True, False):
        d = Driver(platform(cores=1))
        blocker = d.submit(spec("blocker", estimate=1.0))
        events = [Submitted(task_id=1, spec=spec("x", estimate=1.0), deps=(blocker,)),
                  Submitted(task_id=2, spec=spec("b", estimate=1.0)),
                  Submitted(task_id=3, spec=spec("a", estimate=1.0)),
                  Submitted(task_id=4, spec=spec("c", estimate=10.0), deps=(3,))]
        if burst:
            d.take(d.core.handle_many(events, d.now))
        else:
            for ev in events:
                d.take(d.core.handle(ev, d.now))
        d.next_id = 5
        d.finish(blocker)
        assert d.launched_ids() == [blocker, 3]


def test_only_running_says_whether_nothing_but_those_tasks_can_change() -> None:
    d = Driver(platform(cores=1))
    a = d.submit(spec("reader"))
    b = d.submit(spec("after"), deps=(a,))
    assert not d.core.only_running([a])          # launched, not running yet
    d.send(Started(a))
    assert d.core.only_running([a])              # the rest waits for it
    assert not d.core.only_running([b])
    c = d.submit(spec("queued"))                 # ready, waiting for the core: it could run
    assert d.core.state(c) is S.READY and not d.core.only_running([a])
    assert not Driver(platform()).core.only_running([])   # nothing runs
