"""Actions (tandem.core.actions): frozen values; kill causes and steering actions are enums."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tandem.core.actions import Kill, Launch, Pause, Preempt, Resolve, Resume, Steered
from tandem.core.states import TaskState
from tandem.core.values import KillCause, Placement, Slot, SteerAction

P = Placement(slots=(Slot(node="n0", cores=(0,)),))


def test_launch_defaults_and_shared_cores() -> None:
    a = Launch(1, P)
    assert (a.attempt, a.preempted, a.shared_cores) == (1, 0, ())
    b = Launch(1, P, 2, 1, (3, 4))
    assert b.shared_cores == (3, 4) and b != a


def test_kill_carries_a_typed_cause() -> None:
    k = Kill(3, KillCause.TIMEOUT)
    assert k.cause is KillCause.TIMEOUT and k == Kill(task_id=3, cause=KillCause.TIMEOUT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        k.cause = KillCause.CANCEL  # type: ignore[misc]


def test_steered_action_is_an_enum_that_reads_and_serialises_as_its_word() -> None:
    s = Steered(SteerAction.MOVE, None, "balancer", "why", (("cores", 2),))
    assert s.action == "move" and s.action.value == "move" and str(s.action) == "move"
    assert json.dumps({"action": s.action}) == '{"action": "move"}'
    assert s == Steered("move", None, "balancer", "why", (("cores", 2),))  # type: ignore[arg-type]
    assert [a.value for a in SteerAction] == [
        "cancel", "pause", "resume", "preempt", "priority", "move", "defer"]


def test_other_actions() -> None:
    assert Resolve(1, TaskState.DONE).failure is None
    assert Pause(1).release is False and Resume(1).placement is None
    assert Preempt(1, 15, 2.0).grace == 2.0
