"""Stage barriers (tandem.core.barrier): a level opens when every lower level has ended."""

from __future__ import annotations

from tandem.core.barrier import Barriers
from tandem.core.task import CoreTask

from .helpers import spec


def task(tid: int, level: int) -> CoreTask:
    t = CoreTask(tid, spec(f"t{tid}"), (), 0.0)
    t.level = level
    return t


def test_a_level_opens_when_every_lower_one_has_ended() -> None:
    b = Barriers()
    a0, b0, c1, d2 = task(0, 0), task(1, 0), task(2, 1), task(3, 2)
    for t in (a0, b0, c1, d2):
        b.add(t.level)
    assert not b.hold(a0) and not b.hold(b0)     # level 0 is open
    assert b.hold(c1) and b.hold(d2)
    assert b.held_count() == 2
    assert b.finished(0) == []                   # b0 still runs
    assert b.finished(0) == [c1]                 # level 1 opens; level 2 still waits
    assert b.finished(1) == [d2]
    assert b.held_count() == 0


def test_tasks_submitted_later_join_their_level() -> None:
    b = Barriers()
    b.add(0)
    late = task(5, 1)
    b.add(1)
    assert b.hold(late)
    b.add(0)                                     # another level-0 task arrives
    assert b.finished(0) == []
    assert b.finished(0) == [late]


def test_a_held_task_that_ended_can_be_forgotten() -> None:
    b = Barriers()
    b.add(0)
    t = task(1, 1)
    b.add(1)
    assert b.hold(t)
    b.forget(t)
    assert b.held_count() == 0
    b.forget(t)                                  # not held: nothing to do
    assert b.finished(0) == []
