"""Critical-path bottom levels (tandem.core.critical_path)."""

from __future__ import annotations

from tandem.core.critical_path import raise_ancestors, settle
from tandem.core.states import PENDING, READY, RUNNING
from tandem.core.task import CoreTask

from .helpers import spec


def task(tid: int, est: float, deps: tuple[int, ...] = (), state: object = PENDING) -> CoreTask:
    t = CoreTask(tid, spec(f"t{tid}", estimate=est), deps, 0.0)
    t.state = state  # type: ignore[assignment]
    return t


def test_settle_gives_a_burst_its_bottom_levels_in_one_reverse_pass() -> None:
    # a -> b -> d, a -> c -> d: bottom(a) = 1 + max(2, 5) + 1
    a, b, c, d = task(0, 1.0), task(1, 2.0, (0,)), task(2, 5.0, (0,)), task(3, 1.0, (1, 2))
    tasks = {t.id: t for t in (a, b, c, d)}
    rekeyed: list[int] = []
    settle([a, b, c, d], tasks, lambda t: rekeyed.append(t.id))
    assert (a.bottom, b.bottom, c.bottom, d.bottom) == (7.0, 3.0, 6.0, 1.0)
    assert set(rekeyed) == {0, 1, 2}


def test_an_older_ancestor_is_raised_transitively_but_not_a_started_one() -> None:
    root = task(0, 1.0, state=RUNNING)
    mid = task(1, 1.0, (0,), state=READY)
    tasks = {0: root, 1: mid}
    settle([root, mid], tasks, lambda t: None)
    assert mid.bottom == 1.0 and root.bottom == 1.0     # root started: not raised
    leaf = task(2, 10.0, (1,))
    tasks[2] = leaf
    rekeyed: list[int] = []
    settle([leaf], tasks, lambda t: rekeyed.append(t.id))
    assert mid.bottom == 11.0 and root.bottom == 1.0 and rekeyed == [1]


def test_raise_ancestors_skips_forgotten_dependencies() -> None:
    mid = task(1, 1.0, (0,), state=READY)       # task 0 was forgotten
    top = task(2, 1.0, (1,))
    top.bottom = 5.0
    rekeyed: list[int] = []
    raise_ancestors(top, {1: mid, 2: top}, lambda t: rekeyed.append(t.id))
    assert mid.bottom == 6.0 and rekeyed == [1]


def test_settle_of_nothing_is_nothing() -> None:
    settle([], {}, lambda t: None)
