"""Critical-path bottom levels: a task's estimate plus the longest bottom level among its
dependents, over the graph known so far.

Contract: pure functions over the scheduler's task records; no I/O, no clock. Only tasks that
have not started (pending or ready) are raised: a started task's priority no longer matters.
A dependency that was forgotten (final, so not waiting) is skipped.

Imports: tandem.core.states, tandem.core.task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tandem.core.states import PENDING, READY
from tandem.core.task import CoreTask

_WAITING = (PENDING, READY)


def raise_ancestors(t: CoreTask, tasks: Mapping[int, CoreTask],
                    requeue: Callable[[CoreTask], None]) -> None:
    """``t`` got a new bottom level; raise its not-yet-started ancestors' (``requeue`` is
    called for each raised task)."""
    stack = [t]
    while stack:
        c = stack.pop()
        for d in c.deps:
            p = tasks.get(d)
            if p is None or p.state not in _WAITING:
                continue
            b = p.est + c.bottom
            if b > p.bottom:
                p.bottom = b
                requeue(p)
                stack.append(p)


def settle(burst: Sequence[CoreTask], tasks: Mapping[int, CoreTask],
           requeue: Callable[[CoreTask], None]) -> None:
    """Give a run of newly submitted tasks (increasing ids) their bottom levels in one reverse
    pass (dependents have higher ids) and raise older ancestors: the same result as raising
    after each submission, in O(new tasks + their edges) instead of O(new tasks x ancestors)."""
    if not burst:
        return
    first = burst[0].id
    for c in reversed(burst):
        b = c.bottom
        for d in c.deps:
            p = tasks[d]
            if p.state not in _WAITING:
                continue
            nb = p.est + b
            if nb > p.bottom:
                p.bottom = nb
                if p.id < first:      # an older task: re-key it, raise its ancestors
                    requeue(p)
                    raise_ancestors(p, tasks, requeue)
                else:                 # of this run: re-keyed if already queued (no deps)
                    requeue(p)
