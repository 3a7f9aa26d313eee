"""Tests of the warm Python-function backend with real worker processes."""

from __future__ import annotations

import asyncio
import ctypes
import functools
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tandem.backends.base import LaunchRequest, Outcome
from tandem.backends.framing import FrameReader, frame
from tandem.backends.functions import FunctionBackend
from tandem.core.values import FailureKind, Placement, Slot
from tandem.spec.task import Executable, FunctionCall
from tests.backends.recorder import Recorder as _Recorder

TIMEOUT = 60.0
CORE0 = Placement(slots=(Slot(node="local", cores=(0,)),))
CORE1 = Placement(slots=(Slot(node="local", cores=(1,)),))
CORES01 = Placement(slots=(Slot(node="local", cores=(0, 1)),))
GPU1 = Placement(slots=(Slot(node="local", cores=(0,), gpus=("1",)),))
GPU1_ONLY = Placement(slots=(Slot(node="local", cores=(), gpus=("1",)),))
NO_SUCH_CORE = Placement(slots=(Slot(node="local", cores=(4095,)),))

pytestmark = pytest.mark.skipif(not {0, 1} <= os.sched_getaffinity(0),
                                reason="needs cores 0 and 1")


class Recorder(_Recorder):
    def __init__(self) -> None:
        super().__init__(TIMEOUT)


class Fixture:
    """A started backend, its recorder, and helpers to launch and await calls."""

    def __init__(self, backend: FunctionBackend, rec: Recorder, log_dir: Path) -> None:
        self.backend = backend
        self.rec = rec
        self.log_dir = log_dir
        self.next_id = 0

    def launch(self, fn: Callable[..., Any], *args: Any, placement: Placement = CORE0,
               **kwargs: Any) -> int:
        self.next_id += 1
        work = FunctionCall(fn=fn, args=args, kwargs=kwargs)
        self.backend.launch(LaunchRequest(task_id=self.next_id, name=f"t{self.next_id}",
                                          kind="task", work=work, placement=placement,
                                          workdir="/nonexistent"))
        return self.next_id

    async def call(self, fn: Callable[..., Any], *args: Any, placement: Placement = CORE0,
                   **kwargs: Any) -> Outcome:
        return await self.rec.wait_exited(self.launch(fn, *args, placement=placement, **kwargs))

    async def value(self, fn: Callable[..., Any], *args: Any, placement: Placement = CORE0,
                    **kwargs: Any) -> Any:
        outcome = await self.call(fn, *args, placement=placement, **kwargs)
        assert outcome.failure is None, outcome.failure
        return outcome.value


def run(body: Callable[[Fixture], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            backend = FunctionBackend(Path(tmp) / "workers", **options)
            rec = Recorder()
            await asyncio.wait_for(backend.start(rec), TIMEOUT)
            try:
                await body(Fixture(backend, rec, Path(tmp) / "workers"))
            finally:
                await asyncio.wait_for(backend.shutdown(), TIMEOUT)

    asyncio.run(main())


class Channel:
    """A Unix socket a task can write a line to, so a test knows what the task is doing."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="tdm")  # short: AF_UNIX paths are short
        self.path = os.path.join(self._dir.name, "s")
        self._queue: asyncio.Queue[str] = asyncio.Queue()

    async def __aenter__(self) -> Channel:
        self._server = await asyncio.start_unix_server(self._handle, path=self.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()
        self._dir.cleanup()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._queue.put_nowait((await reader.read()).decode())
        writer.close()

    async def get(self) -> str:
        return await asyncio.wait_for(self._queue.get(), TIMEOUT)


def notify(path: str, text: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(text.encode())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_gone(pid: int) -> None:
    """Wait (event-driven, through a pidfd) until process ``pid`` has exited."""
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    gone = loop.create_future()
    loop.add_reader(fd, lambda: gone.done() or gone.set_result(None))
    try:
        await asyncio.wait_for(gone, TIMEOUT)
    finally:
        loop.remove_reader(fd)
        os.close(fd)


# ------------------------------------------------------------- functions run in the workers

_COUNTER = [0]


def add(a: int, b: int, *, scale: int = 1) -> int:
    return (a + b) * scale


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0.01)
    return a + b


def fail() -> None:
    raise ValueError("boom")


def allowed_cpus() -> str:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    raise AssertionError("no Cpus_allowed_list")


def environment(name: str) -> str | None:
    return os.environ.get(name)


def bump() -> tuple[int, int]:
    _COUNTER[0] += 1
    return _COUNTER[0], os.getpid()


def exit_hard() -> None:
    os._exit(3)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def segfault() -> None:
    ctypes.string_at(0)


def sleep_forever(path: str) -> None:
    notify(path, str(os.getpid()))
    time.sleep(100)


def sleep_with_child(path: str) -> None:
    child = subprocess.Popen(["sleep", "100"])
    notify(path, f"{os.getpid()} {child.pid}")
    time.sleep(100)


def ignore_sigterm(path: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    notify(path, str(os.getpid()))
    time.sleep(100)


def return_lock() -> threading.Lock:
    return threading.Lock()


def reverse(data: bytes) -> bytes:
    return data[::-1]


def say(text: str) -> None:
    print(text)


# --------------------------------------------------------------------------------- results


def test_result_value() -> None:
    async def body(f: Fixture) -> None:
        assert await f.value(add, 2, 3) == 5
        assert await f.value(add, 2, 3, scale=10) == 50
        assert await f.value(add, [1], [2]) == [1, 2]  # non-scalar arguments go by cloudpickle
        tid = f.launch(add, 1, 1)
        await f.rec.wait_exited(tid)
        assert f.rec.events.index(("started", tid)) < f.rec.events.index(("exited", tid))

    run(body)


def test_lambdas_and_closures() -> None:
    offset = 40

    def closure(x: int) -> int:
        return x + offset

    async def body(f: Fixture) -> None:
        assert await f.value(lambda x: x * 2, 21) == 42
        assert await f.value(closure, 2) == 42
        assert await f.value(closure, 3) == 43  # cached function, sent once per worker

    run(body)


def test_async_function() -> None:
    async def body(f: Fixture) -> None:
        assert await f.value(async_add, 40, 2) == 42
        assert await f.value(async_add, 1, 2) == 3  # the worker's loop is reused

    run(body)


def test_exception_carries_remote_traceback() -> None:
    async def body(f: Fixture) -> None:
        outcome = await f.call(fail)
        failure = outcome.failure
        assert failure is not None
        assert failure.kind is FailureKind.EXCEPTION
        assert failure.message == f"t{outcome.task_id}: ValueError: boom"
        assert 'raise ValueError("boom")' in failure.traceback
        assert await f.value(add, 1, 1) == 2  # the worker goes on

    run(body)


def test_unpicklable_argument_is_a_launch_failure() -> None:
    async def body(f: Fixture) -> None:
        outcome = await f.call(add, threading.Lock(), 1)
        assert outcome.failure is not None
        assert outcome.failure.kind is FailureKind.LAUNCH
        assert outcome.failure.message.startswith(f"t{outcome.task_id}: ")
        assert "lock" in outcome.failure.message
        assert ("started", outcome.task_id) not in f.rec.events

    run(body)


def test_unpicklable_result_is_an_exception_failure() -> None:
    async def body(f: Fixture) -> None:
        outcome = await f.call(return_lock)
        assert outcome.failure is not None
        assert outcome.failure.kind is FailureKind.EXCEPTION
        assert "could not be pickled" in outcome.failure.message
        assert await f.value(add, 1, 1) == 2

    run(body)


def test_large_arguments_and_results() -> None:
    big = os.urandom(8 << 20)  # far more than a pipe holds: partial writes, partial frames

    async def body(f: Fixture) -> None:
        assert await f.value(reverse, big) == big[::-1]
        assert await f.value(reverse, b"ab") == b"ba"

    run(body)


def test_stdout_goes_to_the_worker_log() -> None:
    async def body(f: Fixture) -> None:
        await f.value(say, "hello from a task")
        logs = [p.read_text() for p in f.log_dir.glob("worker-*.out")]
        assert any("hello from a task" in text for text in logs)

    run(body)


def test_executable_work_is_refused() -> None:
    async def body(f: Fixture) -> None:
        assert not f.backend.accepts(Executable(argv=("true",)))
        assert f.backend.accepts(FunctionCall(fn=add))
        f.backend.launch(LaunchRequest(task_id=99, name="exe", kind="task",
                                       work=Executable(argv=("true",)), placement=CORE0,
                                       workdir="/nonexistent"))
        outcome = await f.rec.wait_exited(99)
        assert outcome.failure is not None and outcome.failure.kind is FailureKind.LAUNCH

    run(body)


def _fail_on_load() -> None:  # called when a worker unpickles an Unloadable
    raise ImportError("cannot load me here")


class Unloadable:
    def __call__(self) -> int:
        return 1

    def __reduce__(self) -> tuple[Any, ...]:
        return (_fail_on_load, ())


def test_function_that_cannot_be_unpickled_in_the_worker() -> None:
    async def body(f: Fixture) -> None:
        fn = Unloadable()
        for _ in range(2):  # the second call, without the function's bytes, fails the same way
            outcome = await f.call(fn)
            assert outcome.failure is not None
            assert outcome.failure.kind is FailureKind.LAUNCH
            assert "could not unpickle the function" in outcome.failure.message
            assert "cannot load me here" in outcome.failure.message
        assert await f.value(add, 1, 2) == 3

    run(body, prespawn=1)


def test_function_is_pickled_once() -> None:
    pickled = [0]

    class Counted:
        def __call__(self) -> int:
            return 7

        def __reduce__(self) -> tuple[Any, ...]:
            pickled[0] += 1
            return (functools.partial, (int, "7"))  # the worker calls int("7")

    fn = Counted()

    async def body(f: Fixture) -> None:
        for _ in range(3):
            assert await f.value(fn) == 7
        assert pickled[0] == 1

    run(body)


# ------------------------------------------------------------------------------- placement


def test_pinning_is_exact() -> None:
    async def body(f: Fixture) -> None:
        assert await f.value(allowed_cpus, placement=CORE1) == "1"
        assert await f.value(allowed_cpus, placement=CORES01) == "0-1"
        assert await f.value(allowed_cpus, placement=CORE0) == "0"
        assert await f.value(environment, "OMP_NUM_THREADS", placement=CORES01) == "2"
        assert await f.value(environment, "TANDEM_CORES", placement=CORE1) == "1"

    run(body)


def test_gpu_visibility_is_exact() -> None:
    async def body(f: Fixture) -> None:
        assert await f.value(environment, "CUDA_VISIBLE_DEVICES", placement=GPU1) == "1"
        assert await f.value(environment, "TANDEM_GPUS", placement=GPU1) == "1"
        for _ in range(3):  # CPU-only tasks, on whichever (reused) worker
            assert await f.value(environment, "CUDA_VISIBLE_DEVICES", placement=CORE0) == ""
        assert await f.value(environment, "CUDA_VISIBLE_DEVICES", placement=GPU1) == "1"
        # a GPU-only task gets every core its worker was allowed at start (as this process)
        assert await f.value(allowed_cpus, placement=GPU1_ONLY) == allowed_cpus()
        assert await f.value(allowed_cpus, placement=GPU1) == "0"

    run(body, prespawn=1)


def test_pinning_to_a_missing_core_is_a_launch_failure() -> None:
    async def body(f: Fixture) -> None:
        outcome = await f.call(add, 1, 2, placement=NO_SUCH_CORE)
        assert outcome.failure is not None
        assert outcome.failure.kind is FailureKind.LAUNCH
        assert "could not pin" in outcome.failure.message
        assert await f.value(allowed_cpus, placement=CORE1) == "1"  # the worker goes on

    run(body, prespawn=1)


def test_task_id_is_in_the_environment() -> None:
    async def body(f: Fixture) -> None:
        outcome = await f.call(environment, "TANDEM_TASK_ID")
        assert outcome.value == str(outcome.task_id)

    run(body)


def test_warm_worker_keeps_module_state() -> None:
    async def body(f: Fixture) -> None:
        n1, pid1 = await f.value(bump, placement=CORE1)
        n2, pid2 = await f.value(bump, placement=CORE1)
        assert pid1 == pid2
        assert n2 == n1 + 1

    run(body)


def test_idle_workers_are_capped() -> None:
    async def body(f: Fixture) -> None:
        cpu_pids = f.backend.worker_pids()  # the two prespawned CPU workers
        assert len(cpu_pids) == 2
        gpu_pid = await f.value(os.getpid, placement=GPU1)  # a third idle worker: too many
        waits = [asyncio.ensure_future(wait_gone(pid)) for pid in cpu_pids]
        done, pending = await asyncio.wait(waits, timeout=TIMEOUT,
                                           return_when=asyncio.FIRST_COMPLETED)
        for w in pending:
            w.cancel()
        assert len(done) == 1  # the longest idle worker of another GPU set was retired
        assert await f.value(os.getpid, placement=GPU1) == gpu_pid
        assert await f.value(add, 1, 1, placement=CORE1) == 2

    run(body, max_idle=2)


# ---------------------------------------------------------------------------- worker death


@pytest.mark.parametrize(("fn", "exit_code", "sig"), [
    (exit_hard, 3, None),
    (kill_self, None, signal.SIGKILL),
    (segfault, None, signal.SIGSEGV),
])
def test_worker_death_fails_only_that_task(fn: Callable[[], None], exit_code: int | None,
                                           sig: int | None) -> None:
    async def body(f: Fixture) -> None:
        async with Channel() as ch:
            other = f.launch(sleep_forever, ch.path, placement=CORE1)
            other_pid = int(await ch.get())
            outcome = await f.call(fn, placement=CORE0)
            failure = outcome.failure
            assert failure is not None
            assert failure.kind is FailureKind.WORKER_DIED
            assert failure.message.startswith(f"t{outcome.task_id}: ")
            assert failure.exit_code == exit_code
            assert failure.signal == sig
            if sig == signal.SIGSEGV:
                assert "Segmentation fault" in failure.stderr_tail
            assert await f.value(add, 1, 2, placement=CORE0) == 3  # a new worker runs it
            assert alive(other_pid)
            assert f.backend.worker_pid(other) == other_pid
            f.backend.kill(other)
            assert (await f.rec.wait_exited(other)).failure.kind is FailureKind.SIGNAL

    run(body)


# ----------------------------------------------------------------------------------- kill


def test_kill_ends_the_worker() -> None:
    async def body(f: Fixture) -> None:
        async with Channel() as ch:
            tid = f.launch(sleep_forever, ch.path)
            pid = int(await ch.get())
            f.backend.kill(tid)
            outcome = await f.rec.wait_exited(tid)
            assert outcome.failure is not None
            assert outcome.failure.kind is FailureKind.SIGNAL
            assert outcome.failure.signal == signal.SIGTERM
            assert not alive(pid)
            assert pid not in f.backend.worker_pids()
            f.backend.kill(tid)  # already ended: nothing happens
            f.backend.kill(12345)  # unknown
            assert await f.value(add, 1, 2) == 3

    run(body)


def test_kill_ends_the_functions_children() -> None:
    async def body(f: Fixture) -> None:
        async with Channel() as ch:
            tid = f.launch(sleep_with_child, ch.path)
            pid, child = map(int, (await ch.get()).split())
            f.backend.kill(tid)
            outcome = await f.rec.wait_exited(tid)
            assert outcome.failure is not None and outcome.failure.kind is FailureKind.SIGNAL
            assert not alive(pid)
            await wait_gone(child)

    run(body)


def test_kill_escalates_to_sigkill_after_the_grace() -> None:
    async def body(f: Fixture) -> None:
        async with Channel() as ch:
            tid = f.launch(ignore_sigterm, ch.path)
            pid = int(await ch.get())
            f.backend.kill(tid)
            outcome = await f.rec.wait_exited(tid)
            assert outcome.failure is not None
            assert outcome.failure.kind is FailureKind.SIGNAL
            assert outcome.failure.signal == signal.SIGKILL
            assert not alive(pid)

    run(body, kill_grace=0.3)


def test_kill_of_a_task_queued_on_a_starting_worker() -> None:
    async def body(f: Fixture) -> None:
        tid = f.launch(add, 1, 2, placement=GPU1)  # no worker for this GPU set yet
        f.backend.kill(tid)
        outcome = await f.rec.wait_exited(tid)
        assert outcome.failure is not None and outcome.failure.kind is FailureKind.SIGNAL
        assert ("started", tid) not in f.rec.events
        assert await f.value(add, 2, 2, placement=GPU1) == 4

    run(body)


# ------------------------------------------------------------------------------- shutdown

_CRASHING_MAIN = """
import asyncio, os, signal, sys
from tandem.backends.framing import FrameReader, frame
from tandem.backends.functions import FunctionBackend

class Reporter:
    def started(self, task_id): pass
    def exited(self, outcome): pass

async def main():
    backend = FunctionBackend(sys.argv[1], prespawn=2)
    await backend.start(Reporter())
    print(" ".join(map(str, backend.worker_pids())), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def test_workers_do_not_outlive_a_crashed_main_process() -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _CRASHING_MAIN, tmp, stdout=asyncio.subprocess.PIPE)
            out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
            assert proc.returncode == -signal.SIGKILL
            pids = [int(p) for p in out.split()]
            assert len(pids) == 2
            for pid in pids:
                await wait_gone(pid)

    asyncio.run(main())



def test_shutdown_leaves_no_worker_alive() -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            backend = FunctionBackend(Path(tmp) / "workers", kill_grace=0.5)
            rec = Recorder()
            await asyncio.wait_for(backend.start(rec), TIMEOUT)
            f = Fixture(backend, rec, Path(tmp) / "workers")
            async with Channel() as ch:
                busy = f.launch(sleep_with_child, ch.path, placement=CORE1)
                _, child = map(int, (await ch.get()).split())
                assert await f.value(add, 1, 2, placement=GPU1) == 3
                pids = backend.worker_pids()
                assert len(pids) >= 3
                await asyncio.wait_for(backend.shutdown(), TIMEOUT)
            assert backend.worker_pids() == []
            assert not any(alive(pid) for pid in pids)
            await wait_gone(child)
            outcome = await rec.wait_exited(busy)
            assert outcome.failure is not None
            assert outcome.failure.kind is FailureKind.CANCELLED
            assert (Path(tmp) / "workers" / "worker-1.err").exists()

    asyncio.run(main())


# ----------------------------------------------------------------------------- randomised


def test_frame_reader_reassembles_any_split() -> None:
    bodies = [b"", b"x", os.urandom(100), os.urandom(70_000)]
    stream = b"".join(frame(body) for body in bodies)
    rnd = random.Random(3)
    for _ in range(50):
        reader = FrameReader()
        got: list[bytes] = []
        pos = 0
        while pos < len(stream):
            step = rnd.choice([1, 3, 8, 9, 1000, 65536, len(stream)])
            got.extend(bytes(b) for b in reader.feed(stream[pos:pos + step]))
            pos += step
        assert got == bodies


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


async def anap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


def test_random_mix_every_task_exits_once() -> None:
    """Results, exceptions, deaths and kills on mixed placements with few idle workers: every
    task is reported exactly once, started before exited, and nothing is left behind."""
    rnd = random.Random(7)
    placements = [CORE0, CORE1, CORES01, GPU1, GPU1_ONLY,
                  Placement(slots=(Slot(node="local", cores=(1,), gpus=("0",)),))]
    errors: list[dict[str, Any]] = []

    async def body(f: Fixture) -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: errors.append(ctx))
        expect: dict[int, str] = {}
        for _ in range(60):
            r = rnd.random()
            fn, args, kind = ((add, (1, 2), "ok") if r < 0.4 else
                              (nap, (rnd.random() / 50,), "ok") if r < 0.6 else
                              (anap, (rnd.random() / 50,), "ok") if r < 0.75 else
                              (fail, (), "exception") if r < 0.9 else
                              (exit_hard, (), "died"))
            tid = f.launch(fn, *args, placement=rnd.choice(placements))
            expect[tid] = kind
            if rnd.random() < 0.15:
                victim = rnd.choice(list(expect))
                f.backend.kill(victim)
                expect[victim] = "killed?"
            if rnd.random() < 0.5:
                await asyncio.sleep(0)
        for tid, kind in expect.items():
            failure = (await f.rec.wait_exited(tid)).failure
            if kind == "ok":
                assert failure is None
            elif kind == "exception":
                assert failure is not None and failure.kind is FailureKind.EXCEPTION
            elif kind == "died":
                assert failure is not None and failure.kind is FailureKind.WORKER_DIED
        exited = [tid for event, tid in f.rec.events if event == "exited"]
        assert sorted(exited) == sorted(expect)
        for tid in exited:
            if ("started", tid) in f.rec.events:
                assert f.rec.events.index(("started", tid)) < f.rec.events.index(("exited", tid))
        assert not errors

    run(body, max_idle=1, kill_grace=0.3)


@pytest.mark.parametrize(("option", "value"), [
    ("prespawn", -1), ("prespawn", True), ("max_idle", 1.5), ("kill_grace", -0.1),
    ("start_timeout", 0),
])
def test_options_are_checked(tmp_path: Path, option: str, value: object) -> None:
    from tandem.errors import SpecError

    with pytest.raises(SpecError, match=f"FunctionBackend: {option}"):
        FunctionBackend(tmp_path, **{option: value})  # type: ignore[arg-type]


def two_megabytes() -> bytes:
    return b"x" * 2_000_000


def test_a_worker_that_cannot_see_the_kept_results_directory_sends_values() -> None:
    """A worker on another host (here: a directory that does not exist for it) keeps nothing:
    the result comes by value, whatever its size."""
    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            backend = FunctionBackend(Path(tmp) / "workers")
            assert backend.keep_results(str(Path(tmp) / "not-here"), 0)
            rec = Recorder()
            await asyncio.wait_for(backend.start(rec), TIMEOUT)
            try:
                value = await Fixture(backend, rec, Path(tmp) / "workers").value(two_megabytes)
                assert type(value) is bytes and value == two_megabytes()
                assert backend.received_bytes > 2_000_000
            finally:
                await asyncio.wait_for(backend.shutdown(), TIMEOUT)

    asyncio.run(main())
