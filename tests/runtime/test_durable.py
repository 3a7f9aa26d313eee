"""Resuming a campaign with real worker processes and executables: what a resumed session
restores, what it runs again and with which attempt and directory, what the trace says."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

import tandem
from tandem import JournalError, Platform, SpecError, TaskFailed

CALLS = "calls.log"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


def plat() -> Platform:
    return Platform.local()


def logged(path: str, x: int) -> int:
    """x * 10, and a line in ``path`` for each call (the tests count calls with it)."""
    with open(path, "a") as f:
        f.write(f"{x}\n")
    return x * 10


def total(*xs: int) -> int:
    return sum(xs)


def flaky(path: str) -> str:
    """Fails unless ``path`` exists."""
    if not Path(path).exists():
        raise RuntimeError("not yet")
    return "ok"


def calls(rd: Path) -> list[int]:
    p = rd / CALLS
    return sorted(int(x) for x in p.read_text().split()) if p.exists() else []


def trace(rd: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (rd / "trace.jsonl").read_text().splitlines()]


async def campaign(rd: Path, *, resume: bool, xs: range = range(6)) -> tuple[list[int], int]:
    async with tandem.open_session(plat(), run_dir=rd, resume=resume) as s:
        log = str(rd / CALLS)
        firsts = [s.submit(logged, log, x) for x in xs]
        summed = s.submit(total, *firsts)
        return [await f for f in firsts], await summed


def test_a_resumed_campaign_returns_stored_results_without_running(tmp_path: Path) -> None:
    rd = tmp_path / "run"
    first = run(campaign(rd, resume=False))
    assert calls(rd) == list(range(6))
    (rd / CALLS).unlink()
    again = run(campaign(rd, resume=True))
    assert again == first == ([0, 10, 20, 30, 40, 50], 150)
    assert calls(rd) == []                                # nothing ran
    recs = trace(rd)
    assert sum(r["ev"] == "end" and "restored" in r for r in recs) == 7
    assert not any(r["ev"] == "launch" or (r["ev"] == "end" and r["launched"] is not None)
                   for r in recs)
    assert (rd / "trace.1.jsonl").exists()               # the first run's trace, kept


def test_new_and_changed_submissions_run_the_rest_is_restored(tmp_path: Path) -> None:
    rd = tmp_path / "run"
    run(campaign(rd, resume=False, xs=range(4)))
    (rd / CALLS).unlink()
    firsts, summed = run(campaign(rd, resume=True, xs=range(6)))    # two more points
    assert calls(rd) == [4, 5]
    assert summed == sum(firsts) == 150            # the sum's dependencies changed: it ran


def test_code_changes_run_again_and_say_so(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                           ) -> None:
    rd = tmp_path / "run"

    async def once(fn: Any, *, resume: bool) -> Any:
        async with tandem.open_session(plat(), run_dir=rd, resume=resume) as s:
            f = s.submit(fn, 3, name="step")
            return await f, s.driver.durable

    def step(x: int) -> int:
        return x + 1
    first = step
    assert run(once(first, resume=False))[0] == 4

    def step(x: int) -> int:  # type: ignore[no-redef]  # the same task, new code
        return x + 2
    with caplog.at_level(logging.WARNING, logger="tandem"):
        value, durable = run(once(step, resume=True))
    assert value == 5 and durable.restored == 0 and len(durable.changed) == 1
    assert sum("changed since the journal" in r.getMessage() for r in caplog.records) == 1


def test_a_failed_task_runs_again_and_its_attempts_count_on(tmp_path: Path) -> None:
    rd = tmp_path / "run"
    marker = tmp_path / "fixed"
    script = ("import os, sys; print(os.environ['TANDEM_ATTEMPT']); "
              f"sys.exit(0 if os.path.exists({str(marker)!r}) else 3)")

    async def once(resume: bool) -> Any:
        async with tandem.open_session(plat(), run_dir=rd, resume=resume) as s:
            f = s.execute([sys.executable, "-c", script], name="sim", retries=1)
            try:
                return await f
            except TaskFailed as e:
                return e
    assert isinstance(run(once(False)), TaskFailed)        # attempts 1 and 2 failed
    marker.touch()
    result = run(once(True))
    assert result.stdout.read_text().strip() == "3"         # the third attempt
    (only,) = tandem.read_journal(rd).finished
    assert (only.state, only.attempts) == ("done", 3)


def test_a_new_campaign_keeps_the_old_journal_aside(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    rd = tmp_path / "run"
    run(campaign(rd, resume=False, xs=range(1)))
    (rd / CALLS).unlink()
    with caplog.at_level(logging.WARNING, logger="tandem"):
        run(campaign(rd, resume=False, xs=range(1)))
    assert calls(rd) == [0]                                   # not resumed: it ran
    assert any("kept as journal.1.sqlite" in r.getMessage() for r in caplog.records)
    assert (rd / "journal.1.sqlite").exists() and (rd / "trace.1.jsonl").exists()
    with pytest.raises(SpecError, match="needs the run_dir"):
        run(tandem.open_session(plat(), resume=True).__aenter__())


def test_journal_false_keeps_none(tmp_path: Path) -> None:
    async def once() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path, journal=False) as s:
            assert s.driver.durable is None
            assert (await s.submit(total, 1, 2)) == 3
    run(once())
    run(once())                               # no journal: nothing to refuse
    assert not (tmp_path / "journal.sqlite").exists()


def test_a_corrupted_journal_refuses_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "journal.sqlite").write_bytes(b"not a database at all" * 50)
    with pytest.raises(JournalError, match="not a tandem journal|cannot be opened"):
        run(campaign(tmp_path, resume=True, xs=range(1)))
    assert calls(tmp_path) == []
    assert (tmp_path / "journal.sqlite").read_bytes() == b"not a database at all" * 50


def test_an_executable_keeps_its_directory_across_runs(tmp_path: Path) -> None:
    rd = tmp_path / "run"
    marker = tmp_path / "second"
    script = ("import os, sys; d = os.environ['TANDEM_TASK_DIR']; "
              "open(os.path.join(d, 'mine'), 'a').write('x'); "
              f"sys.exit(0 if os.path.exists({str(marker)!r}) else 1)")

    async def once(resume: bool) -> Any:
        async with tandem.open_session(plat(), run_dir=rd, resume=resume) as s:
            f = s.execute([sys.executable, "-c", script], name="sim")
            other = s.execute(["true"], name="new" if resume else "old")
            await other
            try:
                return await f, other
            except TaskFailed:
                return None, other
    _, old = run(once(False))
    marker.touch()
    result, new = run(once(True))
    assert (result.workdir / "mine").read_text() == "xx"        # the same directory, twice
    assert new.result().workdir != old.result().workdir        # a new task: a new one
    assert new.result().workdir.name.startswith("r2-")
    db = sqlite3.connect(rd / "journal.sqlite")
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2
    db.close()


CAMPAIGN = Path(__file__).resolve().parents[1] / "campaign.py"


def test_a_killed_campaign_resumes_running_only_what_did_not_finish(tmp_path: Path) -> None:
    """200 tasks; the driver is killed (SIGKILL) once the first 100 are in the journal, while
    the next ones run; the resumed run launches only the 100 unfinished ones and its results
    equal an uninterrupted run's."""
    import os
    import select
    import signal
    import subprocess

    rd = tmp_path / "run"
    fifo = tmp_path / "half"
    os.mkfifo(fifo)
    driver = subprocess.Popen([sys.executable, str(CAMPAIGN), str(rd), "--fifo", str(fifo),
                               "--block"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            # Wait for the driver's word (the timeout only guards against a hung test).
            readable, _, _ = select.select([fd], [], [], 120)
            while readable and not os.read(fd, 64):
                readable, _, _ = select.select([fd], [], [], 120)
        finally:
            os.close(fd)
        assert readable, driver.stderr.read().decode() if driver.poll() is not None else ""
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        if driver.poll() is None:
            os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    assert driver.returncode == -signal.SIGKILL
    summary = tandem.read_journal(rd)
    assert len(summary.finished) == 100 and len(summary.in_flight) == 100
    assert {e.name for e in summary.finished} == {"work"}

    resumed = subprocess.run([sys.executable, str(CAMPAIGN), str(rd), "--resume"],
                             capture_output=True, text=True, check=True, timeout=300)
    fresh = subprocess.run([sys.executable, str(CAMPAIGN), str(tmp_path / "fresh")],
                           capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(resumed.stdout) == json.loads(fresh.stdout) == [i * i for i in range(200)]
    recs = trace(rd)
    launched = [r for r in recs if r["ev"] == "end" and r["launched"] is not None]
    restored = [r for r in recs if r["ev"] == "end" and "restored" in r]
    assert (len(launched), len(restored)) == (100, 100)
    assert {r["id"] for r in restored} == set(range(100))
    after = tandem.read_journal(rd)
    assert (len(after.finished), len(after.in_flight), len(after.failed)) == (200, 0, 0)
    assert [r.resumed for r in after.runs] == [False, True]
    assert after.runs[0].ended is None and after.runs[1].ended is not None


class Counter(tandem.Agent):
    """Submits ``rounds`` tasks one after another and remembers how many it saw end."""

    name = "counter"

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.seen: list[int] = []
        self.restored_from: list[int] | None = None

    def state(self) -> Any:
        return list(self.seen)

    def restore(self, state: Any) -> None:
        self.restored_from = list(state)
        self.seen = list(state)

    @tandem.on_start
    async def begin(self, s: tandem.AgentSession) -> None:
        s.submit(total, len(self.seen), kind="step")

    @tandem.on_result(kind="step")
    async def next(self, s: tandem.AgentSession, fut: tandem.TaskFuture) -> None:
        self.seen.append(fut.result())
        if len(self.seen) < self.rounds:
            s.submit(total, len(self.seen), kind="step")
        else:
            self.stop()


def test_an_agent_keeps_its_state_across_runs(tmp_path: Path) -> None:
    rd = tmp_path / "run"

    async def once(rounds: int, resume: bool) -> Counter:
        agent = Counter(rounds)
        async with tandem.open_session(plat(), run_dir=rd, resume=resume) as s:
            await tandem.run_agents(s, agent)
        return agent
    first = run(once(3, False))
    assert first.seen == [0, 1, 2] and first.restored_from is None
    second = run(once(5, True))
    assert second.restored_from == [0, 1, 2]
    assert second.seen == [0, 1, 2, 3, 4]
    db = sqlite3.connect(rd / "journal.sqlite")
    assert db.execute("SELECT name, run FROM agents").fetchall() == [("counter", 2)]
    db.close()


def test_agents_that_keep_state_need_their_own_names(tmp_path: Path) -> None:
    async def once() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path) as s:
            await tandem.run_agents(s, Counter(1), Counter(1))
    with pytest.raises(SpecError, match="names of their own"):
        run(once())


def big(n: int) -> bytes:
    return b"k" * n


def length(b: bytes) -> int:
    return len(b)


def test_a_kept_result_is_copied_into_the_journal_off_the_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy of a kept result waits on a thread (held here by an event) while the session
    goes on: a dependent runs and ends meanwhile; closing waits for the copy, and a resumed run
    restores the result from it."""
    import threading

    from tandem.data.refs import DataRef
    from tandem.journal import results

    release, started = threading.Event(), threading.Event()
    copier: list[str] = []
    real = results.store

    def held(value: Any, *args: Any) -> Any:
        if type(value) is DataRef:                   # a kept result: hold its copy
            copier.append(threading.current_thread().name)
            started.set()
            assert release.wait(60)
        return real(value, *args)

    monkeypatch.setattr(results, "store", held)

    async def first() -> int:
        async with tandem.open_session(plat(), run_dir=tmp_path) as s:
            p = s.submit(big, 3_000_000, key="big", ref=True)
            n = await s.submit(length, p, ref=False)      # ends while the copy is held
            assert await asyncio.to_thread(started.wait, 60)
            assert copier == ["tandem-journal-copy_0"] and not release.is_set()
            release.set()
            return n                                      # the session's end waits for it

    assert run(first()) == 3_000_000
    monkeypatch.setattr(results, "store", real)

    async def again() -> tuple[int, bool]:
        async with tandem.open_session(plat(), run_dir=tmp_path, resume=True) as s:
            p = s.submit(big, 3_000_000, key="big", ref=True)
            value = await p
            return len(value), p.record.attempts == 0
    assert run(again()) == (3_000_000, True)
