"""Memory limits with real processes: a task that allocates beyond its ``memory_mb`` ends with
that cause while a neighbour running at the same time finishes, for each mechanism this
machine has (a cgroup v1 or v2, ``RLIMIT_DATA``), for executables and for function calls; peak
memory in the outcome and the trace; cgroups removed; bad input refused."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import tandem
from tandem import Platform
from tandem.backends.base import LaunchRequest, Outcome
from tandem.backends.cgroups import own_cgroup
from tandem.backends.functions import FunctionBackend
from tandem.backends.memory import ENV, MemoryLimits, mode_of
from tandem.backends.process import ProcessBackend
from tandem.core.values import FailureKind, Placement, Slot
from tandem.errors import SpecError, TaskFailed
from tandem.spec.task import Executable, FunctionCall, Work
from tandem.trace.records import load_trace
from tests.backends.recorder import Recorder

TIMEOUT = 60.0
CPU0 = Placement(slots=(Slot(node="n", cores=(0,), gpus=()),))
# allocate argv[1] MiB and touch every page, after reading argv[2] (a FIFO) when given
ALLOC = ("import sys\n"
         "if len(sys.argv) > 2:\n"
         "    open(sys.argv[2]).read()\n"
         "b = bytearray(int(sys.argv[1]) << 20)\n"
         "b[::4096] = b'x' * len(b[::4096])\n"
         "print('allocated', len(b) >> 20)\n")


def alloc(mb: int, fifo: str | None = None) -> int:
    """A function task: wait for ``fifo`` (if given), then allocate and touch ``mb`` MiB."""
    if fifo is not None:
        with open(fifo) as f:
            f.read()
    b = bytearray(mb << 20)
    b[::4096] = b"x" * len(b[::4096])
    return len(b) >> 20


def cgroup_version() -> str | None:
    """The cgroup version tandem would use here (``None``: it cannot create one)."""
    limits = MemoryLimits("test")
    limits.start()
    mechanism = limits.mechanism
    limits.close()
    return mechanism if mechanism in ("cgroup1", "cgroup2") else None


CGROUP = cgroup_version()
needs_cgroup = pytest.mark.skipif(
    CGROUP is None, reason="tandem cannot create a memory cgroup on this machine "
    "(no writable memory controller under its own cgroup): only RLIMIT_DATA is tested")
MODES = [pytest.param("cgroup", marks=needs_cgroup), "rlimit"]


def request(tmp: Path, task_id: int, work: Work, memory_mb: int | None) -> LaunchRequest:
    return LaunchRequest(task_id=task_id, name=f"t{task_id}", kind="task", work=work,
                         placement=CPU0, workdir=str(tmp / f"t{task_id}"), memory_mb=memory_mb)


def executable(mb: int, fifo: Path | None = None) -> Executable:
    argv = (sys.executable, "-c", ALLOC, str(mb)) + ((str(fifo),) if fifo else ())
    return Executable(argv=argv)


async def release(fifo: Path) -> None:
    """Let the task blocked on ``fifo`` go on (the open waits for its reader)."""
    def write() -> None:
        with open(fifo, "w") as f:
            f.write("go")
    await asyncio.wait_for(asyncio.to_thread(write), TIMEOUT)


def run_process(body: Callable[[ProcessBackend, Recorder], Awaitable[None]],
                memory: str | None) -> ProcessBackend:
    async def main() -> ProcessBackend:
        backend = ProcessBackend(memory=memory)
        rec = Recorder(TIMEOUT)
        await backend.start(rec)
        try:
            await body(backend, rec)
        finally:
            await asyncio.wait_for(backend.shutdown(), TIMEOUT)
        return backend
    return asyncio.run(main())


def run_functions(tmp: Path, body: Callable[[FunctionBackend, Recorder], Awaitable[None]],
                  memory: str | None, prespawn: int = 2) -> None:
    async def main() -> None:
        backend = FunctionBackend(tmp / "logs", prespawn=prespawn, memory=memory)
        rec = Recorder(TIMEOUT)
        await backend.start(rec)
        try:
            await body(backend, rec)
        finally:
            await asyncio.wait_for(backend.shutdown(), TIMEOUT)
    asyncio.run(main())


def tandem_cgroups() -> list[str]:
    """tandem's cgroups of this process (its parents ``tandem-<pid>-<n>`` and what they hold)."""
    found = own_cgroup()
    if found is None:
        return []
    home, mine = found[1], f"tandem-{os.getpid()}-"
    return [f"{home}/{name}" for name in os.listdir(home) if name.startswith(mine)]


# -- executables -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_an_executable_over_its_limit_ends_with_that_cause_and_its_neighbour_finishes(
        tmp_path: Path, mode: str) -> None:
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    got: dict[str, Outcome] = {}

    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, executable(30, fifo), memory_mb=100))
        await rec.wait_started(1)
        backend.launch(request(tmp_path, 2, executable(300), memory_mb=100))
        got["hog"] = await rec.wait_exited(2)
        assert ("exited", 1) not in rec.events     # the neighbour is still running
        await release(fifo)
        got["neighbour"] = await rec.wait_exited(1)

    run_process(body, mode)
    hog, neighbour = got["hog"], got["neighbour"]
    assert hog.failure is not None and hog.failure.kind is FailureKind.MEMORY
    assert "exceeded its 100 MB memory limit" in hog.failure.message
    assert neighbour.failure is None
    assert (tmp_path / "t1" / "stdout").read_text() == "allocated 30\n"
    if mode == "cgroup":
        assert "killed by the kernel's OOM killer" in hog.failure.message
        assert CGROUP is not None and CGROUP[-1] in hog.failure.message  # "cgroup v1 ..."
        assert hog.peak_mb is not None and 90 <= hog.peak_mb <= 100
        assert neighbour.peak_mb is not None and 30 <= neighbour.peak_mb < 100
    else:
        assert "an allocation was refused (RLIMIT_DATA)" in hog.failure.message
        assert "MemoryError" in hog.failure.stderr_tail
    assert tandem_cgroups() == []


@needs_cgroup
def test_the_cgroup_version_is_the_one_this_machine_has() -> None:
    found = own_cgroup()
    assert found is not None and found[0] == CGROUP
    assert os.path.isdir(found[1])


@pytest.mark.skipif(CGROUP != "cgroup1", reason="this machine's memory controller is not "
                    "cgroup v1")
def test_cgroup_v1_limits_memory_and_swap(tmp_path: Path) -> None:
    limits = MemoryLimits("test", "cgroup")
    limits.start()
    memory = limits.open(request(tmp_path, 5, executable(1), memory_mb=64), processes=2)
    assert memory is not None
    try:
        limit = Path(memory.path, "memory.limit_in_bytes").read_text()
        assert int(limit) == 128 << 20                 # 64 MiB per rank, 2 ranks
        memsw = Path(memory.path, "memory.memsw.limit_in_bytes")
        if memsw.exists():
            assert int(memsw.read_text()) == 128 << 20
    finally:
        assert memory.remove()
        limits.close()
    assert tandem_cgroups() == []


@pytest.mark.skipif(CGROUP != "cgroup2", reason="this machine's memory controller is not "
                    "cgroup v2 with memory enabled for tandem's cgroup")
def test_cgroup_v2_limits_memory_swap_and_kills_the_group(tmp_path: Path) -> None:
    limits = MemoryLimits("test", "cgroup")
    limits.start()
    memory = limits.open(request(tmp_path, 5, executable(1), memory_mb=64))
    assert memory is not None
    try:
        assert int(Path(memory.path, "memory.max").read_text()) == 64 << 20
        group = Path(memory.path, "memory.oom.group")
        if group.exists():
            assert group.read_text().strip() == "1"
    finally:
        assert memory.remove()
        limits.close()


def test_without_a_cgroup_the_peak_is_the_leaders_ru_maxrss(tmp_path: Path) -> None:
    # ru_maxrss of a child of the driver counts the driver's own pages until it execs: the
    # child must rise above the driver's peak for its own to be known
    import resource
    driver_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
    mb = driver_mb + 150
    got: list[Outcome] = []

    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, executable(mb), memory_mb=mb + 200))
        got.append(await rec.wait_exited(1))

    run_process(body, "rlimit")
    assert got[0].failure is None
    assert got[0].peak_mb is not None and mb <= got[0].peak_mb < mb + 100


def test_off_enforces_nothing(tmp_path: Path) -> None:
    got: list[Outcome] = []

    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, executable(150), memory_mb=50))
        got.append(await rec.wait_exited(1))

    run_process(body, "off")
    assert got[0].failure is None


@needs_cgroup
def test_a_process_a_task_left_in_its_cgroup_is_ended_at_shutdown(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = f"setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $! > {pidfile}"
    got: list[Outcome] = []

    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, Executable(argv=(script,), shell=True),
                               memory_mb=50))
        got.append(await rec.wait_exited(1))
        assert tandem_cgroups() != []                  # the sleeper keeps its cgroup

    run_process(body, "cgroup")
    assert got[0].failure is None
    pid = int(pidfile.read_text())
    from tests.backends.test_process import gone
    assert gone(pid)
    assert tandem_cgroups() == []


@needs_cgroup
def test_cgroups_of_a_driver_that_died_are_removed_at_start(tmp_path: Path) -> None:
    found = own_cgroup()
    assert found is not None
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    stale = Path(found[1], f"tandem-{dead}-1")
    (stale / "t1-1").mkdir(parents=True)
    limits = MemoryLimits("test", "cgroup")
    limits.start()
    limits.close()
    assert not stale.exists()


@pytest.mark.skipif(shutil.which("mpiexec.mpich") is None or not {0, 1} <= os.sched_getaffinity(0),
                    reason="needs MPICH's mpiexec (apt-get install mpich) and cores 0 and 1")
@pytest.mark.parametrize("mode", MODES)
def test_mpi_ranks_run_within_their_limit_and_a_rank_over_it_fails_the_task(
        tmp_path: Path, mode: str) -> None:
    from tandem.backends.mpiexec import Mpiexec, MpiFlavour
    two = Placement(slots=(Slot(node="n", cores=(0,)), Slot(node="n", cores=(1,))))
    got: dict[int, Outcome] = {}

    async def main() -> None:
        backend = ProcessBackend(launcher=Mpiexec(MpiFlavour.MPICH), memory=mode)
        rec = Recorder(TIMEOUT)
        await backend.start(rec)
        try:
            for task_id, mb in ((1, 60), (2, 250)):   # per rank, with memory_mb=100 per rank
                backend.launch(LaunchRequest(
                    task_id=task_id, name=f"t{task_id}", kind="mpi", work=executable(mb),
                    placement=two, workdir=str(tmp_path / f"t{task_id}"), memory_mb=100))
                got[task_id] = await rec.wait_exited(task_id)
        finally:
            await asyncio.wait_for(backend.shutdown(), TIMEOUT)

    asyncio.run(main())
    assert got[1].failure is None, got[1].failure
    assert (tmp_path / "t1" / "stdout").read_text().count("allocated") == 2   # both ranks
    failure = got[2].failure
    assert failure is not None and failure.kind is FailureKind.MEMORY, failure
    if mode == "cgroup":   # one cgroup of 200 MiB for both ranks: its peak is theirs
        assert got[1].peak_mb is not None and 60 <= got[1].peak_mb <= 200
    assert tandem_cgroups() == []


def memory_mount() -> str | None:
    """Where this process's memory controller is mounted (``None``: nowhere)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, options = right.split()[0], right.split()[2].split(",")
        v1 = fstype == "cgroup" and "memory" in options
        if v1 or (fstype == "cgroup2" and CGROUP == "cgroup2"):
            return left.split()[4]
    return None


WITHOUT_CGROUPS = """
import asyncio, sys
from tandem.backends.memory import MemoryLimits
from tandem.errors import BackendError
sys.path.insert(0, sys.argv[1])
from tests.backends import test_memory as t
try:
    MemoryLimits("ProcessBackend", "cgroup").start()
except BackendError as exc:
    print("refused:", exc)
auto = MemoryLimits("ProcessBackend", "auto")
auto.start()
print("auto:", auto.mechanism, "because", auto.why)
got = []
async def body(backend, rec):
    backend.launch(t.request(t.Path(sys.argv[2]), 1, t.executable(300), memory_mb=100))
    got.append(await rec.wait_exited(1))
t.run_process(body, None)
print("hog:", got[0].failure.kind.value, got[0].failure.message)
"""


@needs_cgroup
def test_without_a_cgroup_auto_falls_back_to_rlimit_and_cgroup_says_why(tmp_path: Path) -> None:
    # a real machine without a memory cgroup: this one, in a mount namespace of its own where
    # the memory controller is not mounted
    mount = memory_mount()
    probe = subprocess.run(["unshare", "-m", "umount", str(mount)], capture_output=True)
    if mount is None or probe.returncode != 0:
        pytest.skip(f"cannot unmount the memory controller in a mount namespace of its own "
                    f"(unshare -m umount {mount}: {probe.stderr.decode().strip()})")
    root = Path(__file__).resolve().parents[2]
    script = f'umount {mount} && exec "$0" -c "$1" {root} {tmp_path}'
    done = subprocess.run(["unshare", "-m", "sh", "-c", script, sys.executable,
                           WITHOUT_CGROUPS], capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, "PYTHONPATH": str(root / "src")})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("refused: ProcessBackend: memory='cgroup': tandem cannot create a "
                        "memory cgroup here: no memory cgroup controller is mounted for this "
                        "process")
    assert lines[1] == ("auto: rlimit because no memory cgroup controller is mounted for this "
                        "process")
    assert lines[2].startswith("hog: memory ")
    assert "an allocation was refused (RLIMIT_DATA)" in lines[2]


# -- function calls ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_a_function_over_its_limit_ends_with_that_cause_and_its_neighbour_finishes(
        tmp_path: Path, mode: str) -> None:
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    got: dict[str, Outcome] = {}

    async def body(backend: FunctionBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, FunctionCall(fn=alloc, args=(30, str(fifo))),
                               memory_mb=100))
        await rec.wait_started(1)
        backend.launch(request(tmp_path, 2, FunctionCall(fn=alloc, args=(300,)),
                               memory_mb=100))
        got["hog"] = await rec.wait_exited(2)
        assert ("exited", 1) not in rec.events
        await release(fifo)
        got["neighbour"] = await rec.wait_exited(1)
        # the limit was the call's only: the next call, without memory_mb, is not limited
        backend.launch(request(tmp_path, 3, FunctionCall(fn=alloc, args=(300,)), None))
        got["after"] = await rec.wait_exited(3)

    run_functions(tmp_path, body, mode)
    hog, neighbour = got["hog"], got["neighbour"]
    assert hog.failure is not None and hog.failure.kind is FailureKind.MEMORY
    assert hog.failure.message.startswith("t2 exceeded its 100 MB memory limit")
    assert neighbour.failure is None and neighbour.value == 30
    # what the call added at its peak (pages the worker freed meanwhile make it a little less)
    assert neighbour.peak_mb is not None and 25 <= neighbour.peak_mb < 100
    assert got["after"].failure is None and got["after"].value == 300
    assert got["after"].peak_mb is None               # calls without memory_mb: not measured
    if mode == "cgroup":
        assert "killed by the kernel's OOM killer" in hog.failure.message
    else:   # the user's function raised MemoryError: the same cause, and the worker lives on
        assert "an allocation was refused (RLIMIT_DATA)" in hog.failure.message
        assert "MemoryError" in hog.failure.traceback
    assert tandem_cgroups() == []


def test_a_memory_error_leaves_the_worker_usable(tmp_path: Path) -> None:
    got: list[Outcome] = []
    pids: list[int | None] = []

    async def body(backend: FunctionBackend, rec: Recorder) -> None:
        for task_id, mb in ((1, 300), (2, 20)):
            backend.launch(request(tmp_path, task_id, FunctionCall(fn=alloc, args=(mb,)),
                                   memory_mb=100))
            pids.append(backend.worker_pid(task_id))
            got.append(await rec.wait_exited(task_id))

    run_functions(tmp_path, body, "rlimit", prespawn=1)
    assert got[0].failure is not None and got[0].failure.kind is FailureKind.MEMORY
    assert got[1].failure is None and got[1].value == 20
    assert pids[0] == pids[1]                          # one worker ran both


# -- a session: the trace ----------------------------------------------------------------------

def test_peak_memory_and_the_cause_are_in_the_trace(tmp_path: Path) -> None:
    async def main() -> None:
        async with asyncio.timeout(TIMEOUT), tandem.open_session(
                Platform.uniform(1, cores=2), run_dir=tmp_path) as s:
            ok = s.execute([sys.executable, "-c", ALLOC, "40"], name="small", memory_mb=200)
            hog = s.execute([sys.executable, "-c", ALLOC, "400"], name="hog", memory_mb=100)
            fn = s.submit(alloc, 40, name="fn", memory_mb=200)
            await ok
            assert await fn == 40
            with pytest.raises(TaskFailed, match="exceeded its 100 MB memory limit"):
                await hog

    asyncio.run(main())
    tasks = {t.name: t for t in load_trace(tmp_path).tasks}
    for name in ("small", "fn"):
        peak = tasks[name].peak_mb
        assert peak is not None and 40 <= peak < 200, (name, peak)
    assert tasks["hog"].state == "failed"
    assert tasks["hog"].failure is not None and tasks["hog"].failure["kind"] == "memory"


# -- the cause, from what the kernel says ------------------------------------------------------

def test_which_ends_are_the_limits_doing() -> None:
    import signal

    from tandem.backends.memory import TaskMemory, Usage, memory_failure
    from tandem.core.values import Failure
    cg = TaskMemory(100, "cgroup1", "/sys/fs/cgroup/memory/x/t1-1")
    rl = TaskMemory(100, "rlimit")
    killed = Failure(kind=FailureKind.SIGNAL, signal=signal.SIGKILL, message="p was killed")

    def kind(f: Failure, m: TaskMemory, u: Usage, killing: bool = False) -> FailureKind | None:
        got = memory_failure(f, m, u, killing=killing, who="p")
        return None if got is None else got.kind

    assert kind(killed, cg, Usage(oom_kills=1, peak=100 << 20)) is FailureKind.MEMORY
    # a kernel that keeps no oom_kill count: a SIGKILL nobody in tandem sent, at the limit
    assert kind(killed, cg, Usage(oom_kills=None, hit=True)) is FailureKind.MEMORY
    # at the limit, but the kernel says its OOM killer killed nothing: someone else's SIGKILL
    assert kind(killed, cg, Usage(oom_kills=0, hit=True)) is FailureKind.SIGNAL
    assert kind(killed, cg, Usage(oom_kills=1), killing=True) is FailureKind.SIGNAL
    refused = Failure(kind=FailureKind.EXIT, exit_code=1, message="p exited with code 1",
                      stderr_tail="MemoryError")
    assert kind(refused, rl, Usage()) is FailureKind.MEMORY
    assert kind(refused, cg, Usage(oom_kills=0, hit=False)) is FailureKind.EXIT  # not its limit
    gpu = Failure(kind=FailureKind.EXIT, exit_code=1, message="p exited with code 1",
                  stderr_tail="RuntimeError: CUDA out of memory")
    assert kind(gpu, rl, Usage()) is FailureKind.EXIT       # GPU memory is not the limit's
    assert memory_failure(None, rl, Usage(), killing=False, who="p") is None


def test_the_environment_turns_enforcement_off_for_a_sessions_backends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "off")

    async def main() -> tuple[Any, Any]:
        async with asyncio.timeout(TIMEOUT), tandem.open_session(
                Platform.uniform(1, cores=2), run_dir=tmp_path) as s:
            exe = s.execute([sys.executable, "-c", ALLOC, "200"], memory_mb=50)
            fn = s.submit(alloc, 200, memory_mb=50)
            return await exe, await fn

    _, value = asyncio.run(main())
    assert value == 200
    assert [t.state for t in load_trace(tmp_path).tasks] == ["done", "done"]


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda tmp: request(tmp, 1, executable(1), memory_mb=0),
    lambda tmp: request(tmp, 1, FunctionCall(fn=alloc, args=(1,)), memory_mb=0),
])
def test_memory_mb_zero_cannot_be_enforced(tmp_path: Path,
                                           make: Callable[[Path], LaunchRequest]) -> None:
    req = make(tmp_path)
    got: list[Outcome] = []

    async def body(backend: Any, rec: Recorder) -> None:
        backend.launch(req)
        got.append(await rec.wait_exited(1))

    if isinstance(req.work, Executable):
        run_process(body, None)
    else:
        run_functions(tmp_path, body, None, prespawn=0)
    failure = got[0].failure
    assert failure is not None and failure.kind is FailureKind.LAUNCH
    assert "memory_mb=0 cannot be enforced" in failure.message


def test_a_missing_program_with_a_limit_is_still_a_launch_failure(tmp_path: Path) -> None:
    got: list[Outcome] = []

    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, Executable(argv=("no-such-program-x",)), 100))
        got.append(await rec.wait_exited(1))

    run_process(body, None)
    failure = got[0].failure
    assert failure is not None and failure.kind is FailureKind.LAUNCH
    assert "cannot launch 'no-such-program-x': No such file or directory" in failure.message


def test_a_program_named_from_its_working_directory_runs_with_a_limit(tmp_path: Path) -> None:
    prog = tmp_path / "prog"
    prog.write_text("#!/bin/sh\necho ran in $(pwd)\n")
    prog.chmod(0o755)
    got: list[Outcome] = []

    async def body(backend: ProcessBackend, rec: Recorder) -> None:
        work = Executable(argv=("./prog",), cwd=str(tmp_path))
        backend.launch(request(tmp_path, 1, work, memory_mb=50))
        got.append(await rec.wait_exited(1))

    run_process(body, None)
    assert got[0].failure is None, got[0].failure
    assert (tmp_path / "t1" / "stdout").read_text() == f"ran in {tmp_path}\n"


@pytest.mark.parametrize("mode", MODES)
def test_a_limit_larger_than_any_machine_is_no_error(tmp_path: Path, mode: str) -> None:
    got: list[Outcome] = []

    async def body(backend: FunctionBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 1, FunctionCall(fn=alloc, args=(10,)), 10**15))
        got.append(await rec.wait_exited(1))

    run_functions(tmp_path, body, mode, prespawn=1)
    got2: list[Outcome] = []

    async def exe(backend: ProcessBackend, rec: Recorder) -> None:
        backend.launch(request(tmp_path, 2, executable(10), memory_mb=10**15))
        got2.append(await rec.wait_exited(2))

    run_process(exe, mode)
    assert got[0].failure is None and got[0].value == 10
    assert got2[0].failure is None


def test_a_mode_that_does_not_exist_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SpecError, match=r"ProcessBackend: memory='cgroups': expected one of "
                       r"auto, cgroup, rlimit, off"):
        ProcessBackend(memory="cgroups")
    monkeypatch.setenv(ENV, "never")
    with pytest.raises(SpecError, match=r"\$TANDEM_MEMORY_LIMITS='never'"):
        FunctionBackend("logs")
    monkeypatch.setenv(ENV, "off")
    assert mode_of("x", None) == "off"
