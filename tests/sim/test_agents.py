"""Agents and steering code on virtual time: the same decisions as on real time, in a moment."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import tandem
from tandem import Duration, Platform, TaskFailed, TaskState, TaskTimedOut
from tandem.sim import (
    SimulationStuck,
    open_simulated_session,
    run_virtual,
    simulate_agents,
)
from tandem.trace.records import load_trace


def work(x: int, seconds: float, index: int = 0, gates: str | None = None) -> int:
    """A real task: returns a value the agent's next decision depends on. On virtual time it
    lasts ``seconds``; on real time it ends when the test opens its gate (the file
    ``gates/<index>``), so the order of its end does not depend on how loaded the machine is."""
    if gates is not None:
        gate = os.path.join(gates, str(index))
        while not os.path.exists(gate):
            time.sleep(0.001)
    return value(x, seconds)


def value(x: int, seconds: float, index: int = 0, gates: str | None = None) -> int:
    """The result model: what ``work`` returns, without waiting."""
    return (7 * x + 3) % 11


class Explorer(tandem.Agent):
    """Fills each free core with a task whose argument and duration follow from the results so
    far: which result arrives first decides what comes next. Durations are multiples of 0.4 s
    after a first task of 0.2 s, so the two cores' task ends stay 0.2 s apart.

    With ``order`` and ``gates`` (the real run), each fill — the one at the start and the one
    after each task's end — then opens the gate of the next task to end in ``order``: the tasks
    end in that order, one at a time, each after the agent saw the previous end."""

    def __init__(self, total: int, order: Sequence[int] = (), gates: Path | None = None) -> None:
        self.total = total
        self.results: list[int] = []
        self.submitted: list[tuple[int, float]] = []
        self.order = list(order)
        self.gates = gates
        self.fills = 0

    @tandem.on_free(cores=1)
    async def fill(self, s: tandem.AgentSession, free: tandem.Free) -> None:
        for _ in range(free.cores):
            if len(self.submitted) == self.total:
                break
            x = (sum(self.results) + len(self.submitted)) % 11
            seconds = 0.2 if not self.submitted else 0.4 * (1 + x % 2)
            s.submit(work, x, seconds, len(self.submitted),
                     str(self.gates) if self.gates is not None else None,
                     kind="sim", name=f"x{x}")
            self.submitted.append((x, seconds))
        if self.gates is not None and self.fills < len(self.order):
            (self.gates / str(self.order[self.fills])).touch()
        self.fills += 1

    @tandem.on_result(kind="sim")
    async def learn(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
        self.results.append(fut.result())


def test_an_agent_makes_the_same_decisions_on_virtual_time_as_on_real_time(
        tmp_path: Path) -> None:
    platform = Platform.local(cores=[0, 1]) if len(Platform.local().nodes[0].cores) > 1 \
        else pytest.skip("needs two cores")
    sim_agent = Explorer(8)
    sim = simulate_agents(platform, sim_agent,
                          durations=lambda spec: spec.work.args[1], results={"sim": value})
    assert len(sim.records) == 8 and sim.kinds() == {"sim": 8}
    ended = [r.ended - sim.start for r in sim.records]
    order = sorted(range(8), key=lambda i: ended[i])
    # the virtual run is exact: each task ends its modelled seconds after the core it ran on
    # was freed, and no two ends coincide
    assert sorted(round(t, 6) for t in ended) == [0.2, 0.8, 1.0, 1.4, 1.6, 1.8, 2.0, 2.6]
    # On two real worker processes, the tasks end in the order they ended on virtual time (the
    # gates see to it, whatever the machine's load): the agent submits the same tasks, with
    # the same arguments, and sees the same results.
    gates = tmp_path / "gates"
    gates.mkdir()

    async def real() -> Explorer:
        agent = Explorer(8, order, gates)
        async with tandem.open_session(platform, run_dir=tmp_path / "real") as s:
            # Both workers import this module first (the first call costs ~0.2 s).
            await tandem.gather(s.submit(work, 0, 0.0), s.submit(work, 0, 0.0))
            await tandem.run_agents(s, agent)
        return agent

    real_agent = asyncio.run(asyncio.wait_for(real(), 60))
    assert real_agent.submitted == sim_agent.submitted
    assert real_agent.results == sim_agent.results
    assert real_agent.fills == sim_agent.fills == 9      # the start, then each of 8 ends


def test_a_thousand_task_agent_campaign_simulates_in_seconds() -> None:
    class Campaign(tandem.Agent):
        def __init__(self) -> None:
            self.submitted = 0
            self.done = 0
            self.args: dict[int, int] = {}
            self.trained: list[int] = []

        @tandem.on_free(cores=1)
        async def fill(self, s: tandem.AgentSession, free: tandem.Free) -> None:
            for _ in range(min(free.cores, 1000 - self.submitted)):
                fut = s.submit(work, self.submitted, 10.0, kind="simulation")
                self.args[fut.task_id] = self.submitted
                self.submitted += 1

        @tandem.on_result(kind="simulation")
        async def collect(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            # the result model's value for this task's own argument
            assert fut.result() == (7 * self.args.pop(fut.task_id) + 3) % 11
            self.done += 1
            if self.done % 100 == 0:
                s.submit(work, 0, 0.0, kind="training", cores=4)

        @tandem.on_result(kind="training")
        async def train(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            self.trained.append(fut.result())

    agent = Campaign()
    sim = simulate_agents(
        Platform.uniform(2, cores=4), agent,
        durations={"simulation": Duration(mean=10.0, sd=2.0), "training": 5.0},
        results={"simulation": value, "training": value})
    assert agent.done == 1000 and not agent.args     # every simulation's result was checked
    assert agent.trained == [3] * 10                  # value(0, 0.0)
    assert sim.kinds() == {"simulation": 1000, "training": 10}
    assert all(r.state is TaskState.DONE for r in sim.records)
    assert 1250 <= sim.duration <= 1400      # 1,000 x 10 s on 8 cores, plus the trainings
    # the same seed gives the same run, to the microsecond
    again = simulate_agents(
        Platform.uniform(2, cores=4), Campaign(),
        durations={"simulation": Duration(mean=10.0, sd=2.0), "training": 5.0},
        results={"simulation": value, "training": value})
    assert round(again.duration, 6) == round(sim.duration, 6)


def test_modelled_durations_are_seeded_and_reproducible() -> None:
    class Burst(tandem.Agent):
        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            for i in range(20):
                s.submit(value, i, 0.0, kind="sim")

    def once(seed: int) -> list[float]:
        sim = simulate_agents(Platform.uniform(1, cores=4), Burst(), seed=seed,
                              durations={"sim": Duration(mean=5.0, sd=1.0)})
        # the clock starts at the real monotonic time: round off its float noise
        return [round(r.ended - sim.start, 6) for r in sim.records]

    assert once(1) == once(1)
    assert once(1) != once(2)


def test_plain_async_code_runs_on_virtual_time_with_timeouts_and_cancel() -> None:
    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        async with open_simulated_session(
                Platform.uniform(1, cores=2),
                durations={"sim": lambda spec: spec.work.args[0]}) as s:
            t0 = loop.time()
            a = s.submit(float, 30.0, kind="sim")
            b = s.submit(float, 10.0, kind="sim", timeout=4.0, name="slow")
            c = s.submit(float, 1.0, kind="sim", after=[b])   # waits for b: never runs
            order = [f.name async for f in tandem.as_completed([a, b])]
            with pytest.raises(TaskTimedOut):
                await b
            d = s.submit(float, 100.0, kind="sim", estimate=3.0)
            await asyncio.sleep(5.0)
            s.cancel(d, "enough")
            await asyncio.gather(d, return_exceptions=True)
            out = {"a": await a, "order": order, "c": c.state, "d": d.state,
                   "b_ran": b.record.ended - b.record.started, "t": loop.time() - t0}
        return out

    out = run_virtual(main())
    assert out["a"] == 30.0 and out["order"] == ["slow", "float"]
    assert out["c"] is TaskState.DEPENDENCY_FAILED and out["d"] is TaskState.CANCELLED
    assert out["b_ran"] == pytest.approx(4.0) and out["t"] == pytest.approx(35.0)


def test_unmodelled_kinds_run_their_own_function_in_process_and_durations_must_exist() -> None:
    async def main() -> tuple[Any, Any]:
        async with open_simulated_session(Platform.uniform(1, cores=1),
                                          durations={"fit": 2.0}) as s:
            fit = s.submit(sum, [1, 2, 3], kind="fit")
            nothing = s.submit(sum, [1], kind="other")
            return await fit, await asyncio.gather(nothing, return_exceptions=True)

    fitted, (missing,) = run_virtual(main())
    assert fitted == 6
    assert isinstance(missing, TaskFailed) and "durations={'other'" in str(missing)


def test_a_failing_result_model_fails_the_task_as_the_function_would() -> None:
    def broken(x: int) -> int:
        raise ValueError(f"no model for {x}")

    class Once(tandem.Agent):
        def __init__(self) -> None:
            self.error: BaseException | None = None

        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            s.submit(abs, 3, kind="sim")

        @tandem.on_result(kind="sim")
        async def got(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            self.error = fut.exception()

    agent = Once()
    simulate_agents(Platform.uniform(1, cores=1), agent, durations={"sim": 1.0},
                    results={"sim": broken})
    assert isinstance(agent.error, TaskFailed) and "no model for 3" in str(agent.error)


def test_a_run_that_can_never_go_on_is_reported_not_hung() -> None:
    class Waits(tandem.Agent):
        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            await asyncio.get_running_loop().create_future()   # nobody resolves it

    with pytest.raises(SimulationStuck, match="nothing is scheduled"):
        simulate_agents(Platform.uniform(1, cores=1), Waits())


def test_a_simulated_session_needs_the_virtual_loop_and_writes_a_trace(tmp_path: Path) -> None:
    async def on_real_time() -> None:
        async with open_simulated_session(Platform.uniform(1, cores=1)):
            pass

    with pytest.raises(tandem.SpecError, match="run_virtual"):
        asyncio.run(on_real_time())

    class Two(tandem.Agent):
        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            first = s.submit(abs, -1, kind="sim")
            s.submit(abs, first, kind="sim")

    sim = simulate_agents(Platform.uniform(1, cores=1), Two(), run_dir=tmp_path,
                          durations={"sim": 3600.0})
    trace = load_trace(tmp_path)
    assert [t.state for t in trace.tasks] == ["done", "done"]
    assert [round(t.ended - trace.t0, 6) for t in trace.tasks] == [3600.0, 7200.0]
    assert sim.duration == pytest.approx(7200.0, abs=1e-3)


def test_steering_on_virtual_time_pauses_and_preempts_exactly() -> None:
    class Steer(tandem.Agent):
        name = "steerer"

        @tandem.on_start
        async def go(self, s: tandem.AgentSession) -> None:
            a = s.submit(abs, -1, kind="sim", name="a")
            b = s.submit(abs, -2, kind="sim", name="b")
            await asyncio.sleep(2.0)
            s.pause(a, reason="look")          # keeps its core: 3 s added to its end
            await asyncio.sleep(2.0)
            s.preempt(b, reason="make room")   # ran 4 s; requeued, runs its 6 s left
            await asyncio.sleep(1.0)
            s.resume(a)

    steered: list[Any] = []

    class Steered(tandem.Instrument):
        def steered(self, action: Any, now: float) -> None:
            steered.append((action.action, action.by))

    sim = simulate_agents(Platform.uniform(1, cores=2), Steer(), durations={"sim": 10.0},
                          instruments=[Steered()])
    ends = {r.name: round(r.ended - sim.start, 6) for r in sim.records}
    assert ends == {"a": 13.0, "b": 10.0}
    assert steered == [("pause", "steerer"), ("preempt", "steerer"), ("resume", "steerer")]
