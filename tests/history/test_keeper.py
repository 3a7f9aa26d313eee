"""The keeper's rows, through a simulated session's task views (a real session's are in
tests/runtime/test_history.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.history import keeper as keeper_module
from tandem.history.keeper import HistoryKeeper
from tandem.history.store import HistoryStore
from tandem.sim import run_virtual
from tandem.sim.agents import open_simulated_session
from tandem.spec import Mock, Platform, TaskSpec


def _run(keeper: HistoryKeeper, n: int) -> None:
    async def main() -> None:
        async with open_simulated_session(Platform.uniform(1, cores=2),
                                          instruments=[keeper]) as s:
            for i in range(n):
                s.submit_spec(TaskSpec(name=f"sim.{i}", work=Mock(seconds=1.0 + i % 3),
                                       features={"i": i % 3}))
    run_virtual(main())


def test_each_ended_task_is_one_row_written_at_the_end(tmp_path: Path) -> None:
    keeper = HistoryKeeper(HistoryStore(tmp_path), "run-a")
    _run(keeper, 6)
    got = HistoryStore(tmp_path).samples("mock@sim")
    assert keeper.written == 6 and len(got) == 6
    assert sorted(r.duration for r in got) == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    assert {r.run for r in got} == {"run-a"} and got[0].features == {"i": 0}


def test_one_run_keeps_a_bounded_sample_per_key(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keeper_module, "PER_RUN", 4)
    keeper = HistoryKeeper(HistoryStore(tmp_path), "run-b")
    _run(keeper, 40)
    assert keeper.written == 4
