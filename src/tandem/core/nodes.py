"""Losing a node: nothing is placed there again, and waiting tasks that no longer fit fail.

Contract: :func:`on_node_lost` handles :class:`~tandem.core.events.NodeLost` (a backend found
a node failed or unreachable: the driver sends it before the exit of the task that found it).
The pool takes the node's free ids out for good and keeps what its running tasks hold when
they end (:meth:`~tandem.core.pool.ResourcePool.lose`); their exits come from their backends
as usual, and a retry is placed on the nodes left. A task not placed yet (waiting for its
dependencies, or ready) whose request can no longer fit the nodes left fails at once with
``NODE_FAILED``, so that no task waits forever for a node that is gone; results kept there
count as gone (no task is placed near them). Pure: no I/O, no
clock. :func:`check_node_lost` raises for a node the platform does not have.
Imports: tandem.core.actions, tandem.core.events, tandem.core.lifecycle, tandem.core.state,
tandem.core.states, tandem.core.transitions, tandem.core.values, tandem.errors, tandem.spec.
"""

from __future__ import annotations

from tandem.core.actions import Action
from tandem.core.events import NodeLost
from tandem.core.lifecycle import Cause
from tandem.core.state import CoreState
from tandem.core.states import FAILED, PENDING, READY
from tandem.core.transitions import finish
from tandem.core.values import Failure, FailureKind
from tandem.errors import InfeasibleRequest, SpecError
from tandem.spec.platform import Platform


def check_node_lost(s: CoreState, ev: NodeLost) -> None:
    """Raise :class:`SpecError` if ``ev`` names a node the platform does not have."""
    s.platform.node(ev.node)


def nodes_left(s: CoreState) -> Platform | None:
    """The platform without its lost nodes (``None`` when none is left)."""
    alive = tuple(n for n in s.platform.nodes if n.name not in s.pool.lost)
    return Platform(nodes=alive, name=s.platform.name,
                    network=s.platform.network) if alive else None


def on_node_lost(s: CoreState, ev: NodeLost, now: float, out: list[Action]) -> None:
    check_node_lost(s, ev)
    if ev.node in s.pool.lost:
        return
    s.pool.lose(ev.node)
    s.feasible.clear()
    left = nodes_left(s)
    why = f"node {ev.node!r} was lost" + (f" ({ev.message})" if ev.message else "")
    for t in list(s.tasks.values()):
        if t.kept and t.placement is not None and t.placement.node == ev.node:
            t.kept = 0          # its kept result went with the node: nothing to be near
        if t.state is not PENDING and t.state is not READY:
            continue
        try:
            if left is None:
                raise SpecError("no node of the platform is left")
            left.check_feasible(t.spec.resources, task=t.spec.name)
        except (InfeasibleRequest, SpecError) as e:
            failure = Failure(kind=FailureKind.NODE_FAILED, node=ev.node, root_task_id=t.id,
                              message=f"task {t.spec.name!r} can no longer run: {why}; {e}")
            finish(s, t, FAILED, failure, now, out, Cause.NODE_LOST)
    s.dirty = True
