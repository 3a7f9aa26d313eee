"""Events (tandem.core.events): frozen values; those with several strings are keyword-only."""

from __future__ import annotations

import dataclasses

import pytest

from tandem.core import events as ev
from tandem.core.values import KillCause

from .helpers import spec

KEYWORD_ONLY = [ev.Submitted, ev.CancelRequested, ev.PauseRequested, ev.ResumeRequested,
                ev.PreemptRequested, ev.PriorityChanged, ev.QuotaMoved]


@pytest.mark.parametrize("cls", KEYWORD_ONLY)
def test_steering_events_and_submissions_are_keyword_only(cls: type) -> None:
    assert all(f.kw_only for f in dataclasses.fields(cls))
    with pytest.raises(TypeError):
        cls(1, "x")


def test_hot_path_events_stay_positional() -> None:
    assert ev.Started(3).task_id == 3
    assert ev.Exited(3).failure is None
    assert ev.TimerFired() == ev.TimerFired()


def test_cancel_defaults_and_frozen() -> None:
    c = ev.CancelRequested(task_id=1)
    assert (c.reason, c.by, c.cause) == ("cancelled by the user", None, KillCause.CANCEL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.reason = "x"  # type: ignore[misc]
    s = ev.Submitted(task_id=2, spec=spec("a"))
    assert s.deps == () and dataclasses.replace(s, deps=(1,)).deps == (1,)


def test_every_event_type_is_in_the_union() -> None:
    names = {t.__name__ for t in ev.Event.__args__}  # type: ignore[attr-defined]
    assert names == {"Submitted", "Restored", "Started", "Exited", "CancelRequested", "TimerFired",
                     "PauseRequested", "ResumeRequested", "PreemptRequested",
                     "PriorityChanged", "QuotaMoved", "NodeLost"}
