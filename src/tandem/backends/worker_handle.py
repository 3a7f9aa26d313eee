"""One function worker process seen from the main process: spawn, pipes, signals, reaping.

Contract: one responsibility, the life of a single ``tandem.backends.worker`` process for
``tandem.backends.functions`` (which decides what runs where), and the states it goes
through (:class:`WorkerState`) and why it is ended (:class:`EndReason`).
Imports: tandem.backends.framing, tandem.backends.memory, tandem.core.values, tandem.guardian.

Rules:

- A local worker is started with ``subprocess.Popen`` in its own process group, talking over
  two ``os.pipe()`` pairs passed with ``pass_fds``; stdout/stderr are appended to
  ``<log_dir>/worker-<n>.out|err``. Its environment fixes its GPU set for its whole life.
- A worker on another node (:meth:`WorkerHandle.spawn_step`) has a leader process here, the
  ``srun`` that runs it as a job step (its stdout/stderr, which carry the worker's, go to the
  same log files; signals go to ``srun``, which passes them to the step), and a transport that
  comes later: the TCP connection the worker opens (:meth:`WorkerHandle.attach`). Frames sent
  before it are queued. Its reads, writes and end of file work as the pipes' do.
- Event-driven: the owner's callbacks are registered with ``add_reader`` on the result pipe and
  on a pidfd that becomes readable when the worker exits (without pidfd, a thread waits
  without reaping). Writes are non-blocking with a pending buffer and ``add_writer``.
- ``reap`` runs once, after the exit: it kills what is left of the process group while the
  zombie still holds the pid (so the signal cannot reach a stranger), then reaps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem import guardian
from tandem.backends.framing import FrameReader
from tandem.core.values import Failure, FailureKind

if TYPE_CHECKING:
    from tandem.backends.memory import TaskMemory

_READ_SIZE = 1 << 16  # a pipe's capacity; larger reads allocate through mmap: slow
_TAIL_BYTES = 8192
_TAIL_LINES = 30
# where this tandem was imported from; a worker gets it on PYTHONPATH (to import the worker
# module before it learns the main process's sys.path), unless it is an installed location
# (putting site-packages before the standard library could shadow stdlib modules)
_SRC = str(Path(__file__).resolve().parents[2])
_SRC_ON_PATH = "" if Path(_SRC).name in ("site-packages", "dist-packages") else _SRC


class WorkerState(enum.Enum):
    """Where a worker is in its life, as its owner sees it; it only moves down this list, except
    that ``BUSY`` and ``IDLE`` alternate."""

    STARTING = "starting"
    """Spawned, its ready message not read yet; a call launched on it is queued until then."""
    BUSY = "busy"
    """Running one call (sent to it); it goes idle when the result is read."""
    IDLE = "idle"
    """Waiting for a call, kept with the idle workers of its GPU set."""
    GONE = "gone"
    """Retired (told to exit) or exited; never given a call again."""


class EndReason(enum.Enum):
    """Why the owner is ending a worker that runs a call (what its task's failure says)."""

    KILL = "kill"
    """The task was killed (timeout, cancel): a ``SIGNAL`` failure, a late result is dropped."""
    PREEMPT = "preempt"
    """The task was preempted: it got the signal, may checkpoint and return; it is ended then,
    and its call runs again later."""
    SHUTDOWN = "shutdown"
    """The backend shuts down: a ``CANCELLED`` failure."""
    LOST = "lost"
    """A remote worker's connection ended but its step did not: a ``WORKER_DIED`` failure."""


def worker_env(environ: Mapping[str, str], gpus: tuple[str, ...]) -> dict[str, str]:
    """A worker's environment: ``environ`` with its GPU set, a first attempt, and this tandem's
    source on ``PYTHONPATH``."""
    env = dict(environ)
    ids = ",".join(gpus)
    env.update(CUDA_VISIBLE_DEVICES=ids, ROCR_VISIBLE_DEVICES=ids, HIP_VISIBLE_DEVICES=ids,
               TANDEM_GPUS=ids, TANDEM_ATTEMPT="1", TANDEM_PREEMPTED="0")
    if _SRC_ON_PATH:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC_ON_PATH, env.get("PYTHONPATH")) if p)
    return env


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


class WorkerHandle:
    """A worker process plus the owner's bookkeeping about it (state, task, placement)."""

    __slots__ = ("cores", "dead", "eof", "err_path", "exited", "frames", "index", "key",
                 "kill_reason", "kill_timer", "known", "loop", "memory", "node", "on_readable",
                 "peak", "pending", "pid", "pidfd", "proc", "queued", "ready", "remote",
                 "remote_pid", "rerun", "rfd", "seq", "sock", "state", "stopped", "task_id",
                 "task_name", "wfd")

    def __init__(self, loop: asyncio.AbstractEventLoop, index: int, key: Any,
                 proc: subprocess.Popen[bytes], wfd: int, rfd: int, err_path: Path) -> None:
        self.loop = loop
        self.index = index
        self.key = key                            # its idle key: the GPU set (and node)
        self.proc = proc
        self.pid = proc.pid
        self.wfd = wfd                            # calls go out here (non-blocking)
        self.rfd = rfd                            # results come in here (non-blocking)
        self.pidfd = -1
        self.err_path = err_path
        self.exited: asyncio.Future[int] = loop.create_future()
        self.ready: asyncio.Future[None] | None = None  # set only for awaited (prespawned) ones
        self.frames = FrameReader()
        self.pending: list[memoryview] | None = None
        self.state = WorkerState.STARTING
        self.dead = False                         # exited (being or already reaped)
        self.task_id: int | None = None
        self.task_name = ""
        self.queued: bytes | None = None          # a call waiting for the worker to be ready
        self.cores: tuple[int, ...] | None = None  # placement of the last call sent
        self.node: str | None = None
        self.known: set[int] = set()              # function ids this worker has received
        self.kill_reason: EndReason | None = None
        self.kill_timer: asyncio.TimerHandle | None = None
        self.seq = 0                              # when it last went idle
        self.stopped = False                      # paused (SIGSTOP), not continued since
        self.rerun = False                        # its environment says "attempt > 1"
        self.remote = False                       # a job step: ``pid`` is its ``srun``
        self.sock: socket.socket | None = None    # a remote worker's connection, once attached
        self.on_readable: Callable[[WorkerHandle], None] | None = None
        self.eof = False                          # a remote worker's connection reached its end
        self.remote_pid: int | None = None        # a remote worker's own pid (its READY says)
        self.memory: TaskMemory | None = None     # the running call's limit, if it has one
        self.peak: int | None = None              # what the worker's PEAK said about the call

    @classmethod
    def spawn(cls, loop: asyncio.AbstractEventLoop, index: int, key: tuple[str, ...],
              log_dir: Path, on_readable: Callable[[WorkerHandle], None],
              on_exit: Callable[[WorkerHandle], None]) -> WorkerHandle:
        """Start a worker for GPU set ``key``; ``on_readable``/``on_exit`` are called from the
        loop when results arrive and when the process has exited."""
        env = worker_env(os.environ, key)
        err_path = log_dir / f"worker-{index}.err"
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        try:
            with open(log_dir / f"worker-{index}.out", "ab") as out, open(err_path, "ab") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "tandem.backends.worker", str(to_r), str(from_w),
                     str(os.getpid())],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                    pass_fds=(to_r, from_w), process_group=0)
        except BaseException:
            os.close(to_w)
            os.close(from_r)
            raise
        finally:
            os.close(to_r)
            os.close(from_w)
        os.set_blocking(to_w, False)
        os.set_blocking(from_r, False)
        guardian.watch(proc.pid)
        w = cls(loop, index, key, proc, to_w, from_r, err_path)
        loop.add_reader(from_r, on_readable, w)
        try:
            w.pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):  # no pidfd here: a thread waits, without reaping
            import threading

            threading.Thread(target=w._wait_exit, args=(on_exit,), daemon=True).start()
        else:
            loop.add_reader(w.pidfd, on_exit, w)
        return w

    @classmethod
    def spawn_step(cls, loop: asyncio.AbstractEventLoop, index: int, key: Any,
                   argv: Sequence[str], env: Mapping[str, str], log_dir: Path,
                   on_readable: Callable[[WorkerHandle], None],
                   on_exit: Callable[[WorkerHandle], None]) -> WorkerHandle:
        """Start ``argv`` (the ``srun`` of a worker step) with exactly ``env``; the worker's
        frames flow once :meth:`attach` gives it its connection (until then they are queued)."""
        err_path = log_dir / f"worker-{index}.err"
        with open(log_dir / f"worker-{index}.out", "ab") as out, open(err_path, "ab") as err:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env=dict(env), process_group=0)
        guardian.watch(proc.pid)
        w = cls(loop, index, key, proc, -1, -1, err_path)
        w.remote = True
        w.pending = []
        w.on_readable = on_readable
        w.pidfd = os.pidfd_open(proc.pid)
        loop.add_reader(w.pidfd, on_exit, w)
        return w

    def attach(self, sock: socket.socket) -> None:
        """Give a remote worker its connection: reads start, queued frames are sent."""
        sock.setblocking(False)
        self.sock = sock
        fd = self.wfd = self.rfd = sock.fileno()
        assert self.on_readable is not None
        self.loop.add_reader(fd, self.on_readable, self)
        if self.pending:
            self.loop.add_writer(fd, self._on_writable)
        else:
            self.pending = None

    def _wait_exit(self, on_exit: Callable[[WorkerHandle], None]) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        self.loop.call_soon_threadsafe(on_exit, self)

    # --------------------------------------------------------------------------------- pipes

    def send(self, data: bytes) -> None:
        """Queue ``data`` for the worker: one ``os.write`` now, the rest when writable."""
        if self.pending is not None:
            self.pending.append(memoryview(data))
            return
        if self.wfd < 0:
            return
        try:
            n = os.write(self.wfd, data)
        except BlockingIOError:
            n = 0
        except OSError:  # the worker is gone; its exit is reported through on_exit
            return
        if n < len(data):
            self.pending = [memoryview(data)[n:]]
            self.loop.add_writer(self.wfd, self._on_writable)

    def _on_writable(self) -> None:
        pending = self.pending
        while pending:
            try:
                n = os.write(self.wfd, pending[0])
            except BlockingIOError:
                return
            except OSError:
                break
            if n < len(pending[0]):
                pending[0] = pending[0][n:]
                return
            pending.pop(0)
        self.loop.remove_writer(self.wfd)
        self.pending = None

    def read(self) -> list[bytes | bytearray] | None:
        """Complete frames available now (maybe none); ``None`` at end of file."""
        try:
            data = os.read(self.rfd, _READ_SIZE)
        except BlockingIOError:
            return []
        except OSError:
            data = b""
        if not data:
            self.loop.remove_reader(self.rfd)
            self.eof = True
            return None
        return self.frames.feed(data)

    def close_input(self) -> None:
        """End of file for the worker: an idle worker exits when it reads it."""
        if self.wfd >= 0:
            if self.pending is not None:
                self.loop.remove_writer(self.wfd)
                self.pending = None
            if self.sock is None:
                os.close(self.wfd)
            else:
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_WR)
            self.wfd = -1

    # ------------------------------------------------------------------------------ signals

    def signal(self, sig: int) -> None:
        """Signal the worker's process group (the worker alone if it left its group)."""
        if self.dead:  # reaped or being reaped: its pid may belong to someone else soon
            return
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self, grace: float) -> None:
        """SIGTERM to the worker's process group now (continuing it if it was paused), SIGKILL
        after ``grace`` seconds."""
        self.signal(signal.SIGTERM)
        if self.stopped:
            self.signal(signal.SIGCONT)
            self.stopped = False
        self.kill_timer = self.loop.call_later(grace, self.signal, signal.SIGKILL)

    def retire(self, grace: float) -> None:
        """Let an idle worker exit (end of file on its input; one still starting, or a remote
        one not connected yet: SIGTERM, rather than waiting for it to be ready); SIGKILL after
        ``grace`` seconds if it lingers."""
        starting = self.state is WorkerState.STARTING
        self.state = WorkerState.GONE
        if starting or (self.remote and self.sock is None):
            self.signal(signal.SIGTERM)
        if not self.remote or self.sock is not None:
            self.close_input()
        self.kill_timer = self.loop.call_later(grace, self.signal, signal.SIGKILL)

    def lost(self, grace: float) -> None:
        """A remote worker's connection ended: end its step if it has not ended by itself
        within ``grace`` seconds (unless it is being ended already)."""
        if not self.dead and self.kill_timer is None:
            self.kill_timer = self.loop.call_later(grace, self._end_lost, grace)

    def _end_lost(self, grace: float) -> None:
        if self.kill_reason is None:
            self.kill_reason = EndReason.LOST
        self.terminate(grace)

    def reap(self) -> int:
        """After the exit: kill the rest of its process group, reap it, close every fd; the
        return code (negative: the signal that ended it)."""
        self.dead = True
        loop = self.loop
        if self.pidfd >= 0:
            loop.remove_reader(self.pidfd)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        rc = self.proc.wait()
        guardian.unwatch(self.pid)
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        self.close_input()
        if self.rfd >= 0:
            loop.remove_reader(self.rfd)
            if self.sock is None:
                os.close(self.rfd)
            self.rfd = -1
        if self.sock is not None:
            self.sock.close()
        if self.kill_timer is not None:
            self.kill_timer.cancel()
            self.kill_timer = None
        self.state = WorkerState.GONE
        return rc

    def exit_failure(self, rc: int) -> Failure:
        """Why the task it was running did not finish, given the worker's return code (for a
        remote worker, its ``srun``'s: 128 + n when the worker was killed by signal n)."""
        sig = -rc if rc < 0 else None
        if self.remote and 128 < rc <= 128 + 64:
            sig = rc - 128
        how = f"{_signame(sig)} (signal {sig})" if sig else f"exit code {rc}"
        name = self.task_name
        if self.kill_reason is EndReason.KILL:
            kind, message = FailureKind.SIGNAL, f"{name}: killed: {how}"
        elif self.kill_reason is EndReason.PREEMPT:
            kind, message = FailureKind.SIGNAL, f"{name}: preempted: {how}"
        elif self.kill_reason is EndReason.SHUTDOWN:
            kind, message = FailureKind.CANCELLED, f"{name}: cancelled by backend shutdown"
        elif self.kill_reason is EndReason.LOST:
            kind = FailureKind.WORKER_DIED
            message = (f"{name}: its worker on node {self.key[0]} (pid {self.remote_pid}) lost "
                       f"its connection to the driver; its job step was ended: {how}")
        else:
            kind = FailureKind.WORKER_DIED
            if self.remote and self.remote_pid is None:
                message = (f"{name}: its worker step on node {self.key[0]} did not start "
                           f"(srun pid {self.pid}: {how})")
            elif self.remote:
                message = (f"{name}: its worker on node {self.key[0]} (pid {self.remote_pid}, "
                           f"job step srun pid {self.pid}) died: {how}")
            else:
                message = f"{name}: its worker process {self.pid} died: {how}"
        return Failure(kind=kind, message=message, exit_code=None if sig else rc, signal=sig,
                       stderr_tail=self.stderr_tail())

    def stderr_tail(self) -> str:
        """The last lines of the worker's stderr log."""
        try:
            with open(self.err_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - _TAIL_BYTES))
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-_TAIL_LINES:])
