"""Hypothesis properties of steering in the core: random pauses (holding or releasing cores),
resumes, preemptions, cancels (with any reason), priority changes, timeouts, failures and
retries, in any order.

- every move is one the lifecycle allows (an illegal one raises TandemInternalError);
- no core or GPU id is held by two live processes (counted from the actions alone);
- a cancelled task is never launched again, whatever its reason says;
- once the driver stops steering and lets every process end, every task is final and the pool
  is whole.
"""

from __future__ import annotations

import signal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.core.actions import Kill, Launch, Resolve, Resume
from tandem.core.events import (
    CancelRequested,
    Exited,
    PauseRequested,
    PreemptRequested,
    PriorityChanged,
    ResumeRequested,
    Started,
    Submitted,
    TimerFired,
)
from tandem.core.policy import Order, Policy
from tandem.core.pool import Fit
from tandem.core.scheduler import Scheduler
from tandem.core.states import FINAL, TaskState
from tandem.core.values import Failure, FailureKind, KillCause, Placement

from .helpers import platform, spec

S = TaskState
FAIL = Failure(kind=FailureKind.EXIT, message="x", exit_code=1)
REASONS = ["timeout", "preempted", "cancelled by the user", ""]


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    cores = draw(st.integers(1, 4))
    gpus = draw(st.integers(0, 1))
    nodes = draw(st.integers(1, 2))
    n = draw(st.integers(1, 12))
    tasks = []
    for i in range(n):
        c = draw(st.integers(0 if gpus else 1, cores))
        g = draw(st.integers(0, gpus)) if c else 1
        deps = tuple(sorted(draw(st.sets(st.integers(0, i - 1), max_size=2)))) if i else ()
        tasks.append(dict(cores=c, gpus=g, deps=deps, retries=draw(st.integers(0, 1)),
                          timeout=draw(st.sampled_from([None, 3.0])),
                          est=draw(st.sampled_from([None, 1.0]))))
    return dict(plat=platform(cores=cores, gpus=gpus, nodes=nodes), tasks=tasks,
                policy=Policy(order=draw(st.sampled_from(list(Order))),
                              fit=draw(st.sampled_from(list(Fit)))),
                ops=draw(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 99)),
                                  max_size=80)))


def drive(sc: dict[str, Any]) -> None:
    core = Scheduler(sc["plat"], sc["policy"])
    now = 0.0
    live: dict[int, Placement] = {}        # tasks with a process, and what they hold
    cancelled: set[int] = set()

    def apply(actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, Launch):
                assert a.task_id not in live and a.task_id not in cancelled
                live[a.task_id] = a.placement
            elif isinstance(a, Resume) and a.placement is not None:
                live[a.task_id] = a.placement
            elif isinstance(a, Kill):
                assert a.cause in (KillCause.TIMEOUT, KillCause.CANCEL)
            elif isinstance(a, Resolve) and a.state is S.CANCELLED:
                cancelled.add(a.task_id)
        held: set[tuple[str, str]] = set()
        for tid, p in live.items():
            st_ = core.state(tid)
            released = st_ is S.SUSPENDED or st_ is S.RESUMING
            for slot in p.slots:
                ids = [("g", g) for g in slot.gpus] + ([] if released else
                                                       [("c", str(c)) for c in slot.cores])
                for i in ids:
                    key = (slot.node, f"{i[0]}{i[1]}")
                    assert key not in held, f"{key} held twice"
                    held.add(key)

    for i, t in enumerate(sc["tasks"]):
        s = spec(f"t{i}", cores=t["cores"], gpus=t["gpus"], retries=t["retries"],
                 timeout=t["timeout"], estimate=t["est"])
        apply(core.handle(Submitted(task_id=i, spec=s, deps=t["deps"]), now))
    n = len(sc["tasks"])
    for op, arg in sc["ops"]:
        now += 0.5
        tid = arg % n
        if op == 0 and tid in live:
            del live[tid]
            apply(core.handle(Exited(tid, FAIL if arg % 3 == 0 else None), now))
        elif op == 1:
            apply(core.handle(PauseRequested(task_id=tid, release=arg % 2 == 0), now))
        elif op == 2:
            apply(core.handle(ResumeRequested(task_id=tid), now))
        elif op == 3:
            apply(core.handle(PreemptRequested(task_id=tid, grace=1.0,
                                               signal=int(signal.SIGUSR1)), now))
        elif op == 4:
            reason = REASONS[arg % len(REASONS)]
            apply(core.handle(CancelRequested(task_id=tid, reason=reason, by="p"), now))
        elif op == 5:
            apply(core.handle(PriorityChanged(task_id=tid, priority=arg % 3), now))
        elif op == 6 and core.next_deadline() is not None:
            now = max(now, core.next_deadline() or now)
            apply(core.handle(TimerFired(), now))
        elif op == 7 and tid in live:
            apply(core.handle(Started(tid), now))
    # stop steering: resume everything stopped, let every process end
    for _ in range(20 * n + 20):
        stopped = [i for i in range(n) if core.state(i) in (S.PAUSED, S.SUSPENDED)]
        for i in stopped:
            apply(core.handle(ResumeRequested(task_id=i), now))
        if not live:
            break
        now += 1.0
        tid = min(live)
        del live[tid]
        apply(core.handle(Exited(tid), now))
    assert all(core.state(i) in FINAL for i in range(n))
    assert core.unfinished == 0
    assert core.pool.free_cores == sc["plat"].total_cores
    assert core.pool.free_gpus == sc["plat"].total_gpus


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_steering_in_any_order_keeps_the_invariants(sc: dict[str, Any]) -> None:
    drive(sc)
