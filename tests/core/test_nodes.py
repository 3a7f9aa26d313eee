"""Losing a node (core/nodes.py): driven by hand, no event loop."""

from __future__ import annotations

import pytest

from tandem.core.events import Exited, NodeLost
from tandem.core.states import TaskState
from tandem.core.values import Failure, FailureKind
from tandem.errors import SpecError

from .helpers import Driver, platform, spec

S = TaskState
LOST = Failure(kind=FailureKind.NODE_FAILED, message="n0 unreachable", node="n0")


def test_a_retry_after_a_node_failure_runs_on_the_node_left() -> None:
    d = Driver(platform(cores=1, nodes=2))
    a = d.submit(spec("a", retries=1))
    b = d.submit(spec("b"))
    assert [x.placement.node for x in d.launched] == ["n0", "n1"]
    d.send(NodeLost(node="n0", message="slurmd does not answer"))
    d.finish(a, LOST)
    assert d.core.state(a) is S.READY          # its retry waits: n1 is busy, n0 is gone
    d.finish(b)
    assert d.launched[-1].task_id == a and d.launched[-1].placement.node == "n1"
    assert d.launched[-1].attempt == 2
    d.finish(a)
    assert d.resolved[a].state is S.DONE


def test_a_lost_node_is_never_used_again_even_after_its_task_ends() -> None:
    d = Driver(platform(cores=2, nodes=2))
    a = d.submit(spec("a", cores=2))
    d.send(NodeLost(node="n0"))
    d.finish(a, LOST)
    assert d.resolved[a].state is S.FAILED
    assert d.resolved[a].failure is not None
    assert d.resolved[a].failure.kind is FailureKind.NODE_FAILED
    later = [d.submit(spec(f"t{i}")) for i in range(3)]
    assert {x.placement.node for x in d.launched if x.task_id in later} == {"n1"}
    assert d.core.state(later[2]) is S.READY       # n1 has two cores: the third waits


def test_waiting_tasks_that_no_longer_fit_fail_with_the_cause() -> None:
    d = Driver(platform(cores=1, nodes=2))
    a = d.submit(spec("a"))
    wide = d.submit(spec("wide", ranks=2))                 # needs both nodes: queued
    after = d.submit(spec("after", ranks=2), deps=(a,))    # pending on a
    fits = d.submit(spec("fits"), deps=(a,))
    d.send(NodeLost(node="n1", message="slurmd stopped"))
    for tid in (wide, after):
        r = d.resolved[tid]
        assert r.state is S.FAILED and r.failure is not None
        assert r.failure.kind is FailureKind.NODE_FAILED and r.failure.node == "n1"
        assert "node 'n1' was lost (slurmd stopped)" in r.failure.message
    d.finish(a)
    assert d.launched[-1].task_id == fits and d.launched[-1].placement.node == "n0"


def test_losing_a_node_the_platform_does_not_have_changes_nothing() -> None:
    d = Driver(platform(cores=1, nodes=2))
    a = d.submit(spec("a"))
    with pytest.raises(SpecError, match="no node named 'n9'"):
        d.core.handle_many([Exited(a, None), NodeLost(node="n9")], 0.0)
    assert d.core.state(a) is S.LAUNCHED      # the batch was refused whole
