"""Instruments: one that raises is logged and removed, and the run goes on (both drivers)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

import tandem
from tandem import Platform, TaskState
from tandem.backends.mock import MockBackend
from tandem.sim import run as simulate
from tandem.spec.task import Mock, TaskSpec
from tandem.trace import Instrument
from tandem.trace.instruments import Instruments
from tandem.trace.records import load_trace


class Raises(Instrument):
    """Raises in one hook; counts the calls of it."""

    def __init__(self, hook: str) -> None:
        self.hook = hook
        self.calls = 0

    def __repr__(self) -> str:
        return f"<Raises in {self.hook}>"

    def _raise(self, *args: Any) -> None:
        self.calls += 1
        raise RuntimeError(f"broken {self.hook}")

    def task_launched(self, *args: Any) -> None:
        if self.hook == "task_launched":
            self._raise()

    def task_ended(self, *args: Any) -> None:
        if self.hook == "task_ended":
            self._raise()

    def task_submitted(self, *args: Any) -> None:
        if self.hook == "task_submitted":
            self._raise()


class Counts(Instrument):
    def __init__(self) -> None:
        self.ended = 0

    def task_ended(self, record: Any) -> None:
        self.ended += 1


HOOKS = ["task_launched", "task_ended", "task_submitted"]


@pytest.mark.parametrize("hook", HOOKS)
def test_a_raising_hook_is_logged_and_removed_and_the_session_finishes(
        hook: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken, counts = Raises(hook), Counts()

    async def main() -> list[TaskState]:
        # bounded: a regression (a task left LAUNCHED, a close that never returns) fails here
        async with asyncio.timeout(60):
            async with tandem.open_session(Platform.uniform(1, cores=2), run_dir=tmp_path,
                                           backends=[MockBackend()],
                                           instruments=[broken, counts]) as s:
                futures = [s.submit_spec(TaskSpec(name=f"t{i}", work=Mock(seconds=0.001)))
                           for i in range(6)]
                for f in futures:
                    await f
            return [f.state for f in futures]

    with caplog.at_level(logging.ERROR, logger="tandem"):
        states = asyncio.run(main())
    assert states == [TaskState.DONE] * 6
    assert broken.calls == 1                       # removed after the first raise
    assert counts.ended == 6                       # the others heard everything
    logged = [r for r in caplog.records if r.name == "tandem"]
    assert len(logged) == 1 and hook in logged[0].getMessage() \
        and "<Raises in" in logged[0].getMessage()
    assert len(load_trace(tmp_path).tasks) == 6    # the trace is an instrument too


@pytest.mark.parametrize("hook", ["task_launched", "task_ended"])
def test_a_raising_hook_is_removed_in_the_simulator(hook: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    broken, counts = Raises(hook), Counts()
    specs = [TaskSpec(name=f"t{i}", work=Mock(seconds=1)) for i in range(4)]
    with caplog.at_level(logging.ERROR, logger="tandem"):
        result = simulate(Platform.uniform(1, cores=2), specs, [()] * 4, [1.0] * 4,
                          instruments=[broken, counts])
    assert result.tasks == 4 and result.makespan == 2.0
    assert broken.calls == 1 and counts.ended == 4
    assert any(hook in r.getMessage() for r in caplog.records)


def test_instruments_call_only_the_hooks_an_instrument_overrides() -> None:
    ins = Instruments([Counts()])
    assert ins.wants("task_ended") and not ins.wants("task_launched")
    with pytest.raises(TypeError, match="not a tandem.Instrument"):
        ins.add(object())  # type: ignore[arg-type]
