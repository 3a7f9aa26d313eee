"""Hypothesis properties of the core: random graphs, random exit orders, failures and cancels.

- no core or GPU id is ever held by two running tasks;
- every task reaches a final state;
- no task launches before each of its dependencies is done (and, in barrier mode, before every
  lower level has ended);
- the same inputs give the same decisions.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.core.actions import Launch, Resolve
from tandem.core.events import CancelRequested, Exited, Started, Submitted, TimerFired
from tandem.core.policy import Mode, Order, Policy
from tandem.core.pool import Fit
from tandem.core.scheduler import Scheduler
from tandem.core.states import TaskState
from tandem.core.values import Failure, FailureKind

from .helpers import platform, spec

FAIL = Failure(kind=FailureKind.EXIT, message="x", exit_code=1)


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    n_nodes = draw(st.integers(1, 3))
    cores = draw(st.integers(1, 4))
    gpus = draw(st.integers(0, 2))
    n = draw(st.integers(1, 30))
    tasks = []
    for i in range(n):
        c = draw(st.integers(0, cores))
        g = draw(st.integers(0, gpus))
        if c == 0 and g == 0:
            c = 1
        ranks = draw(st.integers(1, 2)) if c and not g and n_nodes * (cores // c) >= 2 else 1
        deps = tuple(sorted(draw(st.sets(st.integers(0, i - 1), max_size=3)))) if i else ()
        tasks.append(dict(cores=c, gpus=g, ranks=ranks, deps=deps,
                          est=draw(st.sampled_from([None, 0.5, 1.0, 3.0])),
                          prio=draw(st.integers(0, 2)),
                          timeout=draw(st.sampled_from([None, None, 2.0])),
                          retries=draw(st.integers(0, 1))))
    return dict(
        plat=platform(cores=cores, gpus=gpus, nodes=n_nodes), tasks=tasks,
        policy=Policy(mode=draw(st.sampled_from(list(Mode))),
                      order=draw(st.sampled_from(list(Order))),
                      fit=draw(st.sampled_from(list(Fit))), backfill=draw(st.booleans())),
        choices=draw(st.lists(st.integers(0, 1000), min_size=200, max_size=200)),
    )


def run(sc: dict[str, Any]) -> list[Any]:
    """Drive a scenario to the end, checking invariants at every step; return all actions."""
    core = Scheduler(sc["plat"], sc["policy"])
    choices = iter(sc["choices"] * 50)
    now = 0.0
    log: list[Any] = []
    running: dict[int, Launch] = {}
    done: set[int] = set()
    ended: dict[int, TaskState] = {}
    levels_open: dict[int, int] = {}
    specs = {}

    def apply(actions: list[Any]) -> None:
        for a in actions:
            log.append(a)
            if isinstance(a, Launch):
                t = sc["tasks"][a.task_id]
                for d in t["deps"]:
                    assert d in done, f"task {a.task_id} launched before dependency {d}"
                if sc["policy"].mode is Mode.BARRIER:
                    lvl = core.record(a.task_id).level
                    assert all(v == 0 for k, v in levels_open.items() if k < lvl)
                running[a.task_id] = a
                assert len(a.placement.slots) == t["ranks"]
                for s in a.placement.slots:
                    assert len(s.cores) == t["cores"] and len(s.gpus) == t["gpus"]
                held: set[tuple[str, str]] = set()
                for r in running.values():
                    for s in r.placement.slots:
                        for x in [*(f"c{c}" for c in s.cores), *(f"g{g}" for g in s.gpus)]:
                            assert (s.node, x) not in held, "oversubscribed"
                            held.add((s.node, x))
            elif isinstance(a, Resolve):
                assert a.task_id not in ended, "resolved twice"
                ended[a.task_id] = a.state
                levels_open[core.record(a.task_id).level] -= 1
                if a.state is TaskState.DONE:
                    done.add(a.task_id)

    for i, t in enumerate(sc["tasks"]):
        s = spec(f"t{i}", cores=t["cores"], gpus=t["gpus"], ranks=t["ranks"],
                 estimate=t["est"], priority=t["prio"], timeout=t["timeout"],
                 retries=t["retries"])
        specs[i] = s
        lvl = max((core.record(d).level + 1 for d in t["deps"]), default=0)
        levels_open[lvl] = levels_open.get(lvl, 0) + 1
        apply(core.handle(Submitted(task_id=i, spec=s, deps=t["deps"]), now))
    while running:
        c = next(choices)
        deadline = core.next_deadline()
        if deadline is not None and c % 7 == 0:
            now = max(now, deadline)
            apply(core.handle(TimerFired(), now))
            continue
        tid = sorted(running)[c % len(running)]
        now += 0.25
        if c % 11 == 0:
            apply(core.handle(CancelRequested(task_id=tid, reason="property"), now))
        if c % 3 == 0 and core.state(tid) is TaskState.LAUNCHED:
            apply(core.handle(Started(tid), now))
        del running[tid]
        apply(core.handle(Exited(tid, FAIL if c % 5 == 0 else None), now))
        if c % 13 == 0:   # cancel something not yet running
            waiting = [i for i in range(len(sc["tasks"])) if not core.state(i).final
                       and i not in running]
            if waiting:
                cancel = CancelRequested(task_id=waiting[0], reason="property")
                apply(core.handle(cancel, now))
    assert len(ended) == len(sc["tasks"]), "a task never reached a final state"
    assert all(core.state(i).final for i in range(len(sc["tasks"])))
    assert core.unfinished == 0
    assert core.pool.free_cores == sc["plat"].total_cores
    assert core.pool.free_gpus == sc["plat"].total_gpus
    return log


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_invariants_hold(sc: dict[str, Any]) -> None:
    run(sc)


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_same_inputs_same_decisions(sc: dict[str, Any]) -> None:
    assert run(sc) == run(sc)
