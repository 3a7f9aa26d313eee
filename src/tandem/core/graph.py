"""The task graph as it grows: a new task's DAG level and its edges to the tasks it waits on.

Contract: a pure function over the core's task records, called when a task is submitted; no
I/O, no clock. Edges point from a dependency to its dependents (``dependents``, made on
the first edge); a new task counts the dependencies it still waits on (``deps_left``).

Imports: tandem.core.states, tandem.core.task, tandem.errors.
"""

from __future__ import annotations

from collections.abc import Mapping

from tandem.core.states import DONE, FINAL
from tandem.core.task import CoreTask
from tandem.errors import SpecError


def link(t: CoreTask, deps: tuple[int, ...], tasks: Mapping[int, CoreTask]) -> CoreTask | None:
    """Give the new task ``t`` its DAG level (one more than its deepest dependency) and wire
    it to the dependencies it waits on; or, when one of them already failed or was cancelled,
    return that one (nothing is wired). An unknown dependency is a :class:`SpecError`."""
    for d in deps:
        if d not in tasks:
            raise SpecError(f"task {t.spec.name!r} depends on unknown task id {d}")
    level = 0
    upstream_bad: CoreTask | None = None
    waiting_on: list[CoreTask] = []
    for d in deps:
        p = tasks[d]
        if p.level >= level:
            level = p.level + 1
        st = p.state
        if st is DONE:
            continue
        if st in FINAL:
            upstream_bad = upstream_bad or p
        else:
            waiting_on.append(p)
    t.level = level
    if upstream_bad is not None:
        return upstream_bad
    for p in waiting_on:
        t.deps_left += 1
        if p.dependents is None:
            p.dependents = [t]
        else:
            p.dependents.append(t)
    return None
