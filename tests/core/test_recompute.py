"""Recomputing a result lost with its node: the tasks that need it wait for the new task."""

from __future__ import annotations

import pytest

from tandem.core.events import Exited, NodeLost, Submitted
from tandem.core.states import TaskState as S
from tandem.core.values import Failure, FailureKind
from tandem.errors import TandemInternalError

from .helpers import Driver, platform, spec

MB = 1_000_000


def lost_producer() -> tuple[Driver, int, int]:
    """Two nodes of one core: the producer ran on n1 and kept 10 MB there; a blocker holds n0;
    a consumer of the producer is ready (n1 is about to be lost). Returns (driver, producer,
    consumer)."""
    d = Driver(platform(cores=1, nodes=2))
    block = d.submit(spec("block"))                # n0
    prod = d.submit(spec("producer"))              # n1
    d.send(Exited(prod, None, 10 * MB))
    d.send(NodeLost(node="n1"))
    cons = d.submit(spec("consumer"), deps=(prod,))
    assert d.core.state(cons) is S.READY and d.core.state(block) is S.LAUNCHED
    return d, prod, cons


def recompute(d: Driver, prod: int, name: str = "producer (recomputed)") -> int:
    tid = d.next_id
    d.next_id += 1
    d.take(d.core.handle(Submitted(task_id=tid, spec=spec(name), deps=(), replaces=prod),
                         d.now))
    return tid


def test_a_ready_dependent_waits_for_the_recomputation_then_runs() -> None:
    d, prod, cons = lost_producer()
    r = recompute(d, prod)
    assert d.core.state(cons) is S.PENDING           # back to waiting, for r
    assert d.core.record(cons).deps == (prod, r)
    later = d.submit(spec("later"), deps=(prod,))    # submitted meanwhile: waits for r too
    assert d.core.record(later).deps == (prod, r)
    d.finish(0)                                      # the blocker ends: n0 is free ...
    assert d.launched_ids()[-1] == r                 # ... and the recomputation takes it
    d.send(Exited(r, None, 10 * MB))
    assert d.core.state(cons) is S.LAUNCHED
    assert d.core.footprint()["recomputing"] == 0
    after = d.submit(spec("after"), deps=(prod,))
    assert d.core.record(after).deps == (prod,)          # over: nothing waits on r now


def test_a_failed_recomputation_fails_what_waited_for_it() -> None:
    d, prod, cons = lost_producer()
    r = recompute(d, prod)
    d.finish(0)
    d.send(Exited(r, Failure(kind=FailureKind.EXCEPTION, message="boom")))
    assert d.core.state(r) is S.FAILED
    assert d.core.state(cons) is S.DEPENDENCY_FAILED
    assert d.core.record(cons).failure is not None
    assert d.core.record(cons).failure.root_task_id == r  # type: ignore[union-attr]


def test_only_a_finished_task_can_be_recomputed() -> None:
    d = Driver(platform(cores=1))
    running = d.submit(spec("running"))
    with pytest.raises(TandemInternalError, match="recompute task 0, which is launched"):
        recompute(d, running)
    with pytest.raises(TandemInternalError, match="unknown"):
        d.core.handle_many([Submitted(task_id=5, spec=spec("x")),
                            Submitted(task_id=6, spec=spec("y"), replaces=99)], 0.0)
    assert d.core.footprint()["tasks"] == 1          # the batch applied nothing
