"""The runtime and the simulator make the same decisions on the same scenario.

Each scenario runs through a real ``tandem.open_session`` with the scripted backend (durations
at ``SCALE`` seconds per unit, real time) and through the simulator (same durations, same
policy). Both must launch the same tasks in the same order on the same node, core ids and GPU
ids, and end every task in the same state.

Real time jitters: the scenarios keep every two task ends at least ``MIN_GAP`` units apart
(asserted on the simulation), and if the runtime still observes its task ends in another order
than the simulation (a loaded machine), the comparison would be meaningless, so that run is
repeated with durations twice as long (at most twice more) before the decisions are compared.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

import tandem
from tandem.core.actions import Launch
from tandem.core.record import TaskRecord
from tandem.core.values import Placement
from tandem.sim import run
from tandem.sim.calibrate import calibrate
from tandem.trace import Instrument
from tests.conformance.backend import ScriptedBackend
from tests.conformance.scenarios import MIN_GAP, SCENARIO_SCALE, Scenario, scenarios

SCALE = SCENARIO_SCALE   # seconds per unit: scenarios last 0.1-0.5 s


class Log(Instrument):
    """What a driver decided: launches in order, and tasks in the order they ended."""

    def __init__(self) -> None:
        self.launches: list[tuple[int, int, tuple[Any, ...]]] = []
        self.ends: list[int] = []
        self.states: dict[int, str] = {}

    def task_launched(self, launch: Launch, now: float) -> None:
        self.launches.append((launch.task_id, launch.attempt, slots(launch.placement)))

    def task_ended(self, record: TaskRecord) -> None:
        self.ends.append(record.task_id)
        self.states[record.task_id] = record.state.value


def slots(p: Placement) -> tuple[Any, ...]:
    return tuple((s.node, s.cores, s.gpus) for s in p.slots)


def simulate(sc: Scenario) -> tuple[Log, tuple[TaskRecord, ...]]:
    log = Log()
    result = run(sc.platform, sc.specs, sc.deps, [d * SCALE for d in sc.durations],
                 policy=sc.policy, fails=sc.fails, instruments=[log], pools=sc.pools)
    return log, result.records


async def run_runtime(sc: Scenario, run_dir: Path, scale: float) -> Log:
    log = Log()
    backend = ScriptedBackend({i: d * scale for i, d in enumerate(sc.durations)}, sc.fails)
    async with tandem.open_session(sc.platform, run_dir=run_dir, policy=sc.policy,
                                   backends=[backend], instruments=[log],
                                   pools=sc.pools) as s:
        futures: list[tandem.TaskFuture] = []
        for spec, deps in zip(sc.specs, sc.deps, strict=True):
            futures.append(s.submit_spec(spec, after=[futures[d] for d in deps]))
        await s.wait_all()
    return log


SCENARIOS = scenarios()


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_runtime_and_simulator_decide_alike(sc: Scenario, tmp_path: Path) -> None:
    expected, records = simulate(sc)
    # The scenario is well separated: tasks that ran end MIN_GAP units apart or more.
    ends = sorted(r.ended for r in records if r.launched is not None and r.ended is not None)
    gaps = [b - a for a, b in itertools.pairwise(ends)]
    assert not gaps or min(gaps) >= MIN_GAP * SCALE - 1e-12, f"{sc.name}: ends too close"

    scale = SCALE
    for attempt in range(3):
        got = asyncio.run(run_runtime(sc, tmp_path / f"run{attempt}", scale))
        if got.ends == expected.ends:
            break
        scale *= 2     # timing disturbed the order of events: not a decision to compare
    assert got.ends == expected.ends, f"{sc.name}: end order still differs at {scale} s/unit"
    assert got.launches == expected.launches
    assert got.states == expected.states


def test_scenarios_cover_the_brief() -> None:
    names = {s.name for s in SCENARIOS}
    assert {"slide-async", "slide-barrier", "dg2-async", "dg2-barrier", "gpu-contention",
            "priorities", "failure", "pools"} <= names
    by_name = {s.name: s for s in SCENARIOS}
    failing = by_name["failure"]
    _, records = simulate(failing)
    assert [r.state.value for r in records] == [
        "done", "failed", "dependency_failed", "dependency_failed", "done", "done",
        "dependency_failed", "timed_out", "dependency_failed"]
    assert records[1].attempts == 2
    # Somebody waits for a GPU, and the DG2 scenario spreads over both nodes.
    _, gpu = simulate(by_name["gpu-contention"])
    assert any(r.launched is not None and r.ready is not None and r.launched > r.ready
               for r in gpu)
    _, dg2 = simulate(by_name["dg2-async"])
    assert {r.placement.node for r in dg2 if r.placement} == {"node0", "node1"}
    # Barrier and async differ on the slide DAG: D waits for F's level in barrier mode.
    # A pool at its quota waits while other pools' cores are idle ("x" ended, "big" waits).
    _, pooled = simulate(by_name["pools"])
    assert pooled[7].launched > pooled[6].ended > pooled[3].launched  # type: ignore[operator]
    a, _ = simulate(by_name["slide-async"])
    b, _ = simulate(by_name["slide-barrier"])
    assert a.ends != b.ends


def test_calibrating_a_runtime_trace(tmp_path: Path) -> None:
    """A real run's trace calibrates the simulator: fitted durations match the script."""
    sc = next(s for s in SCENARIOS if s.name == "dg2-async")
    asyncio.run(run_runtime(sc, tmp_path, SCALE))
    cal = calibrate(tmp_path)
    assert cal.tasks == len(sc.specs)
    t0 = cal.by_set["T0"]
    assert t0.mean == pytest.approx((38 + 6 * 2.5) * SCALE, abs=0.004)
    assert 0 <= cal.launch_latency < 0.005 and 0 <= cal.dispatch_gap < 0.005
