"""Recomputing a kept result lost with its node: a new task in its producer's place, and the
tasks that need the result waiting for it.

Contract: pure functions over the core's state, called by the submission of a task with
``Submitted.replaces`` (the driver sends one when a node is lost and the producer's spec
allows a retry). While the recomputation ``R`` of a finished task ``P`` is not final:

- every task that depends on ``P`` and has not started (pending, or ready: it goes back to
  pending, cause ``INPUT_LOST``) also depends on ``R``;
- a task submitted meanwhile that names ``P`` waits for ``R`` as well (:func:`extend`);
- when ``R`` ends, successful or not, nothing waits on ``P`` through it any more: its
  dependents proceed, or end as any task's dependents do when ``R`` fails.

No I/O, no clock.

Imports: tandem.core.lifecycle, tandem.core.state, tandem.core.states, tandem.core.task,
tandem.errors.
"""

from __future__ import annotations

from tandem.core.lifecycle import STEP, Cause
from tandem.core.state import CoreState
from tandem.core.states import DONE, PENDING, READY
from tandem.core.task import CoreTask
from tandem.errors import TandemInternalError

if STEP[Cause.INPUT_LOST][READY] is not PENDING:      # the lifecycle's move, checked once
    raise TandemInternalError("the lifecycle must take a ready task back to pending when "
                              "an input is lost")


def check(s: CoreState, task_id: int, replaces: int) -> None:
    """Raise unless ``replaces`` is a finished, successful task (what may be recomputed)."""
    p = s.tasks.get(replaces)
    if p is None or p.state is not DONE:
        raise TandemInternalError(
            f"task {task_id} submitted to recompute task {replaces}, which is "
            f"{'unknown' if p is None else p.state.value}, not done")


def extend(s: CoreState, deps: tuple[int, ...]) -> tuple[int, ...]:
    """``deps`` with the recomputations under way of the tasks they name."""
    extra = tuple(r for d in deps if (r := s.recomputing.get(d)) is not None and r not in deps)
    return deps + extra if extra else deps


def start(s: CoreState, r: CoreTask, replaces: int) -> None:
    """``r`` recomputes ``replaces``: the tasks that need it and have not started wait for
    ``r`` too."""
    s.recomputing[replaces] = r.id
    s.recompute_of[r.id] = replaces
    for c in list(s.tasks.values()):      # O(tasks): a node is rarely lost
        if c is r or replaces not in c.deps or r.id in c.deps:
            continue
        st = c.state
        if st is not PENDING and st is not READY:
            continue
        c.deps = (*c.deps, r.id)
        c.deps_left += 1
        if r.dependents is None:
            r.dependents = [c]
        else:
            r.dependents.append(c)
        if st is READY:
            c.state = PENDING       # cause INPUT_LOST (the lifecycle's move, checked above)
            c.entry = None          # its queue entry goes stale
            if s.waits:
                s.waits.pop(c.id, None)


def ended(s: CoreState, t: CoreTask) -> None:
    """``t`` reached a final state: if it was a recomputation, it is over."""
    p = s.recompute_of.pop(t.id, None)
    if p is not None and s.recomputing.get(p) == t.id:
        del s.recomputing[p]
