"""The task states (tandem.core.states)."""

from __future__ import annotations

from tandem.core import states
from tandem.core.states import FINAL, STOPPED, TaskState


def test_groups_and_globals() -> None:
    assert {s for s in TaskState if s.final} == FINAL
    assert {TaskState.PAUSED, TaskState.SUSPENDED, TaskState.RESUMING} == STOPPED
    assert not STOPPED & FINAL
    for s in TaskState:
        assert getattr(states, s.name) is s
        assert s.__doc__ and s.value == s.name.lower()
    assert hash(TaskState.DONE) == object.__hash__(TaskState.DONE)
