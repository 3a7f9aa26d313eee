"""Steering a session on real processes: cancel a subgraph, pause/resume (state read from /proc,
re-pinning read from /proc), preempt with checkpoint, priorities, dependents of running tasks,
resource pools, and the trace's steering records."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import tandem
from tandem import Platform, Quota, SpecError, TaskCancelled, TaskState
from tandem.trace.records import load_trace
from tests.procs import cpus_allowed, pid_alive, proc_state, threads, wait_until

S = TaskState
CORES = sorted(os.sched_getaffinity(0))


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


def plat(n: int) -> Platform:
    if len(CORES) < n:
        pytest.skip(f"needs {n} cores")
    return Platform.local(cores=CORES[:n])


# A process with a child process and a second thread, that waits for a file named "go".
SPIN = r"""
import os, subprocess, sys, threading, time
d = sys.argv[1]
kid = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"])
threading.Thread(target=lambda: [time.sleep(0.05) for _ in iter(int, 1)], daemon=True).start()
with open(os.path.join(d, "pids.tmp"), "w") as f:
    f.write(f"{os.getpid()} {kid.pid}")
os.replace(os.path.join(d, "pids.tmp"), os.path.join(d, "pids"))
while not os.path.exists(os.path.join(d, "go")):
    time.sleep(0.02)
with open(os.path.join(d, "final"), "w") as f:
    f.write(",".join(map(str, sorted(os.sched_getaffinity(0)))))
kid.kill()
kid.wait()
"""


def spin(tmp: Path, name: str) -> tuple[list[str], Path]:
    d = tmp / name
    d.mkdir()
    script = tmp / "spin.py"
    script.write_text(SPIN)
    return [sys.executable, str(script), str(d)], d


def pids_of(d: Path) -> list[int]:
    return [int(x) for x in (d / "pids").read_text().split()]


# -- cancel ----------------------------------------------------------------------------------

def test_cancel_of_a_subgraph_leaves_no_process_and_records_who(tmp_path: Path) -> None:
    def tree(name: str) -> str:
        d = tmp_path / name
        d.mkdir()
        return (f"sleep 30 & echo $! > {d}/kids; setsid sleep 30 & echo $! >> {d}/kids; "
                f"echo $$ >> {d}/kids; echo ok > {d}/ready; wait")

    async def main() -> None:
        async with tandem.open_session(plat(2), run_dir=tmp_path / "run") as s:
            a = s.execute(tree("a"), shell=True, name="a")
            b = s.execute(tree("b"), shell=True, name="b")
            c = s.submit(print, after=[a], name="c")
            d = s.submit(print, a, b, name="d")
            e = s.submit(print, d, name="e")
            await wait_until(lambda: all((tmp_path / x / "ready").exists() for x in "ab"))
            pids = [int(p) for x in "ab" for p in (tmp_path / x / "kids").read_text().split()]
            assert all(pid_alive(p) for p in pids) and len(pids) == 6
            s.cancel([a, b], "lineage stuck", by="lof-agent")
            for f in (a, b, c, d, e):
                with pytest.raises(TaskCancelled, match="cancelled by lof-agent: .*lineage stuck"):
                    await f
                assert f.record.failure.by == "lof-agent"   # type: ignore[union-attr]
            assert not [p for p in pids if pid_alive(p)]
        run_ = load_trace(tmp_path / "run")
        ends = {t.name: t for t in run_.tasks}
        assert ends["e"].state == "cancelled" and ends["e"].failure["by"] == "lof-agent"  # type: ignore[index]
        steer = [(x.action, x.task, x.by, x.reason) for x in run_.steering]
        assert steer == [("cancel", a.task_id, "lof-agent", "lineage stuck"),
                         ("cancel", b.task_id, "lof-agent", "lineage stuck")]
    run(main())


# -- pause and resume ------------------------------------------------------------------------

def test_pause_stops_the_whole_tree_keeps_its_core_and_not_its_timeout(tmp_path: Path) -> None:
    argv, d = spin(tmp_path, "a")

    async def main() -> None:
        async with tandem.open_session(plat(1), run_dir=tmp_path / "run") as s:
            a = s.execute(argv, timeout=1.5, name="a")
            await wait_until(lambda: (d / "pids").exists())
            pids = pids_of(d)
            s.pause(a, by="test", reason="look at it")
            assert a.state is S.PAUSED
            await wait_until(lambda: all(proc_state(p) == "T" for p in pids), what="stopped")
            other = s.submit(os.getpid, name="other")
            await asyncio.sleep(2.0)      # longer than a's timeout: paused time does not count
            assert other.state is S.READY and a.state is S.PAUSED   # a keeps its only core
            assert all(proc_state(p) == "T" for p in pids)
            s.resume(a, by="test")
            assert a.state is S.RUNNING
            await wait_until(lambda: all(proc_state(p) not in ("T", "") for p in pids))
            (d / "go").touch()
            assert (await a).returncode == 0
            await other
            assert other.record.launched >= a.record.ended  # type: ignore[operator]
        steer = [(x.action, x.details) for x in load_trace(tmp_path / "run").steering]
        assert steer == [("pause", {"release": False}), ("resume", {})]
    run(main())


def test_pause_releasing_cores_lends_them_and_resume_repins_the_tree(tmp_path: Path) -> None:
    argv, d = spin(tmp_path, "a")

    async def main() -> None:
        platform = plat(2)
        c0, c1 = platform.nodes[0].cores
        async with tandem.open_session(platform, run_dir=tmp_path / "run") as s:
            a = s.execute(argv, name="a")
            long = s.execute(["sleep", "30"], name="long")
            await wait_until(lambda: (d / "pids").exists())
            assert a.record.placement.cores == (c0,)          # type: ignore[union-attr]
            pids = pids_of(d)
            s.pause(a, release=True, by="test", reason="make room")
            assert a.state is S.SUSPENDED
            await wait_until(lambda: all(proc_state(p) == "T" for p in pids), what="stopped")
            out = tmp_path / "b.out"
            b = s.execute(f"grep Cpus_allowed_list /proc/self/status > {out}; sleep 30",
                          shell=True, name="b")
            await wait_until(out.exists)
            assert out.read_text().split()[-1] == str(c0)     # b runs on a's released core
            s.resume(a, by="test")
            assert a.state is S.RESUMING                      # no core free: it waits, stopped
            assert all(proc_state(p) == "T" for p in pids)
            long.cancel("room for a")
            await wait_until(lambda: a.state is S.RUNNING, what="a placed again")
            assert a.record.placement.cores == (c1,)          # type: ignore[union-attr]
            await wait_until(lambda: all(proc_state(p) not in ("T", "") for p in pids))
            for p in pids:
                assert cpus_allowed(p) == str(c1)
                assert {cpus_allowed(p, t) for t in threads(p)} == {str(c1)}
            (d / "go").touch()
            await a
            assert (d / "final").read_text() == str(c1)
            b.cancel()
        steer = [(x.action, x.task, x.details) for x in load_trace(tmp_path / "run").steering]
        assert steer[:2] == [("pause", a.task_id, {"release": True}), ("resume", a.task_id, {})]
    run(main())


def test_pause_and_resume_a_function_task(tmp_path: Path) -> None:
    go = tmp_path / "go"
    started = tmp_path / "started"

    def wait_for_go(go: str, started: str) -> int:
        import pathlib
        import time
        pathlib.Path(started).write_text(str(os.getpid()))
        while not os.path.exists(go):
            time.sleep(0.02)
        return os.getpid()

    async def main() -> None:
        async with tandem.open_session(plat(1), run_dir=tmp_path / "run") as s:
            f = s.submit(wait_for_go, str(go), str(started))
            await wait_until(started.exists)
            worker = int(started.read_text())
            s.pause(f)
            await wait_until(lambda: proc_state(worker) == "T", what="worker stopped")
            s.resume(f)
            await wait_until(lambda: proc_state(worker) not in ("T", ""))
            go.touch()
            assert await f == worker
    run(main())


# -- preemption ------------------------------------------------------------------------------

COUNTER = r"""
import os, signal, sys, time
ck = os.path.join(os.environ["TANDEM_TASK_DIR"], "checkpoint")
i = int(open(ck).read()) if os.path.exists(ck) else 0
print(f"attempt={os.environ['TANDEM_ATTEMPT']} preempted={os.environ['TANDEM_PREEMPTED']}"
      f" start={i}", flush=True)

def checkpoint(signum, frame):
    with open(ck + ".tmp", "w") as f:
        f.write(str(i))
    os.replace(ck + ".tmp", ck)
    sys.exit(0)

signal.signal(signal.SIGTERM, checkpoint)
while i < 60:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})   # one step at a time
    print(i, flush=True)
    i += 1
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    time.sleep(0.02)
"""


def test_preempted_executable_continues_from_its_checkpoint(tmp_path: Path) -> None:
    script = tmp_path / "counter.py"
    script.write_text(COUNTER)

    async def main() -> None:
        async with tandem.open_session(plat(1), run_dir=tmp_path / "run") as s:
            f = s.execute([sys.executable, str(script)], name="counter", retries=0)
            stdout = Path(s.run_dir, "tasks", f"{f.task_id:06d}-counter", "stdout")
            await wait_until(lambda: stdout.exists() and stdout.read_text().count("\n") > 10)
            s.preempt(f, grace=5.0, by="scheduler", reason="urgent work")
            result = await f
            lines = result.stdout.read_text().splitlines()
            assert f.record.attempts == 2 and f.record.preempted == 1
        heads = [x for x in lines if x.startswith("attempt=")]
        numbers = [int(x) for x in lines if not x.startswith("attempt=")]
        assert heads[0] == "attempt=1 preempted=0 start=0"
        assert heads[1].startswith("attempt=2 preempted=1 start=") and heads[1] != \
            "attempt=2 preempted=1 start=0"
        assert numbers == list(range(60))    # every step once: it went on where it stopped
        steer = load_trace(tmp_path / "run").steering
        assert [(x.action, x.by, x.reason, x.details["signal"]) for x in steer] == [
            ("preempt", "scheduler", "urgent work", int(signal.SIGTERM))]
    run(main())


def test_preempted_task_that_ignores_the_signal_is_killed_after_grace_and_requeued(
        tmp_path: Path) -> None:
    cmd = ('if [ "$TANDEM_PREEMPTED" = 1 ]; then echo again; exit 0; fi; '
           "trap '' TERM; echo first; sleep 30")

    async def main() -> None:
        async with tandem.open_session(plat(1), run_dir=tmp_path / "run") as s:
            f = s.execute(cmd, shell=True, name="stubborn")
            out = tmp_path / "run" / "tasks" / f"{f.task_id:06d}-stubborn" / "stdout"
            # "first" is printed once the shell ignores SIGTERM: preempt only then.
            await wait_until(lambda: out.exists() and out.read_text() == "first\n")
            t0 = time.monotonic()
            s.preempt(f, grace=0.5)
            result = await f
            assert time.monotonic() - t0 >= 0.5
            assert result.stdout.read_text() == "first\nagain\n"
    run(main())


def count_with_checkpoint(path: str, n: int) -> tuple[int, int, str, str]:
    """A function task that checkpoints on SIGTERM (a Python handler in the worker)."""
    import os
    import signal
    import time

    i = int(open(path).read()) if os.path.exists(path) else 0
    first = i

    class Stop(Exception):
        pass

    def handler(signum: int, frame: Any) -> None:
        with open(path, "w") as f:
            f.write(str(i))
        raise Stop

    old = signal.signal(signal.SIGTERM, handler)
    open(path + ".started", "w").close()
    try:
        while i < n:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            i += 1
            if i == first + 1:
                open(path + ".progress", "w").close()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            time.sleep(0.02)
    finally:
        signal.signal(signal.SIGTERM, old)
    return first, i, os.environ["TANDEM_ATTEMPT"], os.environ["TANDEM_PREEMPTED"]


def test_preempted_function_runs_again_from_its_checkpoint(tmp_path: Path) -> None:
    ck = tmp_path / "ck"

    async def main() -> None:
        async with tandem.open_session(plat(1), run_dir=tmp_path / "run") as s:
            f = s.submit(count_with_checkpoint, str(ck), 40)
            # preempt once the task has made progress (a first count is done)
            await wait_until(Path(str(ck) + ".progress").exists)
            s.preempt(f, grace=5.0)
            first, last, attempt, preempted = await f
            assert 0 < first < 40 and last == 40
            assert (attempt, preempted) == ("2", "1")
            again = s.submit(lambda: (os.environ["TANDEM_ATTEMPT"],
                                      os.environ["TANDEM_PREEMPTED"]))
            assert await again == ("1", "0")    # the next task on that worker: a first attempt
    run(main())


# -- priorities, dependents of running tasks -------------------------------------------------

def test_set_priority_reorders_waiting_tasks(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(1), run_dir=tmp_path / "run",
                                       order="priority") as s:
            blocker = s.execute(["sleep", "0.3"])
            x = s.submit(os.getpid, name="x")
            y = s.submit(os.getpid, name="y")
            s.set_priority(y, 10, by="test", reason="y first")
            with pytest.raises(SpecError, match="priority must be an integer"):
                s.set_priority(y, 1.5)  # type: ignore[arg-type]
            await tandem.gather(blocker, x, y)
            assert y.record.launched < x.record.launched  # type: ignore[operator]
        steer = load_trace(tmp_path / "run").steering
        assert [(x.action, x.details) for x in steer] == [
            ("priority", {"priority": 10, "was": 0})]
    run(main())


def test_a_dependent_of_a_running_task_starts_right_after_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(2), run_dir=tmp_path / "run") as s:
            a = s.execute(["sleep", "0.3"], name="a")
            await wait_until(lambda: a.state is S.RUNNING)
            b = s.submit(os.getpid, after=[a], name="b")
            assert b.state is S.PENDING
            await b
            gap = b.record.launched - a.record.ended  # type: ignore[operator]
            assert 0 <= gap < 0.05
    run(main())


# -- resource pools --------------------------------------------------------------------------

def test_pools_admit_within_quota_and_moves_never_kill(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(2), run_dir=tmp_path / "run",
                                       pools={"md": Quota(cores=1)}) as s:
            m1 = s.execute(["sleep", "0.6"], pool="md", name="m1")
            m2 = s.execute(["sleep", "0.1"], pool="md", name="m2")
            d1 = s.execute(["sleep", "0.6"], name="d1")          # the default pool: 1 core
            await wait_until(lambda: m1.state is S.RUNNING and d1.state is S.RUNNING)
            assert m2.state is S.READY                           # md is at its quota
            usage = s.pools()
            assert (usage["md"].used_cores, usage["default"].used_cores) == (1, 1)
            s.move("default", "md", cores=1, by="balancer", reason="md is behind")
            d2 = s.execute(["sleep", "0.1"], name="d2")
            await m2
            assert d1.state is S.DONE or d1.state is S.RUNNING    # never killed by the move
            assert m2.record.launched >= min(m1.record.ended or 1e9, d1.record.ended or 1e9)
            assert d2.state is S.READY                           # default has no quota left
            await m1
            s.move("md", "default", cores=1, by="balancer")
            await d2
            assert (await d1).returncode == 0
            with pytest.raises(SpecError, match="cannot move 3 cores"):
                s.move("md", "default", cores=3)
            with pytest.raises(SpecError, match="no pool named 'ml'"):
                s.execute(["true"], pool="ml")
        steer = load_trace(tmp_path / "run").steering
        assert [(x.action, x.by, x.details["from"], x.details["to"]) for x in steer] == [
            ("move", "balancer", "default", "md"), ("move", "balancer", "md", "default")]
    run(main())


def test_steering_refused_where_the_backend_cannot(tmp_path: Path) -> None:
    from tandem.backends.base import Backend
    from tandem.backends.mock import MockBackend

    class Plain(MockBackend):
        name = "plain"
        steerable = False
        pause = Backend.pause    # type: ignore[assignment]

    async def main() -> None:
        async with tandem.open_session(plat(1), run_dir=tmp_path / "run",
                                       backends=[Plain()]) as s:
            f = s.submit_spec(tandem.TaskSpec(name="m", work=tandem.Mock(seconds=0.05)))
            with pytest.raises(SpecError, match="plain backend, which cannot pause"):
                s.pause(f)
            with pytest.raises(SpecError, match="has no resource pools"):
                s.move("a", "b", cores=1)
            await f
    run(main())


@pytest.mark.parametrize("retries", [0, 1])
def test_a_cancel_whose_reason_says_timeout_still_cancels(retries: int) -> None:
    # The reason is a message only: the task ends CANCELLED, is not retried, not TIMED_OUT.
    from tandem.sim import open_simulated_session, run_virtual
    from tandem.spec.task import Mock, TaskSpec

    async def main() -> tuple[TaskState, TaskState, int, Any]:
        async with open_simulated_session(Platform.uniform(1, cores=1)) as s:
            f = s.submit_spec(TaskSpec(name="long", work=Mock(seconds=100), retries=retries))
            await asyncio.sleep(1)           # virtual seconds: it runs now
            running = f.state
            s.cancel(f, "timeout")
            with pytest.raises(TaskCancelled, match="timeout"):
                await f
            return running, f.state, f.record.attempts, s.counts()

    running, state, attempts, counts = run_virtual(main())
    assert running is S.RUNNING
    assert state is S.CANCELLED and attempts == 1
    assert counts.get(S.CANCELLED) == 1 and not counts.get(S.TIMED_OUT)
