"""Data-aware placement: a consumer goes to the node its inputs are kept on, waits for it only
as long as moving them would take and only when an estimate says room opens there in time."""

from __future__ import annotations

from tandem.core.events import Exited, NodeLost, TimerFired
from tandem.core.policy import Policy
from tandem.spec import Network, Node, Platform

from .helpers import Driver, spec

MB = 1_000_000


def two_nodes(cores: int = 1, bandwidth: float = 1e8, latency: float = 0.0) -> Platform:
    """Two nodes; moving 100 MB between them takes 1 s at the default bandwidth."""
    return Platform(nodes=(Node(name="a", cores=tuple(range(cores))),
                           Node(name="b", cores=tuple(range(cores)))),
                    network=Network(bandwidth=bandwidth, latency=latency))


def node_of(d: Driver, tid: int) -> str | None:
    for a in d.launched:
        if a.task_id == tid:
            return a.placement.node
    return None


def producer_on_b(d: Driver, kept: int, *, other_estimate: float | None = 10.0) -> int:
    """A long task takes node a; the producer runs on b, then the long one ends (a is free
    again), then the producer ends keeping ``kept`` bytes on b. Returns the producer's id."""
    long = d.submit(spec("long", estimate=other_estimate))
    prod = d.submit(spec("producer", estimate=1.0))
    assert node_of(d, long) == "a" and node_of(d, prod) == "b"
    d.now = 0.5
    d.finish(long)
    d.now = 1.0
    d.send(Exited(prod, None, kept))
    return prod


def test_a_consumer_goes_to_the_node_its_input_is_kept_on() -> None:
    d = Driver(two_nodes())
    prod = producer_on_b(d, 100 * MB)
    c = d.submit(spec("consumer"), deps=(prod,))
    assert node_of(d, c) == "b"            # first fit alone would take a


def test_without_locality_or_a_kept_result_first_fit_decides() -> None:
    off = Driver(two_nodes(), Policy(locality=False))
    c = off.submit(spec("consumer"), deps=(producer_on_b(off, 100 * MB),))
    assert node_of(off, c) == "a"
    by_value = Driver(two_nodes())
    c = by_value.submit(spec("consumer"), deps=(producer_on_b(by_value, 0),))
    assert node_of(by_value, c) == "a"


def test_the_home_is_the_node_holding_most_of_the_inputs() -> None:
    d = Driver(two_nodes())
    p1 = d.submit(spec("p1", estimate=1.0))
    p2 = d.submit(spec("p2", estimate=1.0))
    assert (node_of(d, p1), node_of(d, p2)) == ("a", "b")
    d.now = 1.0
    d.send(Exited(p1, None, 10 * MB))
    d.send(Exited(p2, None, 30 * MB))
    c = d.submit(spec("consumer"), deps=(p1, p2))
    assert node_of(d, c) == "b"


def home_busy(d: Driver, *, estimate: float | None) -> tuple[int, int]:
    """Node b has 2 cores: the producer and a runner of ``estimate`` s share it; a has 2 free
    cores. The producer ends at t=1 keeping 100 MB (1 s to move); a 2-core consumer is
    submitted. Returns (runner, consumer)."""
    block = d.submit(spec("block", cores=2, estimate=0.5))   # takes a, so the next go to b
    prod = d.submit(spec("producer", estimate=1.0))
    runner = d.submit(spec("runner", estimate=estimate))
    assert node_of(d, prod) == node_of(d, runner) == "b"
    d.now = 0.5
    d.finish(block)
    d.now = 1.0
    d.send(Exited(prod, None, 100 * MB))
    consumer = d.submit(spec("consumer", cores=2), deps=(prod,))
    return runner, consumer


def test_it_waits_for_its_home_when_room_opens_there_before_a_move_would_end() -> None:
    d = Driver(two_nodes(cores=2))
    runner, consumer = home_busy(d, estimate=1.5)       # b frees at 1.5 < 1.0 + 1 s move
    assert node_of(d, consumer) is None                  # waiting, though a is free
    assert d.core.next_deadline() == 2.0                 # at most until the move would end
    d.now = 1.5
    d.finish(runner)
    assert node_of(d, consumer) == "b"
    assert d.core.footprint()["waits"] <= 1              # a stale heap entry, dropped later
    assert d.core.next_deadline() is None
    assert d.core.footprint()["waits"] == 0


def test_a_wait_never_outlasts_the_move_it_saves() -> None:
    d = Driver(two_nodes(cores=2))
    _runner, consumer = home_busy(d, estimate=1.5)
    d.now = 2.0                                          # the runner overran its estimate
    d.send(TimerFired())
    assert node_of(d, consumer) == "a"


def test_it_does_not_wait_without_an_estimate_or_when_room_opens_too_late() -> None:
    for estimate in (None, 5.0):
        d = Driver(two_nodes(cores=2))
        _runner, consumer = home_busy(d, estimate=estimate)
        assert node_of(d, consumer) == "a", estimate


def test_a_waiting_task_does_not_block_others_behind_it() -> None:
    d = Driver(two_nodes(cores=2))
    _runner, consumer = home_busy(d, estimate=1.5)
    other = d.submit(spec("other", cores=1))            # another shape, after the consumer
    assert node_of(d, consumer) is None
    assert node_of(d, other) == "a"


def test_inputs_on_a_lost_node_are_gone_a_waiting_task_goes_elsewhere_at_once() -> None:
    d = Driver(two_nodes(cores=2))
    _runner, consumer = home_busy(d, estimate=1.5)
    assert node_of(d, consumer) is None                  # waiting for b
    d.send(NodeLost(node="b"))
    assert node_of(d, consumer) == "a"
    assert d.core.next_deadline() is None                # its wait was dropped
