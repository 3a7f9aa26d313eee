"""Agents: each decorator, the order of handlers, errors, stopping, steering in the agent's name.

Tests whose outcome follows from when tasks end run on tandem's virtual-time loop
(:func:`tandem.sim.open_simulated_session`): the real session, scheduler and agent runtime,
with mock tasks that hold their cores for exactly their seconds of virtual time. So the order of
events is the one the durations say, on a loaded machine too, and no test waits in real time.
The tests that need real worker processes (function tasks, executables) run on real time and
do not depend on durations.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import tandem
from tandem import Platform, SpecError, TandemError, TaskCancelled, TaskState
from tandem.sim import open_simulated_session, run_virtual
from tandem.spec.pools import Quota
from tandem.spec.task import Mock, TaskSpec
from tandem.trace.records import load_trace


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` on virtual time (an hour of it at most)."""
    return run_virtual(asyncio.wait_for(coro, 3600))


def run_real(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


@asynccontextmanager
async def virtual_session(cores: int = 2, **options: Any) -> AsyncIterator[tandem.Session]:
    """A session of one node with ``cores`` cores on virtual time: a mock task runs exactly its
    seconds (no processes, no real waiting)."""
    async with open_simulated_session(Platform.uniform(1, cores=cores), **options) as s:
        yield s


def sleep(s: Any, seconds: float, kind: str = "sim", name: str = "t", cores: int = 1,
          pool: str | None = None) -> Any:
    return s.submit_spec(TaskSpec(name=name, kind=kind, work=Mock(seconds=seconds),
                                  resources=tandem.Resources(cores=cores), pool=pool))


def ago(s: tandem.AgentSession, t0: float) -> float:
    """Virtual seconds since ``t0``, rounded off float noise."""
    return round(s.time() - t0, 6)


def add(a: int, b: int) -> int:
    return a + b


class Recorder(tandem.Agent):
    """Logs what it sees, and when; on start submits tasks of the given durations."""

    def __init__(self, durations: tuple[float, ...] = ()) -> None:
        self.durations = durations
        self.log: list[Any] = []
        self.t0 = 0.0

    @tandem.on_start
    async def seed(self, s: tandem.AgentSession) -> None:
        self.t0 = s.time()
        self.log.append("start")
        for i, d in enumerate(self.durations):
            sleep(s, d, name=f"t{i}")

    @tandem.on_result(kind="sim")
    async def result(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
        self.log.append(("result", fut.name, fut.state, ago(s, self.t0)))


def test_on_start_runs_first_then_results_in_the_order_tasks_ended() -> None:
    async def main() -> list[Any]:
        async with virtual_session(cores=3) as s:
            agent = Recorder((0.06, 0.02, 0.04))
            await tandem.run_agents(s, agent)
            assert not agent.running
            return agent.log
    log = run(main())
    # each result reaches the agent at the moment its task ended
    assert log == ["start", ("result", "t1", TaskState.DONE, 0.02),
                   ("result", "t2", TaskState.DONE, 0.04),
                   ("result", "t0", TaskState.DONE, 0.06)]


def test_on_result_filters_kinds_and_sees_failed_and_cancelled_tasks() -> None:
    class Kinds(tandem.Agent):
        def __init__(self) -> None:
            self.seen: dict[str, list[str]] = {"sim": [], "any": [], "two": []}
            self.errors: list[str] = []

        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            sleep(s, 0.01, kind="sim", name="a")
            sleep(s, 0.02, kind="train", name="b")
            c = sleep(s, 5.0, kind="other", name="c")
            s.cancel(c, "not needed")

        @tandem.on_result("sim")
        async def sim(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            self.seen["sim"].append(fut.name)

        @tandem.on_result
        async def any_kind(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            self.seen["any"].append(fut.name)
            if fut.name == "c":
                with pytest.raises(TaskCancelled, match="cancelled by Kinds: not needed"):
                    fut.result()
                self.errors.append(type(fut.exception()).__name__)

        @tandem.on_result(kind=("sim", "train"))
        async def two(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            self.seen["two"].append(fut.name)

    async def main() -> Kinds:
        async with virtual_session() as s:
            agent = Kinds()
            await tandem.run_agents(s, agent)
            return agent
    agent = run(main())
    assert agent.seen == {"sim": ["a"], "any": ["c", "a", "b"], "two": ["a", "b"]}
    assert agent.errors == ["TaskCancelled"]


def test_on_free_fills_idle_cores_and_counts_what_earlier_handlers_submitted() -> None:
    class Filler(tandem.Agent):
        def __init__(self, total: int) -> None:
            self.total = total
            self.submitted = 0
            self.frees: list[int] = []
            self.running_max = 0

        @tandem.on_result(kind="sim")
        async def retrain(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            if fut.name == "t2":          # takes a core before fill's turn comes
                sleep(s, 0.05, kind="training", name="train")

        @tandem.on_free(cores=1)
        async def fill(self, s: tandem.AgentSession, free: tandem.Free) -> None:
            self.frees.append(free.cores)
            for _ in range(min(free.cores, self.total - self.submitted)):
                sleep(s, 0.01 * (1 + self.submitted % 3), name=f"t{self.submitted}")
                self.submitted += 1
            running = s.counts()[TaskState.LAUNCHED] + s.counts()[TaskState.RUNNING]
            self.running_max = max(self.running_max, running)
            assert s.free().cores == 0 or self.submitted == self.total

    async def main() -> tuple[Filler, float]:
        async with virtual_session(cores=3) as s:
            agent = Filler(12)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await tandem.run_agents(s, agent)
            return agent, round(loop.time() - t0, 6)
    agent, took = run(main())
    assert agent.submitted == 12
    assert agent.frees[0] == 3             # at the start, every core is idle
    assert agent.running_max == 3          # never more tasks than cores, and the cores kept busy
    assert all(1 <= f <= 3 for f in agent.frees)
    # the cores free at each check: every end wakes it, with what is idle after the
    # scheduler placed what was queued before (t2's training took one of the cores it freed)
    assert agent.frees == [3, 1, 2, 1, 2, 1, 3, 2, 3]
    # 12 tasks of 0.01-0.03 s (0.24 core-seconds) and a 0.05 s training on 3 cores: 0.0967 s
    # at best, and the cores stayed busy
    assert took == 0.11


def test_on_free_waits_for_enough_cores() -> None:
    class Wide(tandem.Agent):
        def __init__(self) -> None:
            self.frees: list[tuple[int, float]] = []
            self.t0 = 0.0

        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            self.t0 = s.time()
            sleep(s, 0.03, name="a")
            sleep(s, 0.01, name="b")

        @tandem.on_free(cores=3)
        async def wide(self, s: tandem.AgentSession, free: tandem.Free) -> None:
            self.frees.append((free.cores, ago(s, self.t0)))
            if len(self.frees) == 1:
                sleep(s, 0.01, name="wide", cores=3)

    async def main() -> list[tuple[int, float]]:
        async with virtual_session(cores=3) as s:
            agent = Wide()
            await tandem.run_agents(s, agent)
            return agent.frees
    # not when b ended (2 free at 0.01 s); when a ended too, and again when wide ended
    assert run(main()) == [(3, 0.03), (3, 0.04)]


def test_events_reach_every_agent_with_a_handler_in_emission_order() -> None:
    class Producer(tandem.Agent):
        name = "producer"

        @tandem.on_result(kind="sim")
        async def done(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            self.emit("retrain", fut.name)

    class Consumer(tandem.Agent):
        def __init__(self) -> None:
            self.got: list[Any] = []

        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            sleep(s, 0.02, name="x")
            sleep(s, 0.01, name="y")

        @tandem.on_event("retrain")
        async def retrain(self, s: tandem.AgentSession, payload: Any) -> None:
            self.got.append(payload)
            if payload == "x":
                s.emit("final", 42)

        @tandem.on_event("final")
        async def final(self, s: tandem.AgentSession, payload: Any) -> None:
            self.got.append(("final", payload))

    async def main() -> list[Any]:
        async with virtual_session() as s:
            c = Consumer()
            await tandem.run_agents(s, Producer(), c)
            return c.got
    assert run(main()) == ["y", "x", ("final", 42)]


def test_handlers_of_one_agent_run_one_at_a_time_in_event_order() -> None:
    class Slow(tandem.Agent):
        def __init__(self) -> None:
            self.active = 0
            self.most = 0
            self.order: list[tuple[str, float]] = []
            self.t0 = 0.0

        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            self.t0 = s.time()
            for i in range(4):
                sleep(s, 0.001 * (i + 1), name=f"t{i}")
            await asyncio.sleep(0.05)       # every task ends while this handler runs

        @tandem.on_result(kind="sim")
        async def slow(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            self.active += 1
            self.most = max(self.most, self.active)
            self.order.append((fut.name, ago(s, self.t0)))
            await asyncio.sleep(0.01)
            self.active -= 1

    async def main() -> Slow:
        async with virtual_session(cores=4) as s:
            agent = Slow()
            await tandem.run_agents(s, agent)
            return agent
    agent = run(main())
    # held back until on_start returned at 0.05 s, then one after the other, 0.01 s each
    assert agent.most == 1
    assert agent.order == [("t0", 0.05), ("t1", 0.06), ("t2", 0.07), ("t3", 0.08)]


def test_an_error_in_a_handler_stops_the_agents_and_cancels_the_sessions_tasks() -> None:
    futures: list[tandem.TaskFuture] = []

    class Failing(tandem.Agent):
        name = "thinker"

        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            futures.append(sleep(s, 0.01, name="quick"))
            futures.append(sleep(s, 30.0, name="long"))

        @tandem.on_result(kind="sim")
        async def boom(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            raise ValueError("bad result")

    class Bystander(tandem.Agent):
        def __init__(self) -> None:
            self.cancelled = False

        @tandem.on_start
        async def wait(self, s: tandem.AgentSession) -> None:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled = True
                raise

    async def main() -> tuple[Bystander, float]:
        other = Bystander()
        loop = asyncio.get_running_loop()
        with pytest.raises(ValueError, match="bad result") as info:
            async with virtual_session() as s:
                t0 = loop.time()
                await tandem.run_agents(s, Failing(), other)
        assert any("agent 'thinker'" in n and "Failing.boom" in n
                   for n in info.value.__notes__)
        return other, round(loop.time() - t0, 6)
    other, took = run(main())
    assert other.cancelled
    assert [f.state for f in futures] == [TaskState.DONE, TaskState.CANCELLED]
    assert took == 0.01          # the long task was cancelled when quick's result failed


def test_an_agent_spawned_in_the_session_ends_with_it() -> None:
    class Waiter(tandem.Agent):
        @tandem.on_event("never")
        async def never(self, s: tandem.AgentSession, payload: Any) -> None: ...

    async def main() -> Waiter:
        agent = Waiter()
        with pytest.raises(RuntimeError, match="user"):
            async with virtual_session() as s:
                s.spawn(tandem.run_agents(s, agent, stop_when_idle=False))
                await asyncio.sleep(0.01)
                assert agent.running
                raise RuntimeError("user code failed")
        return agent
    assert not run(main()).running


def test_stop_ends_the_run_and_cancel_all_names_the_agent() -> None:
    class Target(tandem.Agent):
        name = "seeker"

        def __init__(self) -> None:
            self.results = 0
            self.cancelled: list[tandem.TaskFuture] = []

        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            for i in range(6):
                sleep(s, 0.01 * (i + 1) if i < 2 else 10.0, name=f"t{i}")

        @tandem.on_result(kind="sim")
        async def check(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            self.results += 1
            if self.results == 2:
                assert len(s.outstanding("sim")) == 4
                self.cancelled = s.cancel_all("sim", reason="target reached")
                self.stop()

    async def main() -> tuple[Target, float]:
        loop = asyncio.get_running_loop()
        async with virtual_session(cores=6) as s:
            t0 = loop.time()
            agent = Target()
            await tandem.run_agents(s, agent)
            assert s.counts()[TaskState.CANCELLED] == 4
        return agent, round(loop.time() - t0, 6)
    agent, ended = run(main())
    assert agent.results == 2 and not agent.running
    assert [f.name for f in agent.cancelled] == ["t2", "t3", "t4", "t5"]
    assert all(f.state is TaskState.CANCELLED for f in agent.cancelled)
    assert all("seeker" in str(f.exception()) and "target reached" in str(f.exception())
               for f in agent.cancelled)
    assert ended == 0.02        # the run ended with t1's result, not after the 10 s tasks


def test_the_agents_of_a_run_share_results_and_a_cancel_names_its_agent() -> None:
    class Pruner(tandem.Agent):
        name = "pruner"

        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            s.cancel(sleep(s, 10.0, name="stuck"), "unproductive")

    class Watch(tandem.Agent):
        def __init__(self) -> None:
            self.seen: list[str] = []

        @tandem.on_result
        async def got(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            assert isinstance(fut.exception(), TaskCancelled)
            self.seen.append(str(fut.exception()))

    async def main() -> list[str]:
        async with virtual_session() as s:
            watch = Watch()
            await tandem.run_agents(s, Pruner(), watch)
            return watch.seen
    (message,) = run(main())
    assert "unproductive" in message and "pruner" in message


def test_stop_when_idle_false_runs_until_an_agent_stops() -> None:
    class Listener(tandem.Agent):
        def __init__(self) -> None:
            self.got: list[Any] = []

        @tandem.on_event("data")
        async def data(self, s: tandem.AgentSession, payload: Any) -> None:
            self.got.append(payload)
            if payload == "last":
                self.stop()

    async def main() -> list[Any]:
        async with virtual_session() as s:
            agent = Listener()
            runner = asyncio.create_task(tandem.run_agents(s, agent, stop_when_idle=False))
            await asyncio.sleep(10.0)      # nothing to do for a long while: it keeps running
            assert agent.running and not runner.done()
            agent.emit("data", 1)
            agent.emit("data", "last")
            agent.emit("data", "dropped")
            await runner
            return agent.got
    assert run(main()) == [1, "last"]


def test_watch_hands_tasks_of_plain_code_to_the_agents() -> None:
    async def main() -> list[Any]:
        async with virtual_session() as s:
            first = sleep(s, 0.01, name="plain")
            agent = Recorder()
            await tandem.run_agents(s, agent, watch=[first])
            return agent.log
    assert run(main()) == ["start", ("result", "plain", TaskState.DONE, 0.01)]


def test_function_tasks_on_real_workers(tmp_path: Path) -> None:
    class Chain(tandem.Agent):
        def __init__(self) -> None:
            self.values: list[int] = []

        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            s.submit(add, 1, 2, kind="sim")

        @tandem.on_result(kind="sim")
        async def next_one(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            self.values.append(fut.result())
            if len(self.values) < 3:
                s.submit(add, fut, 10, kind="sim")   # a future as argument: a dependency

    async def main() -> list[int]:
        async with tandem.open_session(Platform.local(), run_dir=tmp_path) as s:
            agent = Chain()
            await tandem.run_agents(s, agent)
            return agent.values
    assert run_real(main()) == [3, 13, 23]


def test_steering_actions_are_taken_and_traced_in_the_agents_name(tmp_path: Path) -> None:
    class Steerer(tandem.Agent):
        name = "steerer"

        def __init__(self) -> None:
            self.futures: list[tandem.TaskFuture] = []

        @tandem.on_start
        async def act(self, s: tandem.AgentSession) -> None:
            a = sleep(s, 0.2, name="a")
            b = sleep(s, 0.01, name="b")
            c = sleep(s, 0.01, name="c")
            self.futures = [a, b, c]
            # The three reach the scheduler together, with these two requests: c goes first on
            # the one core, b never runs, a runs after c.
            s.set_priority(c, 5, reason="urgent")
            s.cancel(b, "not needed")
            await asyncio.sleep(0.05)
            s.pause(a, reason="look at it")     # a ran 0.04 s of its 0.2 s
            await asyncio.sleep(0.05)
            s.resume(a)                         # and runs its 0.16 s left

    async def main() -> tuple[list[tandem.TaskFuture], float]:
        loop = asyncio.get_running_loop()
        async with virtual_session(cores=1, run_dir=tmp_path) as s:
            t0 = loop.time()
            agent = Steerer()
            await tandem.run_agents(s, agent)
        return agent.futures, t0
    futures, t0 = run(main())
    ends = {f.name: (f.state.value, round(f.record.ended - t0, 6)) for f in futures}
    assert ends == {"b": ("cancelled", 0.0), "c": ("done", 0.01), "a": ("done", 0.26)}
    steering = load_trace(tmp_path).steering
    assert {x.by for x in steering} == {"steerer"}
    assert [x.action for x in steering] == ["priority", "cancel", "pause", "resume"]


def test_on_free_of_a_pool_follows_its_quota_and_its_moves(tmp_path: Path) -> None:
    class Balancer(tandem.Agent):
        name = "balancer"

        def __init__(self) -> None:
            self.frees: list[int] = []
            self.submitted = 0

        @tandem.on_free("md", cores=1)
        async def fill(self, s: tandem.AgentSession, free: tandem.Free) -> None:
            assert free.pool == "md"
            self.frees.append(free.cores)
            for _ in range(min(free.cores, 9 - self.submitted)):
                sleep(s, 0.02, name=f"md{self.submitted}", pool="md")
                self.submitted += 1
            md = s.pools()["md"]
            assert md.used_cores <= md.quota_cores

        @tandem.on_result(kind="sim")
        async def grow(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
            if fut.name == "md0":
                s.move("default", "md", cores=1, reason="the simulations need it")

    async def main() -> Balancer:
        async with virtual_session(cores=3, run_dir=tmp_path,
                                   pools={"md": Quota(cores=2)}) as s:
            agent = Balancer()
            await tandem.run_agents(s, agent)
            return agent
    agent = run(main())
    assert agent.submitted == 9
    # 2 at the start; when md0 and md1 end at 0.02 s the move has made the quota 3
    assert agent.frees == [2, 3, 3, 3, 3]
    (move,) = load_trace(tmp_path).steering
    assert (move.action, move.by, move.reason) == ("move", "balancer", "the simulations need it")


def test_a_quota_move_alone_wakes_on_free() -> None:
    class Grower(tandem.Agent):
        def __init__(self) -> None:
            self.frees: list[int] = []

        @tandem.on_free("md", cores=1)
        async def fill(self, s: tandem.AgentSession, free: tandem.Free) -> None:
            self.frees.append(free.cores)
            for _ in range(free.cores):
                sleep(s, 30.0, pool="md")
            if len(self.frees) == 2:
                s.cancel_all(reason="done")
                self.stop()

    async def main() -> list[int]:
        async with virtual_session(cores=3, pools={"md": Quota(cores=1)}) as s:
            agent = Grower()
            runner = asyncio.create_task(tandem.run_agents(s, agent))
            await asyncio.sleep(10.0)          # no task ends: only the move can wake it
            assert agent.frees == [1]
            s.move("default", "md", cores=2, by="operator")
            await runner
            return agent.frees
    assert run(main()) == [1, 2]


def test_declarations_are_checked() -> None:
    with pytest.raises(SpecError, match="async def"):
        class Sync(tandem.Agent):
            @tandem.on_start
            def seed(self, s: Any) -> None: ...
    with pytest.raises(SpecError, match="at least one core or one GPU"):
        tandem.on_free(cores=0)
    with pytest.raises(SpecError, match="event's name"):
        tandem.on_event(lambda: None)  # type: ignore[arg-type]

    class Base(tandem.Agent):
        @tandem.on_start
        async def a(self, s: Any) -> None: ...

        @tandem.on_result(kind="x")
        @tandem.on_event("e")
        async def b(self, s: Any, arg: Any) -> None: ...

    class Child(Base):
        async def a(self, s: Any) -> None: ...     # redefined without a trigger: removed

    assert [(n, t.on) for n, t in Base.handlers] == [("a", "start"), ("b", "event"),
                                                     ("b", "result")]
    assert [(n, t.on) for n, t in Child.handlers] == [("b", "event"), ("b", "result")]
    assert Child().agent_name == "Child"
    with pytest.raises(TandemError, match="running"):
        Child().emit("e")


def test_run_agents_checks_its_arguments() -> None:
    async def main() -> None:
        async with virtual_session() as s:
            with pytest.raises(SpecError, match="at least one agent"):
                await tandem.run_agents(s)
            with pytest.raises(SpecError, match="not a tandem.Agent"):
                await tandem.run_agents(s, object())  # type: ignore[arg-type]
            a = Recorder()
            with pytest.raises(SpecError, match="twice"):
                await tandem.run_agents(s, a, a)
            with pytest.raises(SpecError, match="no resource pools"):
                class Pooled(tandem.Agent):
                    @tandem.on_free("md", cores=1)
                    async def fill(self, s: Any, free: Any) -> None: ...
                await tandem.run_agents(s, Pooled())
    run(main())


def test_tasks_an_agent_submits_are_traced_in_its_name(tmp_path: Path) -> None:
    class Planner(tandem.Agent):
        name = "planner"

        @tandem.on_start
        async def seed(self, s: tandem.AgentSession) -> None:
            sleep(s, 0.01, name="by-spec")
            s.submit(add, 1, 2, name="by-submit")
            s.execute(["true"], name="by-execute")
            s.submit(add, 2, 3, name="on-behalf", by="alice")

    async def main() -> None:
        async with tandem.open_session(Platform.uniform(1, cores=2), run_dir=tmp_path) as s:
            s.submit(add, 0, 0, name="mine")
            await tandem.run_agents(s, Planner())
    run_real(main())
    by = {t.name: t.by for t in load_trace(tmp_path).tasks}
    assert by == {"mine": "user", "by-spec": "planner", "by-submit": "planner",
                  "by-execute": "planner", "on-behalf": "alice"}
    from tandem.trace.report import write_report

    page = write_report(tmp_path).html.read_text()
    assert "submitted by" in page and "planner 3, alice 1, user 1" in page


def test_who_submits_must_be_named() -> None:
    with pytest.raises(SpecError, match="by .who submitted it. must be a non-empty string"):
        TaskSpec(name="t", work=Mock(seconds=1), by="")
