"""Backfill (tandem.core.backfill): running tasks by expected end, reservations, EASY rules."""

from __future__ import annotations

import math

from tandem.core.backfill import Releases, may_backfill, reserve, reserve_on_node
from tandem.core.pool import Reservation, ResourcePool
from tandem.core.states import DONE, LAUNCHED, RUNNING, SUSPENDED
from tandem.core.task import CoreTask
from tandem.core.values import Placement, Slot
from tandem.spec import Resources

from .helpers import platform, spec


def running(tid: int, node: str, cores: tuple[int, ...], est: float | None) -> CoreTask:
    t = CoreTask(tid, spec(f"t{tid}", cores=len(cores), estimate=est), (), 0.0)
    t.state = RUNNING
    t.attempt = 1
    t.placement = Placement(slots=(Slot(node=node, cores=cores),))
    return t


def test_releases_come_in_expected_end_order_then_tasks_without_estimates() -> None:
    tasks: dict[int, CoreTask] = {}
    rel = Releases(tasks)
    for t, at in [(running(0, "n0", (0,), 5.0), 0.0), (running(1, "n0", (1,), 2.0), 0.0),
                  (running(2, "n1", (0,), None), 0.0), (running(3, "n1", (1,), 1.0), 4.0)]:
        tasks[t.id] = t
        if t.est:
            rel.launched(t, at)
    assert [(when, p.node, p.cores) for when, p in rel.in_order(0.0)] == [
        (2.0, "n0", (1,)), (5.0, "n0", (0,)), (5.0, "n1", (1,)), (math.inf, "n1", (0,))]


def test_ended_and_overdue_tasks() -> None:
    tasks: dict[int, CoreTask] = {}
    rel = Releases(tasks)
    a, b = running(0, "n0", (0,), 1.0), running(1, "n0", (1,), 10.0)
    tasks.update({0: a, 1: b})
    rel.launched(a, 0.0)
    rel.launched(b, 0.0)
    assert [w for w, _ in rel.in_order(3.0)] == [1.0, 10.0]   # a runs past its estimate
    assert list(rel.overdue) == [0]
    a.state = DONE
    del tasks[0]
    rel.ended(a)
    assert rel.overdue == {} and [w for w, _ in rel.in_order(3.0)] == [10.0]
    b.state = SUSPENDED                  # stopped: not expected to release anything
    assert list(rel.in_order(3.0)) == []
    assert rel.size() == 0


def test_stale_entries_are_compacted_and_hold_no_task() -> None:
    tasks: dict[int, CoreTask] = {}
    rel = Releases(tasks)
    for i in range(500):
        t = running(i, "n0", (0,), 1.0)
        tasks[i] = t
        rel.launched(t, float(i))
        del tasks[i]                     # ended at once
    assert rel.size() <= 2 * len(tasks) + 65
    assert all(not isinstance(x, CoreTask) for e in rel.heap for x in e)


def test_reserve_and_may_backfill() -> None:
    pool = ResourcePool(platform(cores=2, nodes=2))
    a = pool.try_place(Resources(cores=2))
    b = pool.try_place(Resources(cores=1))
    assert a is not None and b is not None
    tasks = {0: running(0, "n0", (0, 1), 4.0), 1: running(1, "n1", (0,), 8.0)}
    rel = Releases(tasks)
    for t in tasks.values():
        rel.launched(t, 0.0)
    blocked = CoreTask(2, spec("big", cores=2), (), 0.0)
    res = reserve(pool, blocked, rel, 0.0)
    assert res == Reservation(at=4.0, node="n0", spare_cores=0, spare_gpus=0)
    short = CoreTask(3, spec("short", estimate=3.0), (), 0.0)
    here = Placement(slots=(Slot(node="n0", cores=(0,)),))
    assert may_backfill(short, here, res, 0.0) == (True, res)          # ends before
    long = CoreTask(4, spec("long", estimate=9.0), (), 0.0)
    assert may_backfill(long, here, res, 0.0) == (False, res)          # would delay it
    there = Placement(slots=(Slot(node="n1", cores=(1,)),))
    assert may_backfill(long, there, res, 0.0) == (True, res)          # another node
    assert may_backfill(long, here, None, 0.0) == (False, None)
    roomy = Reservation(at=4.0, node="n0", spare_cores=1, spare_gpus=0)
    ok, left = may_backfill(long, here, roomy, 0.0)                    # uses the spare core
    assert ok and left is not None and left.spare_cores == 0


def test_reserve_on_node_for_a_resuming_task() -> None:
    pool = ResourcePool(platform(cores=2, nodes=2))
    assert pool.try_place_on("n0", Resources(cores=2)) is not None
    tasks = {0: running(0, "n0", (0, 1), 6.0)}
    rel = Releases(tasks)
    rel.launched(tasks[0], 0.0)
    resuming = CoreTask(1, spec("r", cores=1), (), 0.0)
    resuming.state = LAUNCHED
    resuming.placement = Placement(slots=(Slot(node="n0", cores=()),))
    res = reserve_on_node(pool, resuming, rel, 0.0)
    assert res == Reservation(at=6.0, node="n0", spare_cores=1, spare_gpus=0)
    resuming.placement = Placement(slots=(Slot(node="n1", cores=()),))
    res = reserve_on_node(pool, resuming, rel, 0.0)
    assert res is not None and (res.at, res.node, res.spare_cores) == (0.0, "n1", 1)
