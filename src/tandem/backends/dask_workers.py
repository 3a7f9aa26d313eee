"""Processes of the Dask backend: how a worker is started on its placement, and one child
process (scheduler or worker) seen from the driver.

Contract: :class:`WorkerStarter` turns a worker's command into the command that runs it on
exactly one placement (node, core ids, GPU ids): :class:`LocalStarter` on this machine (pinned
with ``taskset -c``; the worker and its threads inherit the mask), :class:`SlurmStarter` as an
``srun --overlap`` step of the allocation (:func:`tandem.backends.srun.worker_argv`, without
the allocation's ``SLURM_*`` variables: :func:`tandem.backends.srun.task_environ`). A starter
also says which platforms it can execute (``unreachable``). :class:`Proc` is one child in its
own process group: its exit is watched through a pidfd with ``add_reader`` (no polling), its
stderr is read with ``add_reader``, copied to its log file and searched for a marker line (the
scheduler's "Scheduler at:", a worker's "Registered to:"); signals go to its process group
while it has not been reaped, and what is left of the group is killed before it is reaped.
:func:`worker_environment` is what scheduler and workers start with (Dask's logs at INFO,
a ``PYTHONPATH`` that imports what the driver imports).
Imports: tandem.backends.local, tandem.backends.srun, tandem.errors, tandem.guardian,
tandem.spec.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from tandem import guardian
from tandem.backends.local import local_unreachable
from tandem.errors import BackendError
from tandem.spec.platform import Platform

_READ_SIZE = 1 << 16
_TAIL_LINES = 30


#: A command to run and its whole environment.
Command = tuple[tuple[str, ...], dict[str, str]]


class WorkerStarter(Protocol):
    """How the Dask backend runs one worker on one placement."""

    def command(self, node: str, cores: tuple[int, ...], gpus: tuple[str, ...],
                argv: Sequence[str], env: Mapping[str, str], *, name: str) -> Command:
        """The command and the environment (run here, in a new process group) that run
        ``argv`` with ``env`` on ``node``, pinned to ``cores`` (``()``: not pinned), seeing
        exactly ``gpus`` (``env`` has them already as ``CUDA_VISIBLE_DEVICES``); ``name`` is
        the worker's Dask name."""
        ...

    def unreachable(self, platform: Platform) -> str | None:
        """Why workers cannot be started on every node of ``platform``, or ``None``."""
        ...


@dataclass(frozen=True, slots=True)
class LocalStarter:
    """Workers on this machine, pinned with ``taskset -c`` (the platform must be this machine:
    :func:`~tandem.backends.local.local_unreachable`)."""

    def command(self, node: str, cores: tuple[int, ...], gpus: tuple[str, ...],
                argv: Sequence[str], env: Mapping[str, str], *, name: str) -> Command:
        if not cores:
            return tuple(argv), dict(env)
        return ("taskset", "-c", ",".join(map(str, cores)), *argv), dict(env)

    def unreachable(self, platform: Platform) -> str | None:
        return local_unreachable(platform)


@dataclass(frozen=True, slots=True, init=False)
class SlurmStarter:
    """Workers as ``srun --overlap`` steps of Slurm job ``job_id`` on the allocation's
    ``nodes`` (each step pinned with ``--cpu-bind`` to the placement's cores)."""

    job_id: str
    nodes: frozenset[str]

    def __init__(self, job_id: str, nodes: Iterable[str]) -> None:
        object.__setattr__(self, "job_id", str(job_id))
        object.__setattr__(self, "nodes", frozenset(nodes))
        if not self.job_id or not self.nodes:
            raise BackendError("SlurmStarter needs the allocation's job id and its node names "
                               "(SLURM_JOB_ID, `scontrol show hostnames`)")

    def command(self, node: str, cores: tuple[int, ...], gpus: tuple[str, ...],
                argv: Sequence[str], env: Mapping[str, str], *, name: str) -> Command:
        from tandem.backends.srun import task_environ, worker_argv

        step, added = worker_argv(node, cores, gpus, argv, job_id=self.job_id, name=name)
        kept = task_environ({os.fsencode(k): os.fsencode(v) for k, v in env.items()})
        return step, {**{os.fsdecode(k): os.fsdecode(v) for k, v in kept.items()}, **added}

    def unreachable(self, platform: Platform) -> str | None:
        missing = sorted(n.name for n in platform.nodes if n.name not in self.nodes)
        if missing:
            return (f"nodes {missing} are not in Slurm job {self.job_id} "
                    f"(its nodes: {sorted(self.nodes)})")
        return None


def how(rc: int) -> str:
    """A return code in words: ``exit code 3`` or ``SIGKILL (signal 9)``."""
    if rc >= 0:
        return f"exit code {rc}"
    try:
        name = signal.Signals(-rc).name
    except ValueError:
        name = "signal"
    return f"{name} (signal {-rc})"


class Proc:
    """One child process in its own process group (see the module docstring).

    ``marked`` resolves with the first stderr line containing ``marker`` (it is cancelled if
    the process exits first); ``exited`` resolves with the return code once it is reaped.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, argv: Sequence[str],
                 env: Mapping[str, str], log: Path, marker: str) -> None:
        self.loop = loop
        self.marker = marker.encode()
        self.marked: asyncio.Future[str] = loop.create_future()
        self.exited: asyncio.Future[int] = loop.create_future()
        self.tail: collections.deque[bytes] = collections.deque(maxlen=_TAIL_LINES)
        self.kill_timer: asyncio.TimerHandle | None = None
        self.ending = False
        self.log_path = log
        self.log: IO[bytes] = open(log, "ab")  # noqa: SIM115 (closed at exit)
        self.partial = b""
        rfd, wfd = os.pipe()
        try:
            self.popen = subprocess.Popen(list(argv), env=dict(env), stdin=subprocess.DEVNULL,
                                          stdout=self.log, stderr=wfd, start_new_session=True)
        except BaseException:
            os.close(rfd)
            self.log.close()
            raise
        finally:
            os.close(wfd)
        self.pid = self.popen.pid
        guardian.watch(self.pid)
        self.rfd = rfd
        os.set_blocking(rfd, False)
        loop.add_reader(rfd, self.on_stderr)
        self.pidfd = os.pidfd_open(self.pid)
        loop.add_reader(self.pidfd, self.on_exit)

    # ---------------------------------------------------------------------------- signals

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process group, unless the process was reaped."""
        if not self.exited.done():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)

    def terminate(self, grace: float) -> None:
        """SIGTERM now, SIGKILL after ``grace`` seconds if it is still there (once)."""
        if self.ending or self.exited.done():
            return
        self.ending = True
        self.signal(signal.SIGTERM)
        self.kill_timer = self.loop.call_later(grace, self.signal, signal.SIGKILL)

    def stderr_tail(self) -> str:
        """The last lines it wrote to stderr."""
        return b"".join(self.tail).decode(errors="replace").rstrip()

    # -------------------------------------------------------------------------- callbacks

    def on_stderr(self) -> None:
        while self.rfd >= 0:
            try:
                data = os.read(self.rfd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.loop.remove_reader(self.rfd)
                os.close(self.rfd)
                self.rfd = -1
                return
            self.log.write(data)
            self.log.flush()
            lines = (self.partial + data).split(b"\n")
            self.partial = lines.pop()
            for line in lines:
                self.tail.append(line + b"\n")
                if not self.marked.done() and self.marker in line:
                    self.marked.set_result(line.decode(errors="replace"))

    def on_exit(self) -> None:
        self.loop.remove_reader(self.pidfd)
        os.close(self.pidfd)
        self.on_stderr()   # what it wrote before it died (unless a child keeps the pipe)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)   # the zombie still holds the group's id
        rc = self.popen.wait()
        guardian.unwatch(self.popen.pid)
        if self.rfd >= 0:
            self.loop.remove_reader(self.rfd)
            os.close(self.rfd)
            self.rfd = -1
        self.log.close()
        if self.kill_timer is not None:
            self.kill_timer.cancel()
        if not self.marked.done():
            self.marked.cancel()
        self.exited.set_result(rc)


async def wait_marked(proc: Proc, timeout: float) -> str | None:
    """The marker line, or ``None`` if the process exited or ``timeout`` seconds passed first."""
    await asyncio.wait((proc.marked, proc.exited), timeout=timeout,
                       return_when=asyncio.FIRST_COMPLETED)
    if proc.marked.done() and not proc.marked.cancelled():
        return proc.marked.result()
    return None


def worker_environment() -> dict[str, str]:
    """This process's environment, with Dask's own logs at INFO (the lines the backend waits
    for) and a ``PYTHONPATH`` that lets workers import what the driver imports (tandem, the
    modules of the functions they are sent)."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    paths: list[str] = []
    for p in sys.path:
        path = os.path.abspath(p or os.getcwd())
        if os.path.isdir(path) and not any(path.startswith(x) for x in prefixes):
            paths.append(path)
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["DASK_LOGGING__DISTRIBUTED"] = "info"
    return env
