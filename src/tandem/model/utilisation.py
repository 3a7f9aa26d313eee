"""Measured metrics of a run (real or simulated): makespan, utilisation, busy-unit series.

Contract: pure functions over anything shaped like a finished task (:class:`Ran`): the
:class:`~tandem.core.record.TaskRecord` values the runtime's futures and the simulator return,
and the tasks read back from a trace (``tandem.trace.records``); no I/O. Imports
``tandem.spec`` only.

- A task *ran* if it has an end and a beginning; it begins when it started (``started``), or
  when it was launched if the driver never reported a start. Tasks that never ran (a failed
  dependency, cancelled while waiting) count nowhere.
- *Makespan* (TTX) is the time from the first task's beginning to the last task's end, as in the
  paper (section 1.1): it leaves out whatever came before the first start.
- *Utilisation* of a resource ``r`` is ``sum over tasks of r_t * duration_t`` divided by
  ``capacity_r * makespan`` (section 1.4); ``0.0`` when the platform has none of ``r``.
- ``busy_series`` is the step function of busy units of ``r``: ``(t, n)`` means ``n`` units
  are busy from ``t`` to the next point (points only where the count changes).
Imports: tandem.errors, tandem.spec.platform.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, Protocol

from tandem.errors import SpecError
from tandem.spec.platform import Platform

ResourceName = Literal["cores", "gpus"]
RESOURCES: tuple[ResourceName, ...] = ("cores", "gpus")


class Ran(Protocol):
    """What these metrics read of a task: when it was launched, started and ended, and how
    many cores and GPUs it held (over all ranks)."""

    @property
    def launched(self) -> float | None: ...

    @property
    def started(self) -> float | None: ...

    @property
    def ended(self) -> float | None: ...

    @property
    def cores(self) -> int: ...

    @property
    def gpus(self) -> int: ...


def _span(r: Ran) -> tuple[float, float] | None:
    begin = r.started if r.started is not None else r.launched
    if begin is None or r.ended is None:
        return None
    return begin, r.ended


def _units(r: Ran, resource: ResourceName) -> int:
    if resource == "cores":
        return r.cores
    if resource == "gpus":
        return r.gpus
    raise SpecError(f"resource must be 'cores' or 'gpus', got {resource!r}")


def makespan(records: Iterable[Ran]) -> float:
    """First beginning to last end over the tasks that ran (0 if none ran)."""
    first = last = None
    for r in records:
        span = _span(r)
        if span is None:
            continue
        b, e = span
        if first is None or b < first:
            first = b
        if last is None or e > last:
            last = e
    if first is None or last is None:
        return 0.0
    return last - first


def utilisation(records: Iterable[Ran], platform: Platform) -> dict[str, float]:
    """``{"cores": U, "gpus": U}`` over the run's makespan (see the module docstring)."""
    recs = list(records)
    return utilisation_over(recs, {"cores": platform.total_cores, "gpus": platform.total_gpus},
                            makespan(recs))


def utilisation_over(records: Iterable[Ran], capacity: Mapping[str, int], span: float
                     ) -> dict[str, float]:
    """``{"cores": U, "gpus": U}`` of ``records`` against ``capacity`` over ``span`` seconds
    (the whole run's makespan when the records are a part of it, e.g. one kind)."""
    recs = list(records)
    out: dict[str, float] = {}
    for res in RESOURCES:
        work = 0.0
        for r in recs:
            s = _span(r)
            if s is not None:
                work += _units(r, res) * (s[1] - s[0])
        cap = capacity[res]
        out[res] = work / (cap * span) if cap and span > 0 else 0.0
    return out


def busy_series(records: Iterable[Ran], resource: ResourceName
                ) -> list[tuple[float, int]]:
    """Busy units of ``resource`` over time: one ``(t, busy)`` point per instant at which the
    number of busy units changes, sorted by ``t``; the last point is 0 busy."""
    delta: dict[float, int] = {}
    for r in records:
        s = _span(r)
        if s is None:
            continue
        u = _units(r, resource)
        if not u:
            continue
        delta[s[0]] = delta.get(s[0], 0) + u
        delta[s[1]] = delta.get(s[1], 0) - u
    out: list[tuple[float, int]] = []
    busy = 0
    for t in sorted(delta):
        d = delta[t]
        if d:
            busy += d
            out.append((t, busy))
    return out
