"""Tests of the parts of node workers that need no allocation: the driver's address, the step
line and environment of a worker, the handshake the listening socket enforces, and a real
worker process in ``--connect`` mode speaking the framing over TCP. (Workers started as real
job steps: tests/slurm/test_functions.py.)"""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tandem.backends.framing import (
    HELLO,
    HELLO_SIZE,
    INIT,
    OK,
    PROTOCOL,
    READY,
    FrameReader,
    frame,
    hello,
)
from tandem.backends.node_workers import ADDRESS_VAR, NodeWorkers, driver_address
from tandem.backends.srun import Srun
from tandem.errors import BackendError

TIMEOUT = 60.0
SRC = str(Path(__file__).resolve().parents[2] / "src")


def launcher() -> Srun:
    return Srun(job_id="77", nodes=("n1", "n2"))


# ------------------------------------------------------------- functions run in the worker

def where_and_secret(text: str) -> tuple[list[int], str | None, str | None]:
    print(text, flush=True)   # to the worker's stdout, not to the connection
    return (sorted(os.sched_getaffinity(0)), os.environ.get("TANDEM_WORKER_TOKEN"),
            os.environ.get("TANDEM_TASK_ID"))


# ---------------------------------------------------------------------------------- address

def test_the_driver_address_is_the_argument_then_the_variable_then_the_host_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADDRESS_VAR, "10.1.2.3")
    assert driver_address("10.9.9.9") == "10.9.9.9"
    assert driver_address() == "10.1.2.3"
    monkeypatch.delenv(ADDRESS_VAR)
    assert driver_address() == socket.gethostbyname(socket.gethostname())


def test_an_address_that_is_not_this_host_s_says_what_to_set(tmp_path: Path) -> None:
    async def main() -> None:
        nodes = NodeWorkers(launcher(), tmp_path, address="192.0.2.1")   # TEST-NET-1
        with pytest.raises(BackendError, match=ADDRESS_VAR):
            nodes.open(asyncio.get_running_loop())

    asyncio.run(main())


# -------------------------------------------------------------------------------- the step

def test_a_worker_step_runs_on_its_node_with_its_gpus_and_the_token_only_in_its_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_NNODES", "2")
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/x.conf")

    async def main() -> tuple[tuple[str, ...], dict[str, str], tuple[str, int], str]:
        nodes = NodeWorkers(launcher(), tmp_path, address="127.0.0.1")
        nodes.open(asyncio.get_running_loop())
        try:
            assert nodes.address is not None
            argv, env = nodes.command(5, "n2", ("1",))
            return argv, env, nodes.address, nodes.token
        finally:
            nodes.close()

    argv, env, (host, port), token = asyncio.run(main())
    assert argv[:10] == ("srun", "--jobid=77", "--overlap", "--job-name=tandem-worker-5",
                         "-N", "1", "-n", "1", "-w", "n2")
    assert "--cpu-bind=none" in argv            # the worker pins each call itself
    assert argv[-6:] == (sys.executable, "-m", "tandem.backends.worker", "--connect",
                         f"{host}:{port}", "5")
    assert host == "127.0.0.1"
    assert token not in " ".join(argv)          # never on a command line
    assert env["TANDEM_WORKER_TOKEN"] == token and len(token) == 64
    assert env["TANDEM_RANK_GPUS_0"] == "1"     # the wrapper's CUDA_VISIBLE_DEVICES
    assert "SLURM_JOB_ID" not in env and "SLURM_NNODES" not in env
    assert env["SLURM_CONF"] == "/etc/slurm/x.conf"
    assert SRC in env["PYTHONPATH"].split(os.pathsep)


def test_prespawned_workers_are_cpu_workers_on_every_node(tmp_path: Path) -> None:
    nodes = NodeWorkers(launcher(), tmp_path)
    assert nodes.prespawn_keys(2) == [("n1", ()), ("n1", ()), ("n2", ()), ("n2", ())]


# ------------------------------------------------------------------------------ handshake

async def _closed_by_driver(address: tuple[str, int], data: bytes, *, eof: bool) -> bool:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(data)
    await writer.drain()
    if eof:
        writer.write_eof()
    try:
        got = await asyncio.wait_for(reader.read(), TIMEOUT)
    except ConnectionResetError:
        got = b""
    writer.close()
    return got == b""


def test_connections_that_do_not_introduce_a_waiting_worker_are_closed(tmp_path: Path) -> None:
    async def main() -> list[bool]:
        nodes = NodeWorkers(launcher(), tmp_path, address="127.0.0.1", hello_timeout=0.5)
        nodes.open(asyncio.get_running_loop())
        assert nodes.address is not None
        try:
            return [
                await _closed_by_driver(nodes.address, hello("f" * 64, 1), eof=False),
                await _closed_by_driver(nodes.address, hello(nodes.token, 1), eof=False),
                await _closed_by_driver(nodes.address, hello(nodes.token, 1)[:9], eof=True),
                await _closed_by_driver(nodes.address, b"", eof=False),  # silent: timed out
            ]
        finally:
            nodes.close()

    # wrong token; right token but no worker 1 was spawned; a partial hello; nothing at all
    assert asyncio.run(main()) == [True, True, True, True]


def test_close_stops_listening(tmp_path: Path) -> None:
    async def main() -> tuple[str, int]:
        nodes = NodeWorkers(launcher(), tmp_path, address="127.0.0.1")
        nodes.open(asyncio.get_running_loop())
        assert nodes.address is not None
        nodes.close()
        return nodes.address

    address = asyncio.run(main())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=TIMEOUT).close()


# ------------------------------------------------------------------ a worker that connects

def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        assert chunk, "the worker closed its connection"
        data += chunk
    return data


def _next(conn: socket.socket, reader: FrameReader, ready: list[bytes | bytearray]) -> object:
    while not ready:
        chunk = conn.recv(1 << 16)
        assert chunk, "the worker closed its connection"
        ready.extend(reader.feed(chunk))
    return pickle.loads(ready.pop(0))


def test_a_worker_in_connect_mode_speaks_the_framing_over_tcp() -> None:
    token = "a" * 64
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(TIMEOUT)
        port = server.getsockname()[1]
        env = {**os.environ, "TANDEM_WORKER_TOKEN": token,
               "PYTHONPATH": os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH"))
                                             if p)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tandem.backends.worker", "--connect", f"127.0.0.1:{port}",
             "42"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        try:
            conn, _ = server.accept()
            conn.settimeout(TIMEOUT)
            with conn:
                assert HELLO.unpack(_recv_exactly(conn, HELLO_SIZE)) == (token.encode(), 42)
                reader, ready = FrameReader(), list[bytes | bytearray]()
                conn.sendall(frame(pickle.dumps((INIT, list(sys.path), None, None), PROTOCOL)))
                assert _next(conn, reader, ready) == (READY, (proc.pid, False))
                fn = pickle.dumps(where_and_secret, PROTOCOL)
                args = pickle.dumps((("printed by the task",), {}), PROTOCOL)
                core = min(os.sched_getaffinity(0))
                conn.sendall(frame(pickle.dumps((7, 1, fn, args, (core,), {"X": "1"}, None),
                                                PROTOCOL)))
                assert _next(conn, reader, ready) == (OK, ([core], None, "7"))
                conn.shutdown(socket.SHUT_WR)   # end of file: the worker exits
                assert conn.recv(1) == b""
            out, _ = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0
    assert out.decode().splitlines() == ["printed by the task"]
