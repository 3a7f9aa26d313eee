"""Memory limits of tasks on this machine: a cgroup per task where tandem can create one, else
a resource limit; the task's peak memory; whether it ended because it exceeded its limit.

Contract: one concept, a task's memory limit, for the local backends
(:mod:`tandem.backends.process` for executables, :mod:`tandem.backends.functions` for function
calls); the cgroup file system itself is :mod:`tandem.backends.cgroups`. :class:`MemoryLimits`
finds the mechanism once (:meth:`MemoryLimits.start`), gives one :class:`TaskMemory` per
limited attempt (:meth:`MemoryLimits.open`), turns its end into a failure and a peak
(:meth:`MemoryLimits.finish`) and removes every cgroup it created (:meth:`MemoryLimits.aclose`).
Imports: tandem.backends.base, tandem.backends.cgroups, tandem.core.values, tandem.errors.

Rules:

- Modes: ``auto`` (the default; ``$TANDEM_MEMORY_LIMITS`` when set) uses a cgroup when this
  machine lets tandem create one under its own cgroup, else ``RLIMIT_DATA``; ``cgroup`` insists
  on a cgroup (``start`` raises :class:`~tandem.errors.BackendError` saying why there is none);
  ``rlimit`` always uses ``RLIMIT_DATA``; ``off`` enforces nothing.
- A limit is ``memory_mb`` MiB (2^20 bytes) per process: a cgroup of ``processes`` ranks
  holds their sum. ``memory_mb=0`` cannot be enforced (no process runs in no memory): the
  backend fails the task at launch saying so.
- Each limited attempt gets a cgroup of its own, ``tandem-<pid>-<n>/t<task>-<k>``; it is removed
  when the attempt ends, and one that cannot be yet (processes the task left behind in it) is
  ended and removed by :meth:`MemoryLimits.aclose`.
- Executables join their limit before their program starts, by a ``/bin/sh`` that writes
  its pid into the cgroup (or runs ``ulimit -d``) and then ``exec``s the program; the backend
  checks first that the program exists, so a missing one is still a launch failure.
- Peak: the cgroup's ``memory.peak`` (v2) or ``memory.max_usage_in_bytes`` (v1), every
  process of the task together; without a cgroup, what the backend measured.
- Cause: the attempt failed ``MEMORY`` when a cgroup's ``oom_kill`` count says the kernel's OOM
  killer killed one of its processes (or, on a kernel without that count, a SIGKILL tandem did
  not send ended it once its cgroup had reached the limit), or when an allocation was refused
  (``MemoryError``, ``std::bad_alloc``, "Cannot allocate memory", "out of memory" in its message
  or stderr tail) under ``RLIMIT_DATA`` or once its cgroup reached the limit; never when tandem
  was ending it anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from dataclasses import dataclass
from typing import Literal

from tandem.backends import cgroups
from tandem.backends.base import LaunchRequest, Outcome
from tandem.core.values import Failure, FailureKind
from tandem.errors import BackendError, SpecError

MODES = ("auto", "cgroup", "rlimit", "off")
ENV = "TANDEM_MEMORY_LIMITS"
MiB = 1 << 20
Mechanism = Literal["cgroup2", "cgroup1", "rlimit", "off"]
_JOIN = 'echo $$ > "$0" && exec "$@"'           # sh -c _JOIN PROCS_FILE ARGV...
_ULIMIT = 'ulimit -d "$0" && exec "$@"'         # sh -c _ULIMIT KIB ARGV...
_REFUSED = re.compile(r"MemoryError|std::bad_alloc|Cannot allocate memory"
                      r"|(?<!CUDA )(?<!cuda )\b[Oo]ut of memory")
_DESCRIBE = {"cgroup2": "cgroup v2 memory.max", "cgroup1": "cgroup v1 memory.limit_in_bytes",
             "rlimit": "RLIMIT_DATA", "off": "none"}
_LARGEST_MB = 1 << 42   # 4 EiB: larger than any machine, within a 64-bit count of bytes
_parents = 0   # parents created by this process (the last part of their names)


class LimitRefused(ValueError):
    """A task whose limit cannot be set up: ``args[0]`` says why (a launch failure)."""


def mb(peak: int | None) -> float | None:
    """Bytes as MiB with one decimal (``None`` stays ``None``)."""
    return None if peak is None else round(peak / MiB, 1)


def mode_of(where: str, mode: str | None) -> str:
    """The mode asked for (``None``: ``$TANDEM_MEMORY_LIMITS``, else ``auto``); a
    :class:`~tandem.errors.SpecError` naming ``where`` for anything else."""
    source = f"{where}: memory"
    if mode is None:
        mode = os.environ.get(ENV) or "auto"
        source = f"${ENV}"
    if mode not in MODES:
        raise SpecError(f"{source}={mode!r}: expected one of {', '.join(MODES)}")
    return mode


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """What an attempt used: ``peak`` bytes (``None``: unknown), how many of its processes
    the kernel's OOM killer killed (``None``: the kernel keeps no count), and whether its usage
    reached the limit."""

    peak: int | None = None
    oom_kills: int | None = 0
    hit: bool = False


@dataclass(slots=True, eq=False)
class TaskMemory:
    """The limit of one attempt: ``mb`` MiB, by ``mechanism``, in the cgroup ``path`` (``""``
    for ``RLIMIT_DATA``); ``home`` is the cgroup a function worker goes back to."""

    mb: int
    mechanism: Mechanism
    path: str = ""
    home: str = ""

    @property
    def procs(self) -> str:
        """The cgroup's ``cgroup.procs`` (a process joins by writing its pid there)."""
        return self.path + "/cgroup.procs"

    def wrap(self, argv: tuple[str, ...]) -> tuple[str, ...]:
        """``argv`` started so that it runs within the limit."""
        if self.path:
            return ("/bin/sh", "-c", _JOIN, self.procs, *argv)
        return ("/bin/sh", "-c", _ULIMIT, str(min(self.mb, _LARGEST_MB) * 1024), *argv)

    def message(self) -> tuple[int, str | None, str | None]:
        """What a function worker needs to hold its call to the limit: the bytes, and for a
        cgroup the ``cgroup.procs`` to join and the one to go back to."""
        size = min(self.mb, _LARGEST_MB) * MiB
        if not self.path:
            return size, None, None
        return size, self.procs, self.home + "/cgroup.procs"

    def usage(self, peak: int | None = None) -> Usage:
        """What the attempt used; ``peak`` (bytes) is what the backend measured, used when
        there is no cgroup (or the kernel keeps no peak)."""
        if not self.path or self.mechanism not in ("cgroup1", "cgroup2"):
            return Usage(peak=peak)
        got, kills, hit = cgroups.used(self.mechanism, self.path)
        return Usage(peak=peak if got is None else got, oom_kills=kills, hit=hit)

    def remove(self) -> bool:
        """Remove the cgroup; ``False`` while processes are still in it."""
        return not self.path or cgroups.remove(self.path)


class MemoryLimits:
    """The memory limits of one backend's tasks (see the module docstring)."""

    def __init__(self, where: str, mode: str | None = None) -> None:
        self.where = where
        self.mode = mode_of(where, mode)
        self.mechanism: Mechanism = "off"
        self.why = ""             # why no cgroup is used (when one could have been)
        self.home = ""            # the driver's own cgroup directory
        self.parent = ""          # the directory tandem's cgroups are created in
        self._count = 0
        self._left: list[TaskMemory] = []

    def start(self) -> None:
        """Find the mechanism (once); ``mode="cgroup"`` without one raises ``BackendError``."""
        global _parents
        if self.mechanism != "off" or self.mode == "off":
            return
        if self.mode in ("auto", "cgroup"):
            found = cgroups.own_cgroup()
            if found is None:
                self.why = "no memory cgroup controller is mounted for this process"
            else:
                _parents += 1
                try:
                    self.parent = cgroups.make_parent(found[0], found[1],
                                                      f"tandem-{os.getpid()}-{_parents}")
                except cgroups.Unavailable as exc:
                    self.why = exc.args[0]
                else:
                    self.mechanism, self.home = found
                    return
            if self.mode == "cgroup":
                raise BackendError(f"{self.where}: memory='cgroup': tandem cannot create a "
                                   f"memory cgroup here: {self.why}")
        self.mechanism = "rlimit"

    def open(self, request: LaunchRequest, *, processes: int = 1) -> TaskMemory | None:
        """The limit of ``request``'s attempt (``None`` without ``memory_mb`` or with mode
        ``off``): ``memory_mb`` per process, ``processes`` of them sharing one cgroup; a
        :class:`LimitRefused` saying why when it cannot have one."""
        memory_mb, mechanism = request.memory_mb, self.mechanism
        if memory_mb is None or mechanism == "off":
            return None
        if memory_mb == 0:
            raise LimitRefused("memory_mb=0 cannot be enforced (no process runs in no memory): "
                               "ask for the MB the task needs, or leave memory_mb out")
        if mechanism == "rlimit":
            return TaskMemory(memory_mb, mechanism)
        self._count += 1
        path = f"{self.parent}/t{request.task_id}-{self._count}"
        try:
            cgroups.make_child(mechanism, path, memory_mb * processes * MiB)
        except OSError as exc:
            raise LimitRefused(f"cannot create its memory cgroup {path}: "
                               f"{exc.strerror or exc}") from None
        return TaskMemory(memory_mb, mechanism, path, self.home)

    def finish(self, memory: TaskMemory, failure: Failure | None, *, peak: int | None,
               killing: bool, who: str) -> tuple[Failure | None, float | None]:
        """After the attempt's processes are gone: its failure (:func:`memory_failure`) and
        peak in MiB; its cgroup is removed (or left for :meth:`aclose`)."""
        usage = memory.usage(peak)
        failure = memory_failure(failure, memory, usage, killing=killing, who=who)
        if not memory.remove():
            self._left.append(memory)
        return failure, mb(usage.peak)

    def outcome(self, task_id: int, value: object, failure: Failure | None,
                memory: TaskMemory | None, *, peak: int | None = None, killing: bool = False,
                who: str = "") -> Outcome:
        """The :class:`Outcome` of an attempt that ended with ``value`` or ``failure``, after
        :meth:`finish` when it had a limit (``memory``)."""
        if memory is None:
            return Outcome(task_id, value, failure)
        failure, peak_mb = self.finish(memory, failure, peak=peak, killing=killing, who=who)
        return Outcome(task_id, value if failure is None else None, failure, peak_mb)

    async def aclose(self) -> None:
        """End what is left in this backend's cgroups (SIGKILL, then wait until each process's
        pidfd says it exited), and remove them and their parent."""
        if self._left:
            loop = asyncio.get_running_loop()
            waits: list[asyncio.Future[None]] = []
            for m in self._left:
                for pid in cgroups.pids(m.path):
                    try:
                        fd = os.pidfd_open(pid)
                    except OSError:
                        continue
                    with contextlib.suppress(OSError):
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
                    done: asyncio.Future[None] = loop.create_future()
                    loop.add_reader(fd, _exited, loop, fd, done)
                    waits.append(done)
            if waits:
                await asyncio.wait(waits, timeout=10.0)
        self.close()

    def close(self) -> None:
        """Remove this backend's cgroups whose processes are gone, and then their parent."""
        self._left = [m for m in self._left if not m.remove()]
        if self.parent and not self._left and cgroups.remove(self.parent):
            self.parent = ""
            if self.mechanism != "rlimit":
                self.mechanism = "off"


def memory_failure(failure: Failure | None, memory: TaskMemory, usage: Usage, *,
                   killing: bool, who: str) -> Failure | None:
    """``failure`` as a ``MEMORY`` failure when the attempt ended because of its limit (see
    the module docstring); ``failure`` itself otherwise. ``who`` starts the message."""
    if failure is None or killing or failure.kind in (FailureKind.LAUNCH, FailureKind.CANCELLED):
        return failure
    seen = "" if usage.peak is None else f", peak {mb(usage.peak):g} MB"
    how = _DESCRIBE[memory.mechanism]
    if usage.oom_kills or (usage.oom_kills is None and usage.hit
                           and failure.signal == signal.SIGKILL):
        message = (f"{who} exceeded its {memory.mb} MB memory limit: killed by the kernel's "
                   f"OOM killer at the limit ({how}){seen}")
    elif (_REFUSED.search(failure.message) or _REFUSED.search(failure.stderr_tail[-2000:])) \
            and (usage.hit or not memory.path):
        message = (f"{who} exceeded its {memory.mb} MB memory limit: an allocation was "
                   f"refused ({how}){seen}")
    else:
        return failure
    return Failure(kind=FailureKind.MEMORY, message=message, exit_code=failure.exit_code,
                   signal=failure.signal, stderr_tail=failure.stderr_tail,
                   traceback=failure.traceback)


def _exited(loop: asyncio.AbstractEventLoop, fd: int, done: asyncio.Future[None]) -> None:
    loop.remove_reader(fd)
    os.close(fd)
    if not done.done():
        done.set_result(None)
