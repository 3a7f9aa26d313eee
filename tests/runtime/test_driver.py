"""The driver forgets what it no longer needs: a long session does not grow with its tasks."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import tandem
from tandem import Platform, TaskState
from tandem.backends.mock import MockBackend
from tandem.spec.task import Mock, TaskSpec
from tandem.trace.records import load_trace

N = 20_000


def test_tasks_whose_futures_are_gone_are_forgotten(tmp_path: Path) -> None:
    async def main() -> tuple[dict[str, int], int, dict[str, int], int]:
        async with asyncio.timeout(300):
            async with tandem.open_session(Platform.uniform(1, cores=2), run_dir=tmp_path,
                                           backends=[MockBackend()]) as s:
                spec = TaskSpec(name="noop", work=Mock(seconds=0))
                kept = s.submit_spec(spec)
                for _ in range(N - 1):
                    s.submit_spec(spec)          # the future is dropped at once
                await s.wait_all()
                gc.collect()
                s.driver.flush()                 # the trace has written them: forget
                left = s.driver.tracked(), len(s.driver.core.tasks)
                assert kept.state is TaskState.DONE    # a kept future still reads its task
                assert kept.record.state is TaskState.DONE
                # a task named by a kept future can still be a dependency
                after = s.submit_spec(spec, after=[kept])
                await after
                del after
                gc.collect()
                s.driver.flush()
                return (*left, s.driver.tracked(), len(s.driver.core.tasks))

    tracked, tasks, tracked2, tasks2 = asyncio.run(main())
    assert tracked == {"futures": 0, "specs": 0, "values": 0, "dropped": 0}
    assert tasks == 1                              # the one whose future is kept
    assert tracked2 == tracked and tasks2 == 1
    assert len(load_trace(tmp_path).tasks) == N + 1    # the trace has every task


def test_without_a_trace_tasks_are_forgotten_after_the_step(tmp_path: Path) -> None:
    async def main() -> int:
        async with tandem.open_session(Platform.uniform(1, cores=2), run_dir=tmp_path,
                                       backends=[MockBackend()], trace=False,
                                       journal=False) as s:
            for i in range(100):
                await s.submit_spec(TaskSpec(name=f"t{i}", work=Mock(seconds=0)))
            gc.collect()
            for _ in range(3):
                await asyncio.sleep(0)
            return len(s.driver.core.tasks)

    assert asyncio.run(main()) == 0


def test_the_clock_is_injected(tmp_path: Path) -> None:
    # The simulator's way: a virtual-time loop, and the session reads the loop's clock.
    from tandem.sim import run_virtual

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        async with tandem.open_session(Platform.uniform(1, cores=1), run_dir=tmp_path,
                                       backends=[MockBackend()], clock=loop.time) as s:
            t0 = s.time()
            f = s.submit_spec(TaskSpec(name="five", work=Mock(seconds=5)))
            await f
            return f.record.ended - t0, s.time() - t0   # type: ignore[operator]

    ended, now = run_virtual(main())
    assert round(ended, 6) == 5.0 and round(now, 6) == 5.0
