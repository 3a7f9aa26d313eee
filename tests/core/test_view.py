"""The read-only task view (tandem.core.view)."""

from __future__ import annotations

from tandem.core.events import Exited, Submitted
from tandem.core.scheduler import Scheduler
from tandem.core.states import TaskState
from tandem.core.view import TaskView

from .helpers import platform, spec

FIELDS = ("id", "spec", "state", "deps", "placement", "attempt", "failure", "submitted",
          "ready_at", "launched", "started", "ended", "level", "preempted")


def test_scheduler_tasks_are_views_with_every_field() -> None:
    core = Scheduler(platform(cores=1))
    core.handle(Submitted(task_id=0, spec=spec("a")), 0.0)
    core.handle(Exited(0), 2.0)
    view: TaskView = core.tasks[0]
    assert all(hasattr(view, f) for f in FIELDS)
    assert {n for n in dir(TaskView) if not n.startswith("_")} == set(FIELDS)
    assert (view.state, view.attempt, view.ended, view.spec.name) == (TaskState.DONE, 1, 2.0,
                                                                       "a")
