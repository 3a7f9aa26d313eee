"""The asyncio Session with real processes: dependencies, placement, failures, cancel, timeout."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

import tandem
from tandem import (
    DependencyFailed,
    InfeasibleRequest,
    Platform,
    SpecError,
    TaskCancelled,
    TaskFailed,
    TaskState,
    TaskTimedOut,
)
from tests.procs import pid_alive


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


def plat(gpus: int = 0) -> Platform:
    return Platform.local(virtual_gpus=gpus)


def add(a: int, b: int) -> int:
    return a + b


def allowed_cpus() -> str:
    for line in open("/proc/self/status"):
        if line.startswith("Cpus_allowed_list"):
            return line.split()[1]
    return ""


def visible() -> tuple[str, str]:
    return allowed_cpus(), os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")


def boom() -> None:
    raise ValueError("bad input 42")



def test_futures_as_arguments_are_dependencies(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path) as s:
            a = s.submit(add, 1, 2)
            b = s.submit(add, a, 10)
            c = s.submit(sum, [a, b, (a,)][0:2], kwargs={})
            d = s.submit(lambda m: m["x"] + m["y"][0], {"x": a, "y": [b]})
            assert await c == 16 and await d == 16
            assert await b == 13
            assert b.record.deps == (a.task_id,)
    run(main())


def test_after_orders_without_data_and_state(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path) as s:
            marker = tmp_path / "m"
            first = s.execute(["sh", "-c", f"sleep 0.2; echo hi > {marker}"])
            second = s.submit(lambda p: open(p).read(), str(marker), after=[first])
            assert second.state in (TaskState.PENDING,)
            assert (await second).strip() == "hi"
            result = await first
            assert result.returncode == 0 and result.stdout.exists()
            assert first.state is TaskState.DONE
    run(main())


def test_function_pinning_and_virtual_gpu_visible(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(gpus=1), run_dir=tmp_path) as s:
            g = s.submit(visible, cores=1, gpus=1)
            c = s.submit(visible, cores=1)
            both = s.submit(visible, cores=2, after=[g, c])
            (gc, gg), (cc, cg), (bc, _) = await tandem.gather(g, c, both)
            assert gg == "0" and cg == ""
            assert {gc, cc} == {"0", "1"}         # two tasks, two distinct cores
            assert bc == "0-1"
    run(main())


def test_executable_pinning_and_env(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(gpus=1), run_dir=tmp_path) as s:
            r = await s.execute(
                ["sh", "-c", "grep Cpus_allowed_list /proc/self/status; "
                 "echo gpu=$CUDA_VISIBLE_DEVICES omp=$OMP_NUM_THREADS"],
                cores=2, gpus=1)
            out = r.stdout.read_text()
            assert "0-1" in out and "gpu=0 omp=2" in out
    run(main())


def test_failure_carries_cause_and_propagates(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path) as s:
            bad = s.submit(boom, name="parse")
            child = s.submit(add, bad, 1, name="child")
            grandchild = s.submit(add, child, 1, name="grandchild")
            ex = s.execute(["sh", "-c", "echo oops >&2; exit 7"], name="exe")
            with pytest.raises(TaskFailed) as e:
                await bad
            assert "ValueError: bad input 42" in str(e.value)
            assert "raise ValueError" in e.value.remote_traceback
            with pytest.raises(DependencyFailed) as d:
                await grandchild
            assert d.value.root_task == "parse" and "bad input 42" in d.value.root_cause
            with pytest.raises(TaskFailed) as x:
                await ex
            assert x.value.exit_code == 7 and "oops" in x.value.stderr_tail
    run(main())


def test_timeout_kills_the_tree(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path, kill_grace=0.5) as s:
            f = s.execute(["sh", "-c", "sleep 100 & echo $! > kid; exec sleep 100"],
                          timeout=1.0, name="slow")
            t0 = time.monotonic()
            with pytest.raises(TaskTimedOut, match="timeout of 1.0 s"):
                await f
            assert time.monotonic() - t0 < 10
            kid = int((Path(s.driver.workdir(f.task_id, "slow")) / "kid").read_text())
            assert not pid_alive(kid)
            assert f.state is TaskState.TIMED_OUT
    run(main())


def test_cancel_running_function_and_pending_dependents(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path, kill_grace=0.5) as s:
            slow = s.submit(time.sleep, 100, name="slow")
            after = s.submit(add, slow, 1, name="after")
            while slow.state is not TaskState.RUNNING:
                await asyncio.sleep(0.01)
            assert slow.cancel("changed my mind")
            with pytest.raises(TaskCancelled, match="changed my mind"):
                await slow
            with pytest.raises(TaskCancelled):
                await after
            assert not slow.cancel()
            assert await s.submit(add, 1, 1) == 2    # the session goes on
    run(main())


def test_error_in_block_cancels_everything(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path, kill_grace=0.5) as s:
            f = s.execute(["sh", "-c", f"echo $$ > {pid_file}; exec sleep 100"])
            while f.state is not TaskState.RUNNING or not pid_file.exists():
                await asyncio.sleep(0.01)
            raise RuntimeError("user bug")

    with pytest.raises(RuntimeError, match="user bug"):
        run(main())
    assert not pid_alive(int(pid_file.read_text()))


def test_as_completed_and_wait(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path) as s:
            fs = [s.submit(time.sleep, d, name=f"s{d}") for d in (0.6, 0.05)]
            order = [f.name async for f in tandem.as_completed(fs)]
            assert order == ["s0.05", "s0.6"]
    run(main())


def test_several_ranks_without_an_mpi_launcher_are_refused(tmp_path: Path) -> None:
    from tandem.backends.process import ProcessBackend

    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path,
                                       backends=[ProcessBackend()]) as s:
            with pytest.raises(SpecError, match="asks for 2 ranks.*MPI launcher backend"):
                s.execute(["true"], ranks=2, cores=1)
    run(main())


def test_bad_inputs_have_clear_messages(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path) as s:
            with pytest.raises(InfeasibleRequest, match="4 cores"):
                s.submit(add, 1, 2, cores=4, name="greedy")
            with pytest.raises(InfeasibleRequest, match="GPU"):
                s.submit(add, 1, 2, gpus=1)
            with pytest.raises(SpecError, match="list of strings"):
                s.execute("echo hi")
            with pytest.raises(SpecError, match="cores must be >= 0"):
                s.submit(add, 1, 2, cores=-1)
            with pytest.raises(SpecError, match="timeout must be > 0"):
                s.submit(add, 1, 2, timeout=0)
            with pytest.raises(SpecError, match="after= takes task futures"):
                s.submit(add, 1, 2, after=["x"])  # type: ignore[list-item]
            with pytest.raises(SpecError, match="unknown task option 'core'; did you mean 'cores'"):
                s.submit(add, 1, 2, core=2)  # type: ignore[call-arg]
            with pytest.raises(SpecError, match="either resources= or cores="):
                s.submit(add, 1, 2, cores=1, resources=tandem.Resources())
            ghost = s.execute(["definitely-not-a-program-xyz"], name="ghost")
            with pytest.raises(TaskFailed, match="could not be started.*definitely-not"):
                await ghost
    run(main())


def test_bad_mode_is_a_spec_error(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path, mode="sideways"):
            pass
    with pytest.raises(SpecError, match="sideways"):
        run(main())


def test_barrier_mode_runs_level_by_level(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path, mode="barrier") as s:
            a = s.submit(time.sleep, 0.05, name="a")
            b = s.submit(time.sleep, 0.5, name="b")
            c = s.submit(time.sleep, 0.0, name="c", after=[a])
            await c
            assert c.record.launched >= b.record.ended  # type: ignore[operator]
    run(main())


def test_trace_written(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path) as s:
            await s.submit(add, 1, 2, name="one", kind="analysis")
    run(main())
    recs = list(tandem.read_trace(tmp_path))
    kinds = [r["ev"] for r in recs]
    assert kinds[0] == "run" and "launch" in kinds and kinds[-1] == "close"
    end = next(r for r in recs if r["ev"] == "end")
    assert end["name"] == "one" and end["kind"] == "analysis" and end["state"] == "done"
    assert end["slots"][0][1] in ([0], [1])


def test_sync_session(tmp_path: Path) -> None:
    with tandem.SyncSession(plat(), run_dir=tmp_path) as s:
        a = s.submit(add, 2, 3)
        b = s.submit(add, a, 1)
        assert b.result(timeout=60) == 6
        with pytest.raises(TaskFailed):
            s.submit(boom).result(timeout=60)


def die_hard() -> None:
    os._exit(3)


def test_dead_worker_fails_only_its_task(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path) as s:
            slow = s.submit(time.sleep, 0.5, name="neighbour")
            dead = s.submit(die_hard, name="dies")
            with pytest.raises(TaskFailed) as e:
                await dead
            assert e.value.exit_code == 3 and "dies" in str(e.value)
            assert await slow is None
            assert await s.submit(add, 2, 2) == 4      # a fresh worker took over
    run(main())


def test_instrument_hooks_see_every_task(tmp_path: Path) -> None:
    seen: list[tuple[str, int]] = []

    class Recorder(tandem.Instrument):
        def task_launched(self, launch: Any, now: float) -> None:
            seen.append(("launch", launch.task_id))

        def task_ended(self, record: Any) -> None:
            seen.append((record.state.value, record.task_id))

    async def main() -> None:
        async with tandem.open_session(plat(), run_dir=tmp_path,
                                       instruments=[Recorder()]) as s:
            a = s.submit(add, 1, 1)
            s.submit(boom, after=[a])
    run(main())
    assert seen == [("launch", 0), ("done", 0), ("launch", 1), ("failed", 1)]


def test_a_platform_the_local_backends_cannot_execute_is_refused(tmp_path: Path) -> None:
    # Two 1-core nodes: local processes would run both tasks on this machine's cores at once.
    from tandem.backends.functions import FunctionBackend
    from tandem.spec.task import Mock, TaskSpec

    two = Platform.uniform(2, cores=1)

    async def main() -> list[str]:
        async with tandem.open_session(two, run_dir=tmp_path / "a") as s:
            with pytest.raises(SpecError, match="functions backend") as e:
                s.submit(add, 1, 2)
            assert two.describe() in str(e.value)
            with pytest.raises(SpecError, match="processes|process"):
                s.execute(["true"])
            # mock tasks run on logical slots of any node
            a = s.submit_spec(TaskSpec(name="a", work=Mock(seconds=0.01)))
            b = s.submit_spec(TaskSpec(name="b", work=Mock(seconds=0.01)))
            await a
            await b
            return sorted(f.record.placement.slots[0].node for f in (a, b)
                          if f.record.placement is not None)

    assert run(main()) == ["node0", "node1"]

    async def explicit() -> None:
        async with tandem.open_session(two, run_dir=tmp_path / "b",
                                       backends=[FunctionBackend(log_dir=tmp_path / "w")]):
            pass

    with pytest.raises(SpecError, match="functions backend") as e:
        run(explicit())
    assert two.describe() in str(e.value)


def test_process_result_paths_are_paths_and_it_pickles(tmp_path: Path) -> None:
    import pickle

    from tandem.runtime.workdirs import ProcessResult

    r = ProcessResult(str(tmp_path))
    assert r.returncode == 0 and r.workdir == tmp_path
    assert r.stdout == tmp_path / "stdout" and r.stderr == tmp_path / "stderr"
    assert isinstance(r.stdout, Path) and isinstance(ProcessResult(tmp_path).workdir, Path)
    back = pickle.loads(pickle.dumps(r))
    assert back.stdout == r.stdout and repr(back) == repr(r)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_a_task_without_cores_runs_on_the_cores_no_task_holds(tmp_path: Path) -> None:
    """A ``cores=0`` task (a GPU feeder) is pinned to the cores free at its launch, not to the
    whole machine while another task holds a core (it used to inherit the whole mask)."""
    go = tmp_path / "go"

    async def main() -> tuple[tuple[int, ...], set[int], str]:
        platform = tandem.Platform.local(virtual_gpus=1)
        async with tandem.open_session(platform, run_dir=tmp_path / "run") as s:
            # Submitted together: the holder is placed first (submission order), then the
            # feeder, in the same scheduling pass, while the holder still holds its core.
            holder = s.execute(["sh", "-c", f"while [ ! -e {go} ]; do sleep 0.01; done"],
                               cores=1, name="holder")
            feeder = s.execute(["sh", "-c", "grep Cpus_allowed_list /proc/self/status; "
                                "echo $OMP_NUM_THREADS"], cores=0, gpus=1, name="feeder")
            out = (await feeder).stdout.read_text().split()
            go.touch()
            await holder
            assert holder.record.placement is not None
            return holder.record.placement.cores, set(platform.nodes[0].cores), " ".join(out)

    held, every, out = asyncio.run(asyncio.wait_for(main(), 60))
    free = sorted(every - set(held))
    allowed = out.split()[1]
    expected = ",".join(map(str, free)) if len(free) == 1 else f"{free[0]}-{free[-1]}"
    assert allowed == expected, out
    assert out.split()[2] == str(len(free))      # OMP_NUM_THREADS: the cores it may use


def test_a_note_goes_into_the_trace_and_bad_ones_are_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with tandem.open_session(Platform.local(), run_dir=tmp_path) as s:
            s.note("checkpoint", {"step": 3, "loss": 0.25})
            for kind in ("end", "not a word", 7):
                with pytest.raises(SpecError, match="kind must be a word"):
                    s.note(kind, {})  # type: ignore[arg-type]
            with pytest.raises(SpecError, match="fields must be a mapping"):
                s.note("x", [1])  # type: ignore[arg-type]
    asyncio.run(main())
    notes = [r for r in tandem.read_trace(tmp_path) if r["ev"] == "checkpoint"]
    assert len(notes) == 1 and notes[0]["step"] == 3 and notes[0]["loss"] == 0.25
    assert isinstance(notes[0]["t"], float)
