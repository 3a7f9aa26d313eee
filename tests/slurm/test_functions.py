"""Function tasks on every node of a real allocation (the test cluster's n1, n2): warm workers
started as job steps, connected back to the driver over TCP on 127.0.0.1.

Each task reads back where it ran (``SLURMD_NODENAME``, its affinity mask, its
``CUDA_VISIBLE_DEVICES``) and the test compares that with the placement tandem's core chose.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from tandem import Platform, Resources, TaskCancelled, TaskFailed, open_session
from tandem.backends.framing import hello
from tandem.backends.functions import FunctionBackend
from tandem.backends.srun import Srun
from tandem.runtime.session import Session
from tandem.spec.platform import Node

TIMEOUT = 120.0


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 240))


@asynccontextmanager
async def session(tmp_path: Path, platform: Platform | None = None, **options: Any
                  ) -> AsyncIterator[tuple[Session, FunctionBackend]]:
    platform = platform or Platform.from_slurm()
    options.setdefault("kill_grace", 5.0)
    backend = FunctionBackend(tmp_path / "workers", launcher=Srun.of(platform),
                              driver_address="127.0.0.1", **options)
    async with open_session(platform, run_dir=tmp_path, backends=[backend]) as s:
        yield s, backend


class Barrier:
    """A Unix socket that holds every task connecting to it until ``parties`` have, so that
    that many tasks are known to run at once (both "nodes" are this host)."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self._dir = tempfile.TemporaryDirectory(prefix="tdm")  # AF_UNIX paths are short
        self.path = os.path.join(self._dir.name, "b")
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Barrier:
        self._server = await asyncio.start_unix_server(self._join, path=self.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        self._dir.cleanup()

    async def _join(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if len(self._writers) == self.parties:
            for w in self._writers:
                w.write(b"go")
                await w.drain()
                w.close()


class Channel:
    """A Unix socket a task writes one line to (its pid), so the test knows it is running."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="tdm")
        self.path = os.path.join(self._dir.name, "c")
        self._queue: asyncio.Queue[str] = asyncio.Queue()

    async def __aenter__(self) -> Channel:
        self._server = await asyncio.start_unix_server(self._handle, path=self.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        self._dir.cleanup()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._queue.put_nowait((await reader.read()).decode())
        writer.close()

    async def get(self) -> str:
        return await asyncio.wait_for(self._queue.get(), TIMEOUT)


# ------------------------------------------------------------- functions run in the workers

Where = tuple[str, list[int], str | None, int]


def where() -> Where:
    return (os.environ["SLURMD_NODENAME"], sorted(os.sched_getaffinity(0)),
            os.environ.get("CUDA_VISIBLE_DEVICES"), os.getpid())


def where_after(barrier: str) -> Where:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(barrier)
        assert s.recv(2) == b"go"
    return where()


def fail_remotely(text: str) -> None:
    raise ValueError(text)


def die_by_signal() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def sleep_forever(channel: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(channel)
        s.sendall(str(os.getpid()).encode())
    import time

    time.sleep(1000)


def cut_connection(channel: str) -> None:
    """Shut the worker's TCP connection to the driver down, then stay alive."""
    for name in os.listdir("/proc/self/fd"):
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        with sock:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.shutdown(socket.SHUT_RDWR)
    sleep_forever(channel)


def say(text: str) -> str:
    print(text, flush=True)
    return os.environ["SLURMD_NODENAME"]


# ------------------------------------------------------------------------------------ tests


def expected(f: Any) -> tuple[str, list[int], str]:
    slot = f.record.placement.slots[0]
    return slot.node, sorted(slot.cores), ",".join(slot.gpus)


def test_calls_run_on_their_placed_node_cores_and_gpus(in_job: str, tmp_path: Path) -> None:
    """Four calls that must run at once fill both nodes (one core and one GPU each)."""
    async def main() -> tuple[list[tuple[Any, Where]], list[int]]:
        async with Barrier(4) as barrier, session(tmp_path, prespawn=0) as (s, backend):
            fs = [s.submit(where_after, barrier.path, resources=Resources(cores=1, gpus=1),
                           name=f"where{i}") for i in range(4)]
            seen = [(expected(f), await f) for f in fs]
            leaders = backend.worker_pids()
        return seen, leaders

    seen, leaders = run(main())
    for want, (node, cores, gpus, _) in seen:
        assert (node, cores, gpus) == want
    assert {w[0] for w, _ in seen} == {"n1", "n2"}
    assert len({(w[0], tuple(w[1])) for w, _ in seen}) == 4   # every core of both nodes
    pids = [r[3] for _, r in seen] + leaders
    assert leaders and not [p for p in pids if psutil.pid_exists(p)]   # none outlives it


def test_calls_without_gpus_see_none_and_cores_change_per_call(in_job: str,
                                                               tmp_path: Path) -> None:
    async def main() -> list[tuple[Any, Where]]:
        async with Barrier(2) as barrier, session(tmp_path, prespawn=1) as (s, _):
            fs = [s.submit(where_after, barrier.path, cores=2, name=f"wide{i}")
                  for i in range(2)]
            out = [(expected(f), await f) for f in fs]
            f = s.submit(where, cores=1, name="narrow")
            out.append((expected(f), await f))
            return out

    seen = run(main())
    for want, (node, cores, gpus, _) in seen:
        assert (node, cores, gpus or "") == want
    assert {w[0] for w, _ in seen[:2]} == {"n1", "n2"}
    assert len(seen[2][1][1]) == 1


def test_a_remote_exception_comes_back_with_its_traceback(in_job: str,
                                                          tmp_path: Path) -> None:
    async def main() -> TaskFailed:
        async with session(tmp_path, prespawn=0) as (s, _):
            f = s.submit(fail_remotely, "bad input on the node", name="raiser")
            with pytest.raises(TaskFailed) as info:
                await f
            return info.value

    err = run(main())
    assert "ValueError: bad input on the node" in str(err)
    assert "fail_remotely" in err.remote_traceback
    assert "raise ValueError(text)" in err.remote_traceback


def test_a_warm_worker_is_reused_on_its_node(in_job: str, tmp_path: Path) -> None:
    platform = Platform(nodes=(Node(name="n2", cores=(0, 1), gpus=("0", "1")),),
                        slurm_job=in_job, name="n2")

    async def main() -> list[Where]:
        async with session(tmp_path, platform, prespawn=0) as (s, _):
            first = await s.submit(where, cores=1, gpus=1, name="first")
            second = await s.submit(where, cores=1, gpus=1, name="second")
            return [first, second]

    first, second = run(main())
    assert first[0] == second[0] == "n2"
    assert first[2] == second[2]
    assert first[3] == second[3]          # the same worker process ran both


def test_a_worker_killed_on_its_node_fails_only_its_task(in_job: str, tmp_path: Path) -> None:
    async def main() -> tuple[TaskFailed, Where]:
        async with session(tmp_path, prespawn=0) as (s, _):
            with pytest.raises(TaskFailed) as info:
                await s.submit(die_by_signal, name="doomed")
            return info.value, await s.submit(where, name="after")

    err, after = run(main())
    assert err.signal == signal.SIGKILL
    assert "its worker on node" in str(err) and "died" in str(err)
    assert after[0] in ("n1", "n2")


def test_a_worker_step_slurm_refuses_fails_its_task_with_slurm_s_words(
        in_job: str, tmp_path: Path) -> None:
    platform = Platform.from_slurm()
    wrong = Srun(job_id="999999", nodes=[n.name for n in platform.nodes])

    async def main() -> TaskFailed:
        backend = FunctionBackend(tmp_path / "workers", launcher=wrong, prespawn=0,
                                  driver_address="127.0.0.1")
        async with open_session(platform, run_dir=tmp_path, backends=[backend]) as s:
            with pytest.raises(TaskFailed) as info:
                await s.submit(where, name="nowhere")
            return info.value

    err = run(main())
    assert "its worker step on node" in str(err) and "did not start" in str(err)
    assert "999999" in err.stderr_tail


def test_cancel_of_a_running_remote_call_ends_its_worker(in_job: str, tmp_path: Path) -> None:
    async def main() -> tuple[int, bool]:
        async with Channel() as channel, session(tmp_path, prespawn=0) as (s, _):
            f = s.submit(sleep_forever, channel.path, name="sleeper")
            pid = int(await channel.get())
            assert psutil.pid_exists(pid)
            s.cancel(f)
            with pytest.raises(TaskCancelled):
                await f
            return pid, psutil.pid_exists(pid)

    pid, alive = run(main())
    assert not alive
    assert not psutil.pid_exists(pid)


def test_a_worker_that_lost_its_connection_fails_its_task_and_its_step_is_ended(
        in_job: str, tmp_path: Path) -> None:
    async def main() -> tuple[TaskFailed, int, Where]:
        async with Channel() as channel, session(tmp_path, prespawn=0, kill_grace=1.0) as (
                s, _):
            f = s.submit(cut_connection, channel.path, name="cut")
            pid = int(await channel.get())
            with pytest.raises(TaskFailed) as info:
                await f
            return info.value, pid, await s.submit(where, name="after")

    err, pid, after = run(main())
    assert "lost its connection to the driver" in str(err)
    assert not psutil.pid_exists(pid)
    assert after[3] != pid


def test_default_workers_connect_to_the_address_in_the_environment_and_print_to_their_logs(
        in_job: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_DRIVER_ADDRESS", "127.0.0.1")
    platform = Platform.from_slurm()

    async def main() -> tuple[list[str], tuple[str, int] | None, int]:
        backend = FunctionBackend(tmp_path / "workers", launcher=Srun.of(platform))
        async with open_session(platform, run_dir=tmp_path, backends=[backend]) as s:
            prespawned = len(backend.worker_pids())
            fs = [s.submit(say, f"printed by task {i}", cores=1, name=f"say{i}")
                  for i in range(2)]
            return [await f for f in fs], backend.listen_address, prespawned

    nodes, address, prespawned = run(main())
    assert address is not None and address[0] == "127.0.0.1"
    started = sorted((tmp_path / "workers").glob("worker-*.out"))
    assert prespawned and len(started) >= len(os.sched_getaffinity(0)) * 2  # a core, a node
    logs = "".join(p.read_text() for p in started)
    assert "printed by task 0" in logs and "printed by task 1" in logs
    assert set(nodes) <= {"n1", "n2"}


def test_a_connection_with_a_wrong_token_is_refused(in_job: str, tmp_path: Path) -> None:
    async def refused(address: tuple[str, int], data: bytes, eof: bool = False) -> bytes:
        reader, writer = await asyncio.open_connection(*address)
        writer.write(data)
        await writer.drain()
        if eof:
            writer.write_eof()
        try:   # b"" (or a reset, when it sent more than the driver read): closed by the driver
            got = await asyncio.wait_for(reader.read(), TIMEOUT)
        except ConnectionResetError:
            got = b""
        writer.close()
        return got

    async def main() -> tuple[list[bytes], Where]:
        async with session(tmp_path, prespawn=1) as (s, backend):
            address = backend.listen_address
            assert address is not None and address[0] == "127.0.0.1"
            answers = [await refused(address, hello("0" * 64, 1)),
                       await refused(address, hello("0" * 64, 1)[:10], eof=True),
                       await refused(address, b"\x00" * 200)]
            return answers, await s.submit(where, name="still-works")

    answers, result = run(main())
    assert answers == [b"", b"", b""]
    assert result[0] in ("n1", "n2")


def test_the_backend_on_an_allocation_is_not_steerable(in_job: str, tmp_path: Path) -> None:
    platform = Platform.from_slurm()
    backend = FunctionBackend(tmp_path, launcher=Srun.of(platform))
    assert not backend.steerable
    assert FunctionBackend(tmp_path).steerable
    assert backend.unreachable(platform) is None
    outside = Platform(nodes=(Node(name="n9", cores=(0,)),), slurm_job=in_job)
    why = backend.unreachable(outside)
    assert why is not None and "n9" in why

