"""The core's bookkeeping of one task (tandem.core.task)."""

from __future__ import annotations

from tandem.core.states import PENDING
from tandem.core.task import CoreTask

from .helpers import spec


def test_a_new_task_starts_pending_with_its_spec_values() -> None:
    s = spec("a", cores=2, priority=3, estimate=4.0)
    t = CoreTask(5, s, (1, 2), 7.0)
    assert (t.id, t.state, t.deps, t.submitted) == (5, PENDING, (1, 2), 7.0)
    assert (t.req, t.prio, t.est, t.bottom) == (s.resources, 3, 4.0, 4.0)
    assert t.kill is None and t.kill_message == "" and t.attempt == 0
    assert not hasattr(t, "__dict__")
