"""Utilisation, makespan and busy series over task records (paper section 1.4)."""

from __future__ import annotations

import itertools

import pytest

from tandem.core.record import TaskRecord
from tandem.core.states import TaskState
from tandem.core.values import Placement, Slot
from tandem.errors import SpecError
from tandem.model import busy_series, makespan, utilisation
from tandem.model.utilisation import ResourceName
from tandem.sim import predict
from tandem.spec import Platform, Resources
from tests.paper import dg


def rec(tid: int, cores: int, gpus: int, start: float | None, end: float | None,
        *, launched: float | None = None) -> TaskRecord:
    placement = Placement(slots=(Slot(node="n0", cores=tuple(range(cores)),
                                      gpus=tuple(str(g) for g in range(gpus))),))
    ran = end is not None
    return TaskRecord(
        task_id=tid, name=f"t{tid}", kind="task",
        state=TaskState.DONE if ran else TaskState.DEPENDENCY_FAILED,
        resources=Resources(cores=cores, gpus=gpus), deps=(), placement=placement if ran else None,
        attempts=1 if ran else 0, failure=None, submitted=0.0, ready=start,
        launched=launched if launched is not None else start, started=start, ended=end, level=0)


PLATFORM = Platform.uniform(1, cores=4, gpus=2)
RECORDS = [
    rec(0, 2, 1, 10.0, 20.0),
    rec(1, 1, 0, 15.0, 30.0),
    rec(2, 1, 1, 20.0, 30.0),
    rec(3, 4, 0, None, None),          # never ran
]


def test_makespan_is_first_start_to_last_end() -> None:
    assert makespan(RECORDS) == 20.0
    assert makespan([]) == 0.0
    # Without a start, the launch counts.
    r = rec(9, 1, 0, None, 5.0, launched=1.0)
    assert makespan([r]) == 4.0


def test_utilisation() -> None:
    u = utilisation(RECORDS, PLATFORM)
    # cores: 2*10 + 1*15 + 1*10 = 45 over 4 * 20; GPUs: 10 + 10 = 20 over 2 * 20.
    assert u == {"cores": pytest.approx(45 / 80), "gpus": pytest.approx(0.5)}
    assert utilisation(RECORDS, Platform.uniform(1, cores=4))["gpus"] == 0.0


def test_busy_series() -> None:
    assert busy_series(RECORDS, "cores") == [(10.0, 2), (15.0, 3), (20.0, 2), (30.0, 0)]
    assert busy_series(RECORDS, "gpus") == [(10.0, 1), (30.0, 0)]   # 0 -> 20 hands over
    with pytest.raises(SpecError):
        busy_series(RECORDS, "disks")  # type: ignore[arg-type]


def test_series_integral_equals_utilisation() -> None:
    p = predict(dg(2), mode="async", seeds=1)
    plat = dg(2).platform
    caps: tuple[tuple[ResourceName, int], ...] = (
        ("cores", plat.total_cores), ("gpus", plat.total_gpus))
    for res, cap in caps:
        series = busy_series(p.records, res)
        area = sum(b * (t2 - t1) for (t1, b), (t2, _) in itertools.pairwise(series))
        span = series[-1][0] - series[0][0]
        assert area / (cap * span) == pytest.approx(p.utilisation[res])
        assert utilisation(p.records, plat)[res] == pytest.approx(p.utilisation[res])
        assert max(b for _, b in series) <= cap
