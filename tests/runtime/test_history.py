"""Sessions and the task history: a traced run adds its tasks; the next one learns its
estimates from them; a broken history never stops a session."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tandem.history.store import FILE, HistoryStore, Row
from tandem.runtime.open import open_session
from tandem.sim import run_virtual
from tandem.sim.agents import open_simulated_session
from tandem.spec import Mock, Platform, TaskSpec
from tandem.trace.records import load_trace


async def _mocks(run_dir: Path, history: Path | bool, *, trace: bool = True) -> None:
    async with open_session(Platform.uniform(1, cores=2), run_dir=run_dir, history=history,
                            trace=trace) as s:
        for i in range(4):
            s.submit_spec(TaskSpec(name=f"sim.{i}", kind="simulation",
                                   work=Mock(seconds=0.02 * (1 + i % 2))))
        s.submit_spec(TaskSpec(name="train", kind="training", work=Mock(seconds=0.01),
                               estimate=7.0))


def run(coro: object) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))  # type: ignore[arg-type]


def test_a_traced_session_adds_its_tasks_and_the_next_learns_from_them(tmp_path: Path) -> None:
    hist = tmp_path / "history"
    run(_mocks(tmp_path / "one", hist))
    store = HistoryStore(hist)
    assert store.done_counts() == {"mock@sim": 4, "mock@train": 1}
    first = {t.name: t for t in load_trace(tmp_path / "one").tasks}
    assert first["sim.0"].estimate is None and first["sim.0"].estimated is None
    rows = store.samples("mock@sim")
    assert {r.kind for r in rows} == {"simulation"} and {r.node for r in rows} == {"node0"}
    assert all(r.duration is not None and r.duration >= 0.0 for r in rows)
    assert {r.run for r in rows} == {str((tmp_path / "one").resolve())}

    run(_mocks(tmp_path / "two", hist))
    second = {t.name: t for t in load_trace(tmp_path / "two").tasks}
    median = sorted(r.duration for r in rows)[1:3]       # the median of 4 samples
    for i in range(4):
        t = second[f"sim.{i}"]
        assert t.estimated == "learned"
        assert t.estimate == pytest.approx(sum(median) / 2, abs=1e-6)
    # an estimate the user gave is never replaced
    assert (second["train"].estimate, second["train"].estimated) == (7.0, "user")
    assert store.done_counts()["mock@sim"] == 8


def test_untraced_sessions_and_history_false_add_nothing(tmp_path: Path) -> None:
    run(_mocks(tmp_path / "a", tmp_path / "h", trace=False))
    run(_mocks(tmp_path / "b", False))
    assert not (tmp_path / "h" / FILE).exists()


def test_the_default_history_is_tandem_history(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_HISTORY", str(tmp_path / "env"))
    run(_mocks(tmp_path / "a", None))     # type: ignore[arg-type]
    assert HistoryStore(tmp_path / "env").done_counts()["mock@sim"] == 4


def test_a_corrupt_history_is_said_once_and_the_session_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    hist = tmp_path / "h"
    hist.mkdir()
    (hist / FILE).write_text("garbage")
    with caplog.at_level(logging.WARNING, logger="tandem"):
        run(_mocks(tmp_path / "a", hist))
    said = [r.getMessage() for r in caplog.records if "task history" in r.getMessage()]
    assert len(said) == 1 and "not a tandem history" in said[0]
    assert [t.state for t in load_trace(tmp_path / "a").tasks] == ["done"] * 5
    assert (hist / FILE).read_text() == "garbage"


def test_an_unwritable_history_is_said_once_and_the_session_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")          # a directory cannot be made under a file
    with caplog.at_level(logging.WARNING, logger="tandem"):
        run(_mocks(tmp_path / "a", blocker / "h"))
    said = [r.getMessage() for r in caplog.records if "task history" in r.getMessage()]
    assert len(said) == 1 and "cannot be written" in said[0]
    assert len(load_trace(tmp_path / "a").tasks) == 5


def _row(key: str, duration: float) -> Row:
    return Row(key=key, kind="task", name=key, state="done", cores=1, gpus=0, ranks=1,
               memory_mb=None, features=None, sizes=None, duration=duration, node="n0",
               run="earlier", t=0.0)


def test_learned_estimates_set_the_critical_path_order(tmp_path: Path) -> None:
    """One core; ``a`` then ``b`` are submitted, ``c`` needs ``b``. Without estimates the
    core breaks the tie in submission order (``a`` first); with the history's (c is long)
    ``b`` heads the longer path and goes first."""
    hist = tmp_path / "h"
    HistoryStore(hist).add([_row("mock@a", 1.0), _row("mock@b", 1.0), _row("mock@c", 10.0)])

    def order(history: Path | bool) -> list[str]:
        async def main() -> list[str]:
            async with open_simulated_session(Platform.uniform(1, cores=1),
                                              history=history) as s:
                fs = [s.submit_spec(TaskSpec(name=n, work=Mock(seconds=1.0))) for n in "ab"]
                fs.append(s.submit_spec(TaskSpec(name="c", work=Mock(seconds=10.0)),
                                        after=[fs[1]]))
                await s.wait_all()
                recs = [f.record for f in fs]
            return [r.name for r in sorted(recs, key=lambda r: r.launched or 0.0)]
        return run_virtual(main())

    assert order(False) == ["a", "b", "c"]
    assert order(hist)[0] == "b"


def test_a_learned_estimate_that_cannot_end_in_the_walltime_is_deferred(tmp_path: Path) -> None:
    hist = tmp_path / "h"
    HistoryStore(hist).add([_row("mock@long", 100.0)])

    def state(history: Path | bool) -> str:
        async def main() -> str:
            async with open_simulated_session(Platform.uniform(1, cores=1), history=history,
                                              walltime=10.0) as s:
                f = s.submit_spec(TaskSpec(name="long", work=Mock(seconds=100.0)))
                await s.wait_all()
                return "launched" if f.record.launched is not None else "deferred"
        return run_virtual(main())

    assert state(False) == "launched"       # nothing says it cannot finish
    assert state(hist) == "deferred"        # its history does


def square(x: int) -> int:
    return x * x


def test_a_task_the_journal_restores_is_not_estimated_but_a_new_one_is(tmp_path: Path) -> None:
    hist, rd = tmp_path / "h", tmp_path / "run"

    async def campaign(n: int, resume: bool) -> list[int]:
        async with open_session(Platform.uniform(1, cores=2), run_dir=rd, history=hist,
                                resume=resume) as s:
            futures = [s.submit(square, i, name="sq") for i in range(n)]
            return [await f for f in futures]

    assert asyncio.run(campaign(3, False)) == [0, 1, 4]
    assert asyncio.run(campaign(4, True)) == [0, 1, 4, 9]
    tasks = load_trace(rd).tasks
    assert [t.launched is None for t in tasks] == [True, True, True, False]   # restored
    assert [t.estimated for t in tasks] == [None, None, None, "learned"]
