"""Tests of the local executable backend with real processes."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from tandem.backends.base import LaunchRequest, Outcome
from tandem.backends.process import ProcessBackend
from tandem.core.values import FailureKind, Placement, Slot
from tandem.spec.task import Executable, FunctionCall
from tests.backends.recorder import Recorder as _Recorder

TIMEOUT = 30.0
CPU0 = Placement(slots=(Slot(node="n", cores=(0,), gpus=("0",)),))


class Recorder(_Recorder):
    def __init__(self) -> None:
        super().__init__(TIMEOUT)


def request(tmp: Path, task_id: int, argv: tuple[str, ...] | str, *,
            placement: Placement = CPU0, shell: bool = False,
            env: dict[str, str] | None = None, cwd: str | None = None) -> LaunchRequest:
    if isinstance(argv, str):
        argv = (argv,)
    work = Executable(argv=argv, shell=shell, env=env or {}, cwd=cwd)
    return LaunchRequest(task_id=task_id, name=f"t{task_id}", kind="task", work=work,
                         placement=placement, workdir=str(tmp / f"t{task_id}"))


def run(body: Callable[[ProcessBackend, Recorder], Awaitable[None]],
        kill_grace: float = 3.0) -> None:
    async def main() -> None:
        backend = ProcessBackend(kill_grace=kill_grace)
        rec = Recorder()
        await backend.start(rec)
        try:
            await body(backend, rec)
        finally:
            await asyncio.wait_for(backend.shutdown(), TIMEOUT)
    asyncio.run(main())


async def wait_for_file_line(path: Path, marker: str) -> list[str]:
    """The lines of ``path`` once it contains the line ``marker`` (bounded short retries)."""
    for _ in range(3000):
        if path.exists():
            lines = path.read_text().splitlines()
            if marker in lines:
                return lines
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} never got the line {marker!r}")


def gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (absent, or a zombie nobody has reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in (b"Z", b"X")


def test_success_and_output_files(tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, ("sh", "-c", "echo out; echo err >&2")))
        await rec.wait_started(1)
        outcome = await rec.wait_exited(1)
        assert outcome == Outcome(1)
        assert (tmp_path / "t1" / "stdout").read_text() == "out\n"
        assert (tmp_path / "t1" / "stderr").read_text() == "err\n"
        assert rec.events == [("started", 1), ("exited", 1)]
    run(body)


def test_nonzero_exit_has_code_and_stderr_tail(tmp_path: Path) -> None:
    script = "for i in $(seq 1 100); do echo line$i >&2; done; exit 3"
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, ("sh", "-c", script)))
        outcome = await rec.wait_exited(1)
        failure = outcome.failure
        assert failure is not None and failure.kind is FailureKind.EXIT
        assert failure.exit_code == 3
        assert failure.message == "sh exited with code 3"
        lines = failure.stderr_tail.splitlines()
        assert lines[-1] == "line100"
        assert 1 <= len(lines) <= 20
    run(body)


def test_pinning_is_visible_inside_the_task(tmp_path: Path) -> None:
    cmd = "grep Cpus_allowed_list /proc/self/status"
    cores = sorted(os.sched_getaffinity(0))
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        last = cores[-1]
        one = Placement(slots=(Slot(node="n", cores=(last,)),))
        both = Placement(slots=(Slot(node="n", cores=tuple(cores[:2])),))
        gpu_only = Placement(slots=(Slot(node="n", cores=(), gpus=("0",)),))
        backend.launch(request(tmp_path, 1, cmd, shell=True, placement=one))
        backend.launch(request(tmp_path, 2, cmd, shell=True, placement=both))
        backend.launch(request(tmp_path, 3, cmd, shell=True, placement=gpu_only))
        for t in (1, 2, 3):
            assert (await rec.wait_exited(t)).failure is None
        def allowed(t: int) -> set[int]:
            text = (tmp_path / f"t{t}" / "stdout").read_text().split(":")[1].strip()
            out: set[int] = set()
            for part in text.split(","):
                lo, _, hi = part.partition("-")
                out.update(range(int(lo), int(hi or lo) + 1))
            return out
        assert allowed(1) == {last}
        assert allowed(2) == set(cores[:2])
        assert allowed(3) == set(cores)
        assert os.sched_getaffinity(0) == set(cores)  # the caller's mask is restored
    run(body)


def test_placement_environment(tmp_path: Path) -> None:
    gpu = Placement(slots=(Slot(node="n", cores=(0, 1), gpus=("1",)),))
    cpu = Placement(slots=(Slot(node="n", cores=(0,)),))
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 7, ("env",), placement=gpu, env={"MY_VAR": "x"}))
        backend.launch(request(tmp_path, 8, ("env",), placement=cpu))
        for t in (7, 8):
            assert (await rec.wait_exited(t)).failure is None
        def env_of(t: int) -> dict[str, str]:
            lines = (tmp_path / f"t{t}" / "stdout").read_text().splitlines()
            return dict(line.split("=", 1) for line in lines if "=" in line)
        env = env_of(7)
        assert env["CUDA_VISIBLE_DEVICES"] == "1"
        assert env["ROCR_VISIBLE_DEVICES"] == "1"
        assert env["OMP_NUM_THREADS"] == "2"
        assert env["MY_VAR"] == "x"
        assert env["TANDEM_TASK_ID"] == "7"
        assert env["TANDEM_TASK_NAME"] == "t7"
        assert env["PATH"] == os.environ["PATH"]
        assert env_of(8)["CUDA_VISIBLE_DEVICES"] == ""
        assert env_of(8)["OMP_NUM_THREADS"] == "1"
    run(body)


def test_cwd_defaults_to_workdir_and_can_be_set(tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, ("pwd",)))
        backend.launch(request(tmp_path, 2, ("pwd",), cwd=str(tmp_path)))
        for t in (1, 2):
            assert (await rec.wait_exited(t)).failure is None
        assert (tmp_path / "t1" / "stdout").read_text().strip() == str(tmp_path / "t1")
        assert (tmp_path / "t2" / "stdout").read_text().strip() == str(tmp_path)
    run(body)


TREE = ("sleep 100 & echo $!; sleep 100 & echo $!; setsid sleep 100 & echo $!; "
        "echo ready; wait")


def test_kill_ends_the_whole_tree(tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, TREE, shell=True))
        await rec.wait_started(1)
        lines = await wait_for_file_line(tmp_path / "t1" / "stdout", "ready")
        pids = [int(x) for x in lines[:3]]
        assert not any(gone(p) for p in pids)
        backend.kill(1)
        backend.kill(1)  # a second kill while ending does nothing
        outcome = await rec.wait_exited(1)
        assert outcome.failure is not None
        assert outcome.failure.kind is FailureKind.SIGNAL
        assert outcome.failure.signal == signal.SIGTERM
        assert "SIGTERM" in outcome.failure.message
        assert all(gone(p) for p in pids)
        backend.kill(1)  # killing a finished task does nothing
        backend.kill(99)  # nor an unknown one
        assert rec.events == [("started", 1), ("exited", 1)]
    run(body)


def test_sigterm_ignored_is_followed_by_sigkill(tmp_path: Path) -> None:
    # The shell ignores TERM and so does its setsid child (ignored signals survive exec).
    script = "trap '' TERM; setsid sleep 100 & echo $!; echo ready; while :; do sleep 1; done"
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, script, shell=True))
        lines = await wait_for_file_line(tmp_path / "t1" / "stdout", "ready")
        escaped = int(lines[0])
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        backend.kill(1)
        outcome = await rec.wait_exited(1)
        assert loop.time() - t0 >= 0.25
        assert outcome.failure is not None
        assert outcome.failure.kind is FailureKind.SIGNAL
        assert outcome.failure.signal == signal.SIGKILL
        assert gone(escaped)
    run(body, kill_grace=0.3)


def test_leftovers_in_the_group_are_killed_when_the_leader_exits(tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, "sleep 100 & echo $!", shell=True))
        outcome = await rec.wait_exited(1)
        assert outcome.failure is None
        pid = int((tmp_path / "t1" / "stdout").read_text().split()[0])
        for _ in range(3000):  # SIGKILL was sent; it lands within moments
            if gone(pid):
                break
            await asyncio.sleep(0.01)
        assert gone(pid)
    run(body)


def test_launch_failures_are_reported_not_raised(tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, ("no-such-program-xyz", "arg")))
        assert rec.events == []  # reported later, not from inside launch
        noexec = tmp_path / "noexec.sh"
        noexec.write_text("#!/bin/sh\n")
        backend.launch(request(tmp_path, 2, (str(noexec),)))
        backend.launch(request(tmp_path, 3, ("true",), cwd=str(tmp_path / "missing")))
        far = Placement(slots=(Slot(node="n", cores=(4095,)),))
        backend.launch(request(tmp_path, 4, ("true",), placement=far))
        fn = LaunchRequest(task_id=5, name="f", kind="task", work=FunctionCall(fn=print),
                           placement=CPU0, workdir=str(tmp_path / "f"))
        assert not backend.accepts(fn.work)
        backend.launch(fn)
        for t in (1, 2, 3, 4, 5):
            failure = (await rec.wait_exited(t)).failure
            assert failure is not None and failure.kind is FailureKind.LAUNCH, t
            assert f"'t{t}'" in failure.message or t == 5
        msg = (await rec.wait_exited(1)).failure
        assert msg is not None and "no-such-program-xyz" in msg.message
        assert "No such file" in msg.message
        msg = (await rec.wait_exited(2)).failure
        assert msg is not None and "Permission denied" in msg.message
        msg = (await rec.wait_exited(3)).failure
        assert msg is not None and "missing" in msg.message
        msg = (await rec.wait_exited(4)).failure
        assert msg is not None and "4095" in msg.message
        assert ("started", 1) not in rec.events
        # the backend still works afterwards, and the caller's mask is intact
        backend.launch(request(tmp_path, 6, ("true",)))
        assert (await rec.wait_exited(6)).failure is None
    run(body)


def test_shell_true(tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, "echo $((6 * 7)) | tr 4 x", shell=True))
        assert (await rec.wait_exited(1)).failure is None
        assert (tmp_path / "t1" / "stdout").read_text() == "x2\n"
        backend.launch(request(tmp_path, 2, "exit 5", shell=True))
        failure = (await rec.wait_exited(2)).failure
        assert failure is not None and failure.exit_code == 5
        assert failure.message == "/bin/sh exited with code 5"
    run(body)


def test_signal_exit_without_kill(tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, "echo dying >&2; kill -9 $$", shell=True))
        failure = (await rec.wait_exited(1)).failure
        assert failure is not None and failure.kind is FailureKind.SIGNAL
        assert failure.signal == signal.SIGKILL and "SIGKILL" in failure.message
        assert failure.stderr_tail == "dying"
    run(body)


def test_shutdown_leaves_no_process_alive(tmp_path: Path) -> None:
    async def main() -> None:
        backend = ProcessBackend(kill_grace=0.3)
        rec = Recorder()
        await backend.start(rec)
        stubborn = "trap '' TERM; sleep 100 & echo $!; echo ready; wait"
        backend.launch(request(tmp_path, 1, TREE, shell=True))
        backend.launch(request(tmp_path, 2, stubborn, shell=True))
        backend.launch(request(tmp_path, 3, ("sleep", "100")))
        pids: list[int] = []
        for t in (1, 2):
            lines = await wait_for_file_line(tmp_path / f"t{t}" / "stdout", "ready")
            pids += [int(x) for x in lines if x.isdigit()]
        await rec.wait_started(3)
        await asyncio.wait_for(backend.shutdown(), TIMEOUT)
        for t in (1, 2, 3):
            assert rec._exited[t].done()
        assert all(gone(p) for p in pids)
        try:  # every child was reaped
            leftover = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            leftover = None
        assert leftover is None
    asyncio.run(main())


def test_many_short_tasks(tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        for t in range(50):
            backend.launch(request(tmp_path, t, ("true",)))
        outcomes = [await rec.wait_exited(t) for t in range(50)]
        assert all(o.failure is None for o in outcomes)
    run(body)


def test_relaunch_in_the_same_workdir_truncates_outputs(tmp_path: Path) -> None:
    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, "echo first; echo e1 >&2", shell=True))
        await rec.wait_exited(1)
        again = request(tmp_path, 2, "echo second", shell=True)
        backend.launch(LaunchRequest(task_id=2, name="t2", kind="task", work=again.work,
                                     placement=CPU0, workdir=str(tmp_path / "t1"), attempt=2))
        assert (await rec.wait_exited(2)).failure is None
        assert (tmp_path / "t1" / "stdout").read_text() == "second\n"
        assert (tmp_path / "t1" / "stderr").read_text() == ""
    run(body)


def test_kill_grace_is_checked() -> None:
    import pytest

    from tandem.errors import SpecError

    for bad in (-1, True, "3"):
        with pytest.raises(SpecError, match="ProcessBackend: kill_grace"):
            ProcessBackend(kill_grace=bad)  # type: ignore[arg-type]
