"""``handle_many`` is all or nothing (tandem.core.validate): every event is checked, with what
the earlier events of the batch do, before any is applied."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tandem.core.events import (
    CancelRequested,
    Exited,
    PauseRequested,
    PriorityChanged,
    QuotaMoved,
    Started,
    Submitted,
    TimerFired,
)
from tandem.core.scheduler import Scheduler
from tandem.core.states import TaskState
from tandem.core.validate import plain_burst
from tandem.core.values import KillCause
from tandem.errors import InfeasibleRequest, SpecError, TandemError, TandemInternalError
from tandem.spec import Quota, Resources, TaskSpec

from .helpers import NOOP, platform, spec

S = TaskState


def core_with_one_running(pools: bool = True) -> Scheduler:
    core = Scheduler(platform(cores=4), pools={"sim": Quota(cores=2)} if pools else None)
    core.handle(Submitted(task_id=0, spec=spec("a")), 0.0)
    assert core.state(0) is S.LAUNCHED
    return core


BAD: dict[str, tuple[type[TandemError], Callable[[], object]]] = {
    "quota move too large": (SpecError, lambda: QuotaMoved(source="sim", target="default",
                                                           cores=99)),
    "unknown task": (SpecError, lambda: CancelRequested(task_id=42)),
    "bad priority": (SpecError, lambda: PriorityChanged(task_id=0, priority=1.5)),  # type: ignore[arg-type]
    "duplicate id": (TandemInternalError, lambda: Submitted(task_id=0, spec=spec("b"))),
    "infeasible": (InfeasibleRequest, lambda: Submitted(task_id=5, spec=spec("big", cores=9))),
    "unknown dep": (SpecError, lambda: Submitted(task_id=5, spec=spec("b"), deps=(77,))),
    "unknown event": (TandemInternalError, lambda: object()),
    "bad cancel cause": (SpecError, lambda: CancelRequested(task_id=0, cause=KillCause.PREEMPT)),
    "second exit": (TandemInternalError, lambda: Exited(0)),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_an_invalid_event_leaves_the_core_untouched(name: str) -> None:
    core = core_with_one_running()
    error, bad = BAD[name]
    with pytest.raises(error):
        core.handle_many([Exited(0), Submitted(task_id=1, spec=spec("b")), bad()], 1.0)
    assert core.state(0) is S.LAUNCHED          # the Exited was not applied
    assert len(core.tasks) == 1 and core.unfinished == 1
    assert core.pool_usage()["sim"].quota_cores == 2
    # and the same batch without the bad event applies in full
    out = core.handle_many([Exited(0), Submitted(task_id=1, spec=spec("b"))], 1.0)
    assert core.state(0) is S.DONE and core.state(1) is S.LAUNCHED and out


def test_moves_are_checked_together() -> None:
    core = core_with_one_running()
    with pytest.raises(SpecError, match="cannot move"):
        core.handle_many([QuotaMoved(source="sim", target="default", cores=2),
                          QuotaMoved(source="sim", target="default", cores=1)], 1.0)
    assert core.pool_usage()["sim"].quota_cores == 2
    core.handle_many([QuotaMoved(source="sim", target="default", cores=1),
                      QuotaMoved(source="sim", target="default", cores=1)], 1.0)
    assert core.pool_usage()["sim"].quota_cores == 0


def test_a_move_without_pools_raises_before_anything_is_applied() -> None:
    core = core_with_one_running(pools=False)
    with pytest.raises(SpecError, match="no resource pools"):
        core.handle_many([Exited(0), QuotaMoved(source="a", target="b", cores=1)], 1.0)
    assert core.state(0) is S.LAUNCHED


def test_events_may_name_tasks_submitted_earlier_in_the_batch() -> None:
    core = Scheduler(platform(cores=1))
    out = core.handle_many([
        Submitted(task_id=0, spec=spec("a")),
        Submitted(task_id=1, spec=spec("b"), deps=(0,)),
        PriorityChanged(task_id=1, priority=3),
        PauseRequested(task_id=1),
        CancelRequested(task_id=1, reason="no"),
        TimerFired(),
    ], 0.0)
    assert core.state(0) is S.LAUNCHED and core.state(1) is S.CANCELLED and out
    with pytest.raises(TandemInternalError, match="exited while pending"):
        core.handle_many([Submitted(task_id=2, spec=spec("c")), Exited(2)], 0.0)
    assert 2 not in core.tasks
    with pytest.raises(TandemInternalError, match="submitted twice"):
        core.handle_many([Submitted(task_id=3, spec=spec("c")),
                          Submitted(task_id=3, spec=spec("c"))], 0.0)
    core.handle_many([Started(0), Exited(0)], 1.0)
    assert core.state(0) is S.DONE


def test_one_event_that_raises_was_not_applied() -> None:
    core = core_with_one_running()
    with pytest.raises(SpecError):
        core.handle(PriorityChanged(task_id=0, priority="high"), 1.0)  # type: ignore[arg-type]
    with pytest.raises(SpecError):
        core.handle(QuotaMoved(source="sim", target="nope", cores=1), 1.0)
    assert core.pool_usage()["sim"].quota_cores == 2


def burst(first: int, n: int, req: Resources) -> list[Submitted]:
    """``n`` plain submissions sharing the request object ``req`` (the common burst)."""
    return [Submitted(task_id=first + i,
                      spec=TaskSpec(name=f"t{first + i}", work=NOOP, resources=req))
            for i in range(n)]


BAD_IN_A_BURST: dict[str, tuple[type[TandemError], Callable[[list[Submitted]], None]]] = {
    "an id twice": (TandemInternalError, lambda b: b.append(b[3])),
    "a known id": (TandemInternalError, lambda b: b.append(Submitted(task_id=0, spec=b[0].spec))),
    "an unknown dep": (SpecError, lambda b: b.append(
        Submitted(task_id=99, spec=b[0].spec, deps=(77,)))),
    "a pool without pools": (SpecError, lambda b: b.append(Submitted(
        task_id=99, spec=TaskSpec(name="p", work=NOOP, resources=b[0].spec.resources,
                                  pool="sim")))),
    "an infeasible shape": (InfeasibleRequest, lambda b: b.append(
        Submitted(task_id=99, spec=spec("big", cores=9)))),
    "an exit twice": (TandemInternalError, lambda b: b.extend([Exited(0), Exited(0)])),  # type: ignore[list-item]
}


@pytest.mark.parametrize("name", sorted(BAD_IN_A_BURST))
def test_a_burst_of_plain_submissions_is_all_or_nothing(name: str) -> None:
    core = core_with_one_running(pools=False)
    events = burst(1, 10, Resources(cores=1))
    error, spoil = BAD_IN_A_BURST[name]
    spoil(events)
    with pytest.raises(error):
        core.handle_many(events, 1.0)
    assert len(core.tasks) == 1 and core.unfinished == 1 and core.state(0) is S.LAUNCHED


def test_plain_burst_says_when_a_burst_cannot_raise() -> None:
    core = core_with_one_running(pools=False)
    s = core._s
    req = Resources(cores=1)
    assert plain_burst(s, burst(1, 5, req))
    assert not plain_burst(s, burst(0, 5, req))                       # id 0 is taken
    assert not plain_burst(s, burst(1, 2, req) + burst(3, 2, Resources(cores=1)))  # 2 objects
    with pytest.raises(InfeasibleRequest, match="'t1'"):            # named as the first event
        plain_burst(s, burst(1, 3, Resources(cores=9)))
    out = core.handle_many(burst(1, 5, req), 1.0)
    assert sorted(core.tasks) == [0, 1, 2, 3, 4, 5] and [a.task_id for a in out] == [1, 2, 3]
    pooled = Scheduler(platform(cores=4), pools={"sim": Quota(cores=2)})
    assert not plain_burst(pooled._s, burst(1, 5, req))               # pools: event by event
