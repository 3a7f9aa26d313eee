"""The core's state (tandem.core.state): one place, no references to itself."""

from __future__ import annotations

import gc
import weakref

import pytest

from tandem.core.policy import Mode, Order, Policy
from tandem.core.state import CoreState
from tandem.errors import InfeasibleRequest, SpecError
from tandem.spec import Quota

from .helpers import platform, spec


def test_a_new_state_is_empty_and_follows_the_policy() -> None:
    s = CoreState(platform(cores=2), Policy(order=Order.FIFO, mode=Mode.BARRIER))
    assert s.barrier and not s.cp and s.quotas is None
    assert s.entry(type("T", (), {"id": 4})()) == (4,)  # type: ignore[arg-type]
    assert set(s.footprint().values()) == {0}
    assert s.pool.free_cores == 2 and s.unfinished == 0 and not s.dirty


def test_task_lookup_and_feasibility() -> None:
    s = CoreState(platform(cores=2), Policy(), {"sim": Quota(cores=1)})
    with pytest.raises(SpecError, match="no task with id 3"):
        s.task(3)
    s.check_feasible(spec("ok"))
    with pytest.raises(InfeasibleRequest):
        s.check_feasible(spec("big", cores=3))
    assert s.pool_of(spec("x")) == "default"


def test_a_dropped_state_is_freed_without_the_cycle_collector() -> None:
    gc.disable()
    try:
        s = CoreState(platform(cores=2), Policy())
        probe = weakref.ref(s.queue)
        del s
        assert probe() is None
    finally:
        gc.enable()


def test_bucket_of_checks_the_request_once_and_remembers_the_last_plain_one() -> None:
    s = CoreState(platform(cores=2), Policy())
    a = spec("a")
    bucket, pool = s.bucket_of(a)
    assert pool is None and s.last_req is a.resources and s.last_bucket is bucket
    assert s.bucket_of(spec("b"))[0] is bucket         # an equal request: the same bucket
    with pytest.raises(InfeasibleRequest):
        s.bucket_of(spec("big", cores=3))
    pooled = CoreState(platform(cores=2), Policy(), {"sim": Quota(cores=1)})
    bucket, pool = pooled.bucket_of(a)
    assert pool == "default" and pooled.last_req is None and not bucket.plain
