"""The mock backend: Mock tasks hold logical slots for their seconds, as loop timers. The
backend's own tests run on tandem's virtual-time loop, so every time they read is the loop's and
what they order is ordered by its timers, not by how busy the machine is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import tandem
from tandem import Platform, TaskCancelled, TaskTimedOut
from tandem.backends.base import LaunchRequest, Outcome
from tandem.backends.mock import MockBackend
from tandem.core.values import FailureKind, Placement, Slot
from tandem.sim import run_virtual
from tandem.spec.task import Executable, Mock, TaskSpec

TIMEOUT = 30.0
# A slot of a node this machine does not have: the mock backend never looks at it.
SLOT = Placement(slots=(Slot(node="summit17", cores=(160, 161), gpus=("5",)),))


class Recorder:
    """A reporter that records (event, task id, loop time) and wakes waiters per task."""

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.times: dict[tuple[str, int], float] = {}
        self.outcomes: dict[int, Outcome] = {}
        self._changed = asyncio.Event()

    def started(self, task_id: int) -> None:
        self.events.append(("started", task_id))
        self.times["started", task_id] = self.now()
        self._changed.set()

    def exited(self, outcome: Outcome) -> None:
        self.events.append(("exited", outcome.task_id))
        self.times["exited", outcome.task_id] = self.now()
        self.outcomes[outcome.task_id] = outcome
        self._changed.set()

    async def wait(self, event: str, task_id: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            while (event, task_id) not in self.times:
                self._changed.clear()
                await self._changed.wait()


def request(task_id: int, seconds: float = 0.0) -> LaunchRequest:
    return LaunchRequest(task_id=task_id, name=f"t{task_id}", kind="mock",
                         work=Mock(seconds=seconds), placement=SLOT, workdir="/nonexistent")


def run(body: Callable[[MockBackend, Recorder], Awaitable[None]], *,
        virtual: bool = True) -> None:
    """``body`` with a started backend, on the virtual-time loop (``virtual=False``: on real
    time, for the one test that compares a held time with its seconds exactly: virtual
    seconds are offset by the machine's monotonic clock, so their differences are not exact)."""
    async def main() -> None:
        backend = MockBackend()
        rec = Recorder()
        await backend.start(rec)
        try:
            await body(backend, rec)
        finally:
            await backend.shutdown()
    if virtual:
        run_virtual(main())
    else:
        asyncio.run(main())


def test_accepts_only_mock_work() -> None:
    backend = MockBackend()
    assert backend.accepts(Mock(seconds=1))
    assert not backend.accepts(Executable(argv=("true",)))


def test_started_at_once_then_exits_after_its_seconds() -> None:
    async def body(backend: MockBackend, rec: Recorder) -> None:
        t0 = rec.now()
        backend.launch(request(1, 0.2))
        assert rec.events == []          # started comes from a later callback
        await rec.wait("exited", 1)
        assert rec.events == [("started", 1), ("exited", 1)]
        assert rec.times["started", 1] - t0 < 0.05
        held = rec.times["exited", 1] - rec.times["started", 1]
        assert 0.2 <= held < 0.3
        assert rec.outcomes[1] == Outcome(1)
        assert backend.running == 0
    run(body, virtual=False)


def test_many_tasks_hold_their_slots_concurrently() -> None:
    async def body(backend: MockBackend, rec: Recorder) -> None:
        t0 = rec.now()
        for i in range(200):
            backend.launch(request(i, 0.1 + (i % 2) * 0.1))
        assert backend.running == 200
        for i in range(200):
            await rec.wait("exited", i)
        assert rec.now() - t0 < 0.5
        for i in range(200):
            held = rec.times["exited", i] - rec.times["started", i]
            assert held == pytest.approx(0.1 + (i % 2) * 0.1, abs=0.05)
    run(body)


def test_kill_while_running_reports_a_signal_failure_once() -> None:
    async def body(backend: MockBackend, rec: Recorder) -> None:
        backend.launch(request(1, 10.0))
        await rec.wait("started", 1)
        backend.kill(1)
        await rec.wait("exited", 1)
        failure = rec.outcomes[1].failure
        assert failure is not None and failure.kind is FailureKind.SIGNAL
        assert "killed" in failure.message
        backend.kill(1)                   # already ended: nothing happens
        await asyncio.sleep(0.05)
        assert rec.events == [("started", 1), ("exited", 1)]
    run(body)


def test_kill_before_the_start_callback_never_starts_it() -> None:
    async def body(backend: MockBackend, rec: Recorder) -> None:
        backend.launch(request(1, 0.0))
        backend.kill(1)
        await rec.wait("exited", 1)
        await asyncio.sleep(0.02)
        assert rec.events == [("exited", 1)]
        assert rec.outcomes[1].failure is not None
    run(body)


def test_other_work_is_a_launch_failure_not_an_exception() -> None:
    async def body(backend: MockBackend, rec: Recorder) -> None:
        backend.launch(LaunchRequest(task_id=3, name="t3", kind="x",
                                     work=Executable(argv=("true",)), placement=SLOT,
                                     workdir="/nonexistent"))
        await rec.wait("exited", 3)
        failure = rec.outcomes[3].failure
        assert failure is not None and failure.kind is FailureKind.LAUNCH
        assert "Executable" in failure.message
    run(body)


def test_shutdown_cancels_and_reports_everything_still_running() -> None:
    async def main() -> None:
        backend = MockBackend()
        rec = Recorder()
        await backend.start(rec)
        backend.launch(request(1, 10.0))
        backend.launch(request(2, 10.0))
        await rec.wait("started", 2)
        await backend.shutdown()
        assert backend.running == 0
        assert {k for k, o in rec.outcomes.items() if o.failure is not None} == {1, 2}
        await asyncio.sleep(0.02)
        assert len(rec.events) == 4
    run_virtual(main())


def mock(name: str, seconds: float, *, cores: int = 1, gpus: int = 0,
         timeout: float | None = None) -> TaskSpec:
    return TaskSpec(name=name, work=Mock(seconds=seconds),
                    resources=tandem.Resources(cores=cores, gpus=gpus), timeout=timeout)


def test_a_session_emulates_a_big_logical_platform(tmp_path: Path) -> None:
    """96 one-GPU tasks fit 16 six-GPU nodes in one wave; the 97th waits for a GPU."""
    async def main() -> list[tandem.TaskFuture]:
        summit = Platform.uniform(16, cores=168, gpus=6)
        async with tandem.open_session(summit, run_dir=tmp_path,
                                       backends=[MockBackend()]) as session:
            fs = [session.submit_spec(mock(f"s{i}", 0.2, cores=16, gpus=1)) for i in range(97)]
        return fs
    futures = asyncio.run(asyncio.wait_for(main(), TIMEOUT))
    records = [f.record for f in futures]
    assert all(f.state is tandem.TaskState.DONE for f in futures)
    first = min(r.started for r in records if r.started is not None)
    starts = sorted(r.started - first for r in records if r.started is not None)
    assert starts[95] < 0.05 and starts[96] == pytest.approx(0.2, abs=0.05)
    gpus = {(r.placement.node, r.placement.gpus) for r in records[:96] if r.placement}
    assert len(gpus) == 96               # every task got its own (logical) GPU


def test_cancel_and_timeout_through_a_session(tmp_path: Path) -> None:
    async def main() -> tuple[BaseException | None, BaseException | None, float]:
        t0 = time.monotonic()
        async with tandem.open_session(Platform.uniform(1, cores=4), run_dir=tmp_path,
                                       backends=[MockBackend()]) as session:
            slow = session.submit_spec(mock("slow", 30.0))
            limited = session.submit_spec(mock("limited", 30.0, timeout=0.1))
            await asyncio.sleep(0.1)
            slow.cancel("enough")
        return slow.exception(), limited.exception(), time.monotonic() - t0
    cancelled, timed_out, took = asyncio.run(asyncio.wait_for(main(), TIMEOUT))
    assert isinstance(cancelled, TaskCancelled)
    assert isinstance(timed_out, TaskTimedOut)
    assert took < 5


def test_a_multi_rank_mock_holds_every_rank(tmp_path: Path) -> None:
    async def main() -> tandem.TaskFuture:
        async with tandem.open_session(Platform.uniform(2, cores=4), run_dir=tmp_path,
                                       backends=[MockBackend()]) as session:
            spec = TaskSpec(name="mpi", work=Mock(seconds=0.05),
                            resources=tandem.Resources(ranks=2, cores=4))
            return session.submit_spec(spec)
    f = asyncio.run(asyncio.wait_for(main(), TIMEOUT))
    assert f.state is tandem.TaskState.DONE
    placement = f.record.placement
    assert placement is not None and {s.node for s in placement.slots} == {"node0", "node1"}
