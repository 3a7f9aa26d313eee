"""The discrete-event engine: virtual time, overheads, timeouts, failures, hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.core.actions import Launch
from tandem.core.policy import Order, Policy
from tandem.core.record import TaskRecord
from tandem.core.states import TaskState
from tandem.errors import SpecError
from tandem.model import utilisation
from tandem.sim import SimTask, run, simulate
from tandem.spec import Network, Node, Platform, Resources, TaskSpec
from tandem.spec.task import Mock
from tandem.trace import Instrument, JsonlTrace, read_trace


def spec(name: str, *, cores: int = 1, gpus: int = 0, priority: int = 0,
         timeout: float | None = None, retries: int = 0, estimate: float | None = None
         ) -> TaskSpec:
    return TaskSpec(name=name, work=Mock(seconds=0), resources=Resources(cores=cores, gpus=gpus),
                    priority=priority, timeout=timeout, retries=retries, estimate=estimate)


ONE = Platform.uniform(1, cores=1)


def test_chain_on_virtual_time() -> None:
    r = simulate(ONE, [SimTask(spec=spec("a"), duration=2.0),
                       SimTask(spec=spec("b"), duration=3.0, deps=(0,))])
    assert r.makespan == 5.0 and r.makespan_from_submit == 5.0
    a, b = r.records
    assert (a.started, a.ended, b.started, b.ended) == (0.0, 2.0, 2.0, 5.0)
    assert all(x.state is TaskState.DONE for x in r.records)
    assert [x.task_id for x in r.launches] == [0, 1]
    assert r.core_seconds == 5.0 and r.gpu_seconds == 0.0


def test_overhead_is_a_launch_delay_that_holds_resources() -> None:
    r = simulate(ONE, [SimTask(spec=spec("a"), duration=2.0),
                       SimTask(spec=spec("b"), duration=3.0)], overhead=0.5)
    a, b = r.records
    assert (a.launched, a.started, a.ended) == (0.0, 0.5, 2.5)
    assert (b.launched, b.started, b.ended) == (2.5, 3.0, 6.0)
    assert r.first_start == 0.5
    assert r.makespan == 5.5 and r.makespan_from_submit == 6.0
    assert r.core_seconds == 5.0   # running time only, not the launch delay


def test_same_instant_events_reach_the_core_together() -> None:
    # Two tasks end at t=1; the priority policy then sees both waiting tasks at once.
    plat = Platform.uniform(1, cores=2)
    tasks = [SimTask(spec=spec("x"), duration=1.0), SimTask(spec=spec("y"), duration=1.0),
             SimTask(spec=spec("low"), duration=1.0, deps=(0,)),
             SimTask(spec=spec("high", cores=2, priority=5), duration=1.0, deps=(1,))]
    r = simulate(plat, tasks, Policy(order=Order.PRIORITY, backfill=False))
    assert [a.task_id for a in r.launches] == [0, 1, 3, 2]
    assert r.makespan == 3.0


def test_timeout_ends_the_task_and_frees_its_core() -> None:
    tasks = [SimTask(spec=spec("slow", timeout=2.0), duration=10.0),
             SimTask(spec=spec("next"), duration=1.0),
             SimTask(spec=spec("child"), duration=1.0, deps=(0,))]
    r = simulate(ONE, tasks)
    slow, nxt, child = r.records
    assert slow.state is TaskState.TIMED_OUT and slow.ended == 2.0
    assert nxt.started == 2.0 and nxt.ended == 3.0
    assert child.state is TaskState.DEPENDENCY_FAILED
    assert r.makespan == 3.0


def test_failure_retries_and_propagation() -> None:
    tasks = [SimTask(spec=spec("flaky", retries=1), duration=1.0, fails=True),
             SimTask(spec=spec("child"), duration=1.0, deps=(0,))]
    r = simulate(ONE, tasks)
    flaky, child = r.records
    assert flaky.state is TaskState.FAILED and flaky.attempts == 2 and flaky.ended == 2.0
    assert child.state is TaskState.DEPENDENCY_FAILED
    assert child.failure is not None and child.failure.root_task_id == 0
    assert r.core_seconds == 2.0


def test_gpu_seconds_and_utilisation_agree_with_records() -> None:
    plat = Platform.uniform(2, cores=2, gpus=1)
    tasks = [SimTask(spec=spec(f"g{i}", cores=1, gpus=1), duration=1.0 + i) for i in range(3)]
    tasks.append(SimTask(spec=spec("c", cores=2), duration=4.0))
    r = simulate(plat, tasks)
    assert r.utilisation(plat) == pytest.approx(utilisation(r.records, plat))
    assert r.gpu_seconds == 1.0 + 2.0 + 3.0


class Hooks(Instrument):
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def run_started(self, platform: Platform, policy: str, now: float, epoch: float) -> None:
        self.calls.append(("run", policy))

    def task_launched(self, launch: Launch, now: float) -> None:
        self.calls.append(("launch", (launch.task_id, now)))

    def task_ended(self, record: TaskRecord) -> None:
        self.calls.append(("end", (record.task_id, record.state.value)))

    def run_ended(self, now: float) -> None:
        self.calls.append(("close", now))


def test_instrument_hooks_in_event_order() -> None:
    hooks = Hooks()
    simulate(ONE, [SimTask(spec=spec("a"), duration=1.0),
                   SimTask(spec=spec("b"), duration=1.0, deps=(0,), fails=True),
                   SimTask(spec=spec("c"), duration=1.0, deps=(1,))], instruments=[hooks])
    assert hooks.calls == [
        ("run", "async/critical_path"), ("launch", (0, 0.0)), ("end", (0, "done")),
        ("launch", (1, 1.0)), ("end", (1, "failed")), ("end", (2, "dependency_failed")),
        ("close", 2.0),
    ]


def test_jsonl_trace_of_a_simulation(tmp_path: Path) -> None:
    trace = JsonlTrace(tmp_path)
    plat = Platform.uniform(1, cores=2, gpus=1)
    simulate(plat, [SimTask(spec=spec("g", gpus=1), duration=1.5),
                    SimTask(spec=spec("c"), duration=1.0, deps=(0,))], instruments=[trace])
    lines = list(read_trace(tmp_path))
    # Both tasks ended before the first flush: each end record carries its launch.
    assert [x["ev"] for x in lines] == ["run", "end", "end", "close"]
    assert lines[1]["slots"] == [["node0", [0], ["0"]]] and lines[1]["launched"] == 0.0
    assert lines[2]["started"] == 1.5 and lines[2]["ended"] == 2.5


def test_keep_false_drops_records() -> None:
    r = run(ONE, [spec("a")], [()], [1.0], keep=False)
    assert r.records == () and r.launches == () and r.makespan == 1.0 and r.events == 2


def test_bad_inputs() -> None:
    with pytest.raises(SpecError, match="earlier"):
        run(ONE, [spec("a"), spec("b")], [(1,), ()], [1.0, 1.0])
    with pytest.raises(SpecError, match="same length"):
        run(ONE, [spec("a")], [()], [])
    with pytest.raises(SpecError, match="overhead"):
        run(ONE, [spec("a")], [()], [1.0], overhead=-1)
    with pytest.raises(SpecError, match="fails"):
        run(ONE, [spec("a")], [()], [1.0], fails=[3])


def test_empty() -> None:
    r = run(ONE, [], [], [])
    assert r.makespan == 0.0 and r.records == ()


def test_kept_outputs_place_a_consumer_near_them_and_moves_cost_their_transfer() -> None:
    plat = Platform(nodes=(Node(name="a", cores=(0,)), Node(name="b", cores=(0,))),
                    network=Network(bandwidth=1e8, latency=0.0))    # 100 MB: 1 s
    tasks = [SimTask(spec=spec("short"), duration=0.5),              # a, free again at 0.5
             SimTask(spec=spec("producer"), duration=1.0, output_bytes=100_000_000),   # b
             SimTask(spec=spec("consumer"), duration=1.0, deps=(1,))]
    near = simulate(plat, tasks)
    assert near.records[2].placement is not None and near.records[2].placement.node == "b"
    assert (near.makespan, near.moved_bytes, near.transfer_seconds) == (2.0, 0, 0.0)
    far = simulate(plat, tasks, Policy(locality=False))            # first fit: node a
    assert far.records[2].placement is not None and far.records[2].placement.node == "a"
    assert (far.makespan, far.moved_bytes, far.transfer_seconds) == (3.0, 100_000_000, 1.0)
