"""The simulator with resource pools and timed steering events: the same core, virtual time."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tandem.core.events import PauseRequested, PreemptRequested, QuotaMoved, ResumeRequested
from tandem.errors import SpecError
from tandem.sim.simulator import SimTask, simulate
from tandem.spec import Mock, Platform, Quota, Resources, TaskSpec
from tandem.trace.jsonl import JsonlTrace
from tandem.trace.records import load_trace


def task(name: str, seconds: float, pool: str | None = None, cores: int = 1,
         deps: tuple[int, ...] = ()) -> SimTask:
    return SimTask(spec=TaskSpec(name=name, work=Mock(seconds=seconds), pool=pool,
                                 resources=Resources(cores=cores)),
                   duration=seconds, deps=deps)


def test_pools_and_a_move_in_the_simulator(tmp_path: Path) -> None:
    plat = Platform.uniform(1, cores=4)
    tasks = [task(f"md{i}", 10.0, "md") for i in range(4)] + [task("ml", 30.0, "ml")]
    move = (5.0, QuotaMoved(source="default", target="md", cores=2, by="planner",
                            reason="md queue is long"))
    trace = JsonlTrace(tmp_path)
    result = simulate(plat, tasks, pools={"md": Quota(cores=1), "ml": Quota(cores=1)},
                      steering=[move], instruments=[trace])
    launched = [r.launched for r in result.records]
    # md runs one at a time until the move at t=5 gives it the two idle default cores.
    assert launched == [0.0, 5.0, 5.0, 10.0, 0.0]
    assert result.makespan == 30.0
    steer = load_trace(tmp_path).steering
    assert [(s.t, s.action, s.by, s.details["to"]) for s in steer] == [
        (5.0, "move", "planner", "md")]


def test_paused_and_preempted_tasks_keep_their_work_in_the_simulator() -> None:
    plat = Platform.uniform(1, cores=1)
    steering = [
        (2.0, PauseRequested(task_id=0, release=True)),      # b runs from 2 to 5
        (6.0, ResumeRequested(task_id=0)),                    # a needs the core: waits
        (8.0, PreemptRequested(task_id=0, grace=1.0, signal=signal.SIGTERM)),
    ]
    result = simulate(plat, [task("a", 10.0), task("b", 3.0)], steering=steering)
    a, b = result.records
    assert (b.launched, b.ended) == (2.0, 5.0)
    # a ran 2 s, resumed at 6 (b is done), ran 2 s more until the preemption at 8, was
    # launched again at once and ran its last 6 s.
    assert a.attempts == 2 and a.preempted == 1 and a.ended == 14.0
    assert a.state.value == "done"


def test_tasks_that_can_never_start_are_reported() -> None:
    plat = Platform.uniform(1, cores=2)
    with pytest.raises(SpecError, match="1 tasks can never start"):
        simulate(plat, [task("a", 1.0, "md")], pools={"md": Quota(cores=0)})
