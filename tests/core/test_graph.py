"""The growing graph: levels, edges to the dependencies a task waits on, failed upstreams."""

from __future__ import annotations

import pytest

from tandem.core.graph import link
from tandem.core.states import DONE, FAILED, RUNNING
from tandem.core.task import CoreTask
from tandem.errors import SpecError

from .helpers import spec


def task(tid: int, level: int = 0, state: object = RUNNING) -> CoreTask:
    t = CoreTask(tid, spec(f"t{tid}"), (), 0.0)
    t.level = level
    t.state = state  # type: ignore[assignment]
    return t


def test_level_is_one_more_than_the_deepest_dependency_and_edges_go_to_waited_ones() -> None:
    a, b, c = task(0, level=0, state=DONE), task(1, level=3), task(2, level=1)
    tasks = {0: a, 1: b, 2: c}
    new = CoreTask(3, spec("new"), (0, 1, 2), 0.0)
    assert link(new, (0, 1, 2), tasks) is None
    assert new.level == 4 and new.deps_left == 2
    assert a.dependents is None and b.dependents == [new] and c.dependents == [new]


def test_a_failed_dependency_is_returned_and_nothing_is_wired() -> None:
    ok, bad = task(0), task(1, state=FAILED)
    new = CoreTask(2, spec("new"), (0, 1), 0.0)
    assert link(new, (0, 1), {0: ok, 1: bad}) is bad
    assert ok.dependents is None and new.deps_left == 0


def test_an_unknown_dependency_names_the_task() -> None:
    with pytest.raises(SpecError, match="task 'new' depends on unknown task id 9"):
        link(CoreTask(0, spec("new"), (9,), 0.0), (9,), {})
