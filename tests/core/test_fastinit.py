"""fast_init: the same frozen values as the dataclass's own __init__, built faster."""

from __future__ import annotations

import dataclasses

import pytest

from tandem.core.actions import Launch, Resolve
from tandem.core.events import Exited, Submitted
from tandem.core.fastinit import fast_init
from tandem.core.states import DONE

from .helpers import spec


def test_values_keep_their_dataclass_behaviour() -> None:
    a = Launch(3, None, 2)  # type: ignore[arg-type]
    assert (a.task_id, a.placement, a.attempt, a.preempted) == (3, None, 2, 0)
    assert a == Launch(task_id=3, placement=None, attempt=2)  # type: ignore[arg-type]
    assert hash(a) == hash(Launch(3, None, 2))  # type: ignore[arg-type]
    assert repr(a) == "Launch(task_id=3, placement=None, attempt=2, preempted=0, shared_cores=())"
    assert dataclasses.replace(a, attempt=5).attempt == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.attempt = 4  # type: ignore[misc]
    assert Resolve(1, DONE) == Resolve(1, DONE, None)
    assert Exited(7).failure is None


def test_keyword_only_fields_stay_keyword_only() -> None:
    s = spec("t")
    assert Submitted(task_id=1, spec=s).deps == ()
    with pytest.raises(TypeError):
        Submitted(1, s)  # type: ignore[misc]
    with pytest.raises(TypeError):
        Launch()  # type: ignore[call-arg]


def test_refuses_classes_it_cannot_build_exactly() -> None:
    @dataclasses.dataclass(slots=True)
    class Mutable:
        x: int

    with pytest.raises(TypeError, match="frozen=True, slots=True"):
        fast_init(Mutable)

    @dataclasses.dataclass(frozen=True, slots=True)
    class WithFactory:
        xs: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="default_factory"):
        fast_init(WithFactory)

    @dataclasses.dataclass(frozen=True, slots=True)
    class WithPostInit:
        x: int

        def __post_init__(self) -> None:
            pass

    with pytest.raises(TypeError, match="__post_init__"):
        fast_init(WithPostInit)
