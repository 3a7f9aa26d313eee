"""A task's record (tandem.core.record)."""

from __future__ import annotations

from tandem.core.record import TaskRecord
from tandem.core.states import TaskState
from tandem.spec import Resources


def rec(**kw: object) -> TaskRecord:
    base: dict[str, object] = dict(
        task_id=1, name="a", kind="sim", state=TaskState.DONE,
        resources=Resources(cores=2, gpus=1, ranks=2), deps=(), placement=None, attempts=1,
        failure=None, submitted=0.0, ready=0.0, launched=1.0, started=1.5, ended=4.0, level=0)
    base.update(kw)
    return TaskRecord(**base)  # type: ignore[arg-type]


def test_totals_and_duration() -> None:
    r = rec()
    assert (r.cores, r.gpus, r.preempted) == (4, 2, 0)
    assert r.duration == 2.5
    assert rec(started=None).duration == 3.0
    assert rec(ended=None).duration is None
