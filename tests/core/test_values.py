"""Core values (tandem.core.values)."""

from __future__ import annotations

import dataclasses

import pytest

from tandem.core.values import Failure, FailureKind, KillCause, Placement, Slot, SteerAction


def test_placement_reads_its_first_slot() -> None:
    p = Placement(slots=(Slot(node="n1", cores=(2, 3), gpus=("0",)),
                         Slot(node="n2", cores=(0,))))
    assert (p.node, p.cores, p.gpus) == ("n1", (2, 3), ("0",))
    with pytest.raises(TypeError):
        Slot("n0", (0,))  # type: ignore[misc]


def test_failure_defaults() -> None:
    f = Failure(kind=FailureKind.EXIT, message="boom")
    assert (f.exit_code, f.signal, f.root_task_id, f.by) == (None, None, None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.message = "x"  # type: ignore[misc]


def test_kill_causes_and_steer_actions() -> None:
    assert {c.name for c in KillCause} == {"TIMEOUT", "CANCEL", "PREEMPT", "SHUTDOWN", "WALLTIME"}
    assert len({hash(c) for c in KillCause}) == 5
    assert SteerAction("pause") is SteerAction.PAUSE and SteerAction.PAUSE == "pause"
