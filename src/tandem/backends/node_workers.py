"""Function workers on the nodes of a Slurm allocation: spawned as job steps, connected back.

Contract: :class:`NodeWorkers` is what :class:`~tandem.backends.functions.FunctionBackend` uses
in place of local pipes when it has an :class:`~tandem.backends.srun.Srun` launcher. It starts
each worker as a long-lived one-rank ``srun`` step on its node
(:func:`~tandem.backends.srun.worker_argv`: ``--overlap --cpu-bind=none``, so the worker may use
every CPU the job holds there and pins each call itself; its GPU set is fixed by the step's
wrapper, which sets ``CUDA_VISIBLE_DEVICES`` after Slurm did) and owns the TCP socket the
workers connect back to. A connection is matched to its step by the worker id it sends after
the session's token; nothing is read from it (nothing unpickled) before both check out.
Imports: tandem.backends.framing, tandem.backends.srun, tandem.backends.worker_handle,
tandem.errors, tandem.spec.

Rules:

- Transport: a step's stdio is line-oriented and shared with the user's prints, so frames go
  over TCP (``framing``'s frames, unchanged) and prints to the step's stdout/stderr (the worker
  log files). The socket listens on :func:`driver_address` only, on a port the kernel picks.
- Authentication: a random token per session (``secrets``), passed to the step in its
  environment (``TANDEM_WORKER_TOKEN``; never on a command line, which ``ps`` shows), compared
  with ``hmac.compare_digest``. A connection with a wrong token, an unknown or already
  connected worker id, or that does not introduce itself within ``hello_timeout`` seconds, is
  closed; the session goes on.
- Event-driven: ``add_reader`` on the listening socket and on each connection being introduced;
  a timer per connection; no threads, no polling.
- Death and kill (what :class:`~tandem.backends.functions.FunctionBackend` does with a
  step): signals go to the step's local ``srun`` (SIGTERM cancels the step: Slurm sends
  SIGTERM, then SIGKILL, to the worker on its node; SIGKILL to ``srun`` after the grace
  period). The worker's task fails ``WORKER_DIED``, with the step's stderr tail, when ``srun``
  exits, or when the connection reaches its end (the step is then ended if it has not ended by
  itself within the grace period). Pause and resume cannot reach a process on another node.
- Environment: the step gets the driver's environment without the allocation's ``SLURM_*``
  variables (:func:`~tandem.backends.srun.task_environ`), plus what a local worker gets
  (:func:`~tandem.backends.worker_handle.worker_env`). The worker runs this interpreter
  (``sys.executable``) and this tandem: both must exist at the same path on every node (a
  shared file system, as for any virtual environment used in a job).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tandem.backends.framing import HELLO, HELLO_SIZE
from tandem.backends.srun import Srun, task_environ, worker_argv
from tandem.backends.worker_handle import WorkerHandle, worker_env
from tandem.errors import BackendError
from tandem.spec.platform import Platform

#: The environment variable that overrides the address workers connect back to.
ADDRESS_VAR = "TANDEM_DRIVER_ADDRESS"


def driver_address(given: str | None = None) -> str:
    """The address of this host that the allocation's nodes reach it at: ``given``, else
    ``$TANDEM_DRIVER_ADDRESS``, else what this host's name resolves to."""
    if given:
        return given
    env = os.environ.get(ADDRESS_VAR)
    if env:
        return env
    return socket.gethostbyname(socket.gethostname())


class _Hello:
    """A connection not yet introduced: what it sent so far, and its deadline."""

    __slots__ = ("buf", "sock", "timer")

    def __init__(self, sock: socket.socket, timer: asyncio.TimerHandle) -> None:
        self.sock = sock
        self.buf = b""
        self.timer = timer


class NodeWorkers:
    """Workers as steps of ``launcher``'s allocation: the listening socket (:meth:`open`) and
    the steps waiting for their worker's connection. A worker's key is ``(node, GPU set)``."""

    def driver_host(self) -> str:
        """The address of this host that the workers connect back to."""
        return driver_address(self._given)

    def __init__(self, launcher: Srun, log_dir: Path, *, address: str | None = None,
                 hello_timeout: float = 120.0) -> None:
        self.launcher = launcher
        self._log_dir = log_dir
        self._given = address
        self._hello_timeout = hello_timeout
        self.token = secrets.token_hex(32)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: socket.socket | None = None
        self.address: tuple[str, int] | None = None
        self._waiting: dict[int, WorkerHandle] = {}   # worker id -> step not connected yet
        self._hellos: dict[socket.socket, _Hello] = {}

    def unreachable(self, platform: Platform) -> str | None:
        return self.launcher.unreachable(platform)

    def prespawn_keys(self, per_node: int) -> list[tuple[Any, ...]]:
        """The keys of ``per_node`` CPU workers on each node."""
        return [(node, ()) for node in sorted(self.launcher.nodes) for _ in range(per_node)]

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Listen (on :func:`driver_address`, a port the kernel picks); a
        :class:`~tandem.errors.BackendError` if that address is not this host's."""
        host = driver_address(self._given)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.bind((host, 0))
            listener.listen(128)
            listener.setblocking(False)
        except OSError as exc:
            listener.close()
            raise BackendError(f"function workers cannot listen on {host!r}: {exc} (set "
                               f"{ADDRESS_VAR} or driver_address= to an address of this host "
                               "that the allocation's nodes reach)") from None
        self._loop = loop
        self._listener = listener
        self.address = (host, listener.getsockname()[1])
        loop.add_reader(listener.fileno(), self._on_accept)

    def command(self, index: int, node: str, gpus: tuple[str, ...]
                ) -> tuple[tuple[str, ...], dict[str, str]]:
        """The ``srun`` argv and the whole environment of worker ``index``'s step."""
        assert self.address is not None, "NodeWorkers.open first"
        host, port = self.address
        connect = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        launcher = self.launcher
        argv, added = worker_argv(
            node, (), gpus,
            (sys.executable, "-m", "tandem.backends.worker", "--connect", connect, str(index)),
            job_id=launcher.job_id, name=f"tandem-worker-{index}", srun=launcher.srun,
            step_wait=launcher.step_wait)
        kept = task_environ(os.environb)
        env = worker_env({os.fsdecode(k): os.fsdecode(v) for k, v in kept.items()}, gpus)
        env.update(added)
        env["TANDEM_WORKER_TOKEN"] = self.token
        return argv, env

    def spawn(self, index: int, key: tuple[Any, ...],
              on_readable: Callable[[WorkerHandle], None],
              on_exit: Callable[[WorkerHandle], None]) -> WorkerHandle:
        """Start worker ``index`` as a step on node ``key[0]`` seeing exactly GPUs ``key[1]``;
        its handle gets its connection when the worker introduces itself."""
        assert self._loop is not None, "NodeWorkers.open first"
        argv, env = self.command(index, key[0], key[1])
        w = WorkerHandle.spawn_step(self._loop, index, key, argv, env, self._log_dir,
                                    on_readable, on_exit)
        self._waiting[index] = w
        return w

    def forget(self, w: WorkerHandle) -> None:
        """``w``'s step has ended: a late connection for it is refused."""
        self._waiting.pop(w.index, None)

    def close(self) -> None:
        """Stop listening and close every connection not introduced yet."""
        if self._listener is not None and self._loop is not None:
            self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        for sock in list(self._hellos):
            self._drop(sock)
        self._waiting.clear()

    # ------------------------------------------------------------------------------ accepting

    def _on_accept(self) -> None:
        loop, listener = self._loop, self._listener
        assert loop is not None and listener is not None
        while True:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of fds, a connection reset before accept: the next one
                return
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            timer = loop.call_later(self._hello_timeout, self._drop, sock)
            self._hellos[sock] = _Hello(sock, timer)
            loop.add_reader(sock.fileno(), self._on_hello, sock)

    def _on_hello(self, sock: socket.socket) -> None:
        hello = self._hellos[sock]
        try:
            data = sock.recv(HELLO_SIZE - len(hello.buf))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock)
            return
        hello.buf += data
        if len(hello.buf) < HELLO_SIZE:
            return
        token, worker_id = HELLO.unpack(hello.buf)
        w = self._waiting.get(worker_id)
        if not hmac.compare_digest(token, self.token.encode("ascii")) or w is None:
            self._drop(sock)
            return
        self._loop.remove_reader(sock.fileno())  # type: ignore[union-attr]
        hello.timer.cancel()
        del self._hellos[sock]
        del self._waiting[worker_id]
        w.attach(sock)

    def _drop(self, sock: socket.socket) -> None:
        hello = self._hellos.pop(sock, None)
        if hello is None:
            return
        hello.timer.cancel()
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(sock.fileno())  # type: ignore[union-attr]
        sock.close()
