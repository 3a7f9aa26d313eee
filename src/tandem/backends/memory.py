"""Memory limits of tasks on this machine: a cgroup per task where tandem can create one, else
a resource limit; the task's peak memory; whether it ended because it exceeded its limit.

Contract: one concept, a task's memory limit, for the local backends
(:mod:`tandem.backends.process` for executables, :mod:`tandem.backends.functions` for function
calls). :class:`MemoryLimits` finds the mechanism once (:meth:`MemoryLimits.start`), creates one
:class:`TaskMemory` per limited attempt, and removes every cgroup it created (:meth:`close`).
A :class:`TaskMemory` says how its process joins the limit (:meth:`TaskMemory.wrap` for an
executable), reads what it used after the end (:meth:`TaskMemory.usage`), turns the task's
failure into a ``MEMORY`` failure when the limit is why it ended (:func:`memory_failure`) and
removes its cgroup (:meth:`TaskMemory.remove`).
Imports: tandem.backends.base, tandem.core.values, tandem.errors.

Rules:

- Modes: ``auto`` (the default; ``$TANDEM_MEMORY_LIMITS`` when set) uses a cgroup when this
  machine lets tandem create one under its own cgroup, else ``RLIMIT_DATA``; ``cgroup`` insists
  on a cgroup (``start`` raises :class:`~tandem.errors.BackendError` saying why there is none);
  ``rlimit`` always uses ``RLIMIT_DATA``; ``off`` enforces nothing.
- Cgroups: v2 (``memory.max``, ``memory.swap.max`` 0, ``memory.oom.group`` 1) where the
  driver's own cgroup has the memory controller enabled for its children; v1
  (``memory.limit_in_bytes`` and ``memory.memsw.limit_in_bytes``) where the driver's memory
  cgroup is a writable directory. Each limited attempt gets its own cgroup
  ``tandem-<pid>-<n>/t<task>-<attempt>``; it is removed when the task ends, and those that
  could not be (processes the task left behind) are ended and removed by :meth:`close`.
  Directories left by a driver that died (its pid is gone) are removed at ``start``.
- A limit is ``memory_mb`` MiB (2^20 bytes). ``memory_mb=0`` cannot be enforced (no process
  runs in no memory): :meth:`MemoryLimits.check` says so and the backend fails the task.
- Executables join their limit before their program starts, by a ``/bin/sh`` that writes
  its pid into the cgroup (or sets ``ulimit -d``) and then ``exec``s the program; the backend
  checks first that the program exists, so a missing one is still a launch failure.
- Peak: the cgroup's ``memory.peak`` (v2) or ``memory.max_usage_in_bytes`` (v1): every process
  of the task together. Without a cgroup, what the backend measured (``ru_maxrss``) is given
  to :meth:`TaskMemory.usage`.
- The kernel's OOM killer: a cgroup's ``oom_kill`` count (``memory.events`` in v2,
  ``memory.oom_control`` in v1) above zero means it killed a process of the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import signal
from dataclasses import dataclass
from typing import Literal

from tandem.backends.base import LaunchRequest
from tandem.core.values import Failure, FailureKind
from tandem.errors import BackendError, SpecError

MODES = ("auto", "cgroup", "rlimit", "off")
ENV = "TANDEM_MEMORY_LIMITS"
MiB = 1 << 20
Mechanism = Literal["cgroup2", "cgroup1", "rlimit", "off"]
_LIMIT_FILE = {"cgroup2": "memory.max", "cgroup1": "memory.limit_in_bytes"}
_JOIN = 'echo $$ > "$0" && exec "$@"'           # sh -c _JOIN PROCS_FILE ARGV...
_ULIMIT = 'ulimit -d "$0" && exec "$@"'         # sh -c _ULIMIT KIB ARGV...
_REFUSED = re.compile(r"MemoryError|std::bad_alloc|Cannot allocate memory"
                      r"|(?<!CUDA )(?<!cuda )\b[Oo]ut of memory")
_created = 0   # MemoryLimits parents created by this process (their names' last part)


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
    """What a task used: ``peak`` bytes (``None``: unknown), how many of its processes the
    kernel's OOM killer killed, and whether its usage reached the limit."""

    peak: int | None = None
    oom_kills: int = 0
    hit: bool = False

    @property
    def peak_mb(self) -> float | None:
        return mb(self.peak)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _keyed(text: str | None, key: str) -> int:
    """The value of ``key`` in a ``key value`` file (``memory.events``, ``oom_control``)."""
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def own_cgroup() -> tuple[Mechanism, str] | None:
    """The directory of this process's memory cgroup and its version, or ``None``."""
    lines = (_read("/proc/self/cgroup") or "").splitlines()
    mounts = (_read("/proc/self/mountinfo") or "").splitlines()
    v1 = next((ln.split(":", 2)[2] for ln in lines
               if "memory" in ln.split(":", 2)[1].split(",")), None)
    v2 = next((ln.split(":", 2)[2] for ln in lines if ln.startswith("0::")), None)
    for m in mounts:
        left, _, right = m.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        root, point = fields[3], fields[4]
        fstype, options = rfields[0], rfields[2].split(",")
        if fstype == "cgroup" and "memory" in options and v1 is not None:
            return "cgroup1", point + _relative(v1, root)
        if fstype == "cgroup2" and v2 is not None:
            d = point + _relative(v2, root)
            if "memory" in (_read(d + "/cgroup.controllers") or "").split():
                return "cgroup2", d
    return None


def _relative(path: str, root: str) -> str:
    if root == "/":
        return "" if path == "/" else path
    return path[len(root):] if path.startswith(root) else path


class MemoryLimits:
    """The memory limits of one backend's tasks (see the module docstring)."""

    def __init__(self, where: str, mode: str | None = None) -> None:
        self.where = where
        self.mode = mode_of(where, mode)
        self.mechanism: Mechanism = "off"
        self.why = ""             # why no cgroup is used (when one could have been)
        self.home = ""            # the driver's own cgroup directory
        self.parent = ""          # the directory tandem's cgroups are created in
        self._left: list[TaskMemory] = []

    def start(self) -> None:
        """Find the mechanism (once); ``mode="cgroup"`` without one raises ``BackendError``."""
        if self.mechanism != "off" or self.mode == "off":
            return
        if self.mode in ("auto", "cgroup"):
            self.why = self._cgroup()
            if not self.why:
                return
            if self.mode == "cgroup":
                raise BackendError(f"{self.where}: memory='cgroup': tandem cannot create a "
                                   f"memory cgroup here: {self.why}")
        self.mechanism = "rlimit"

    def _cgroup(self) -> str:
        """Set up the parent cgroup; why not, or ``""``."""
        global _created
        found = own_cgroup()
        if found is None:
            return "no memory cgroup controller is mounted for this process"
        version, home = found
        if version == "cgroup2":
            control = home + "/cgroup.subtree_control"
            if "memory" not in (_read(control) or "").split():
                try:
                    _write(control, "+memory")
                except OSError as exc:
                    return (f"the memory controller is not enabled for the children of "
                            f"{home} ({exc.strerror}); run tandem in a cgroup that has it")
        _sweep(home)
        _created += 1
        parent = f"{home}/tandem-{os.getpid()}-{_created}"
        try:
            os.mkdir(parent)
        except OSError as exc:
            return f"cannot create {parent}: {exc.strerror}"
        if version == "cgroup2":
            try:
                _write(parent + "/cgroup.subtree_control", "+memory")
            except OSError as exc:
                _rmdir(parent)
                return f"cannot enable the memory controller in {parent}: {exc.strerror}"
        if not os.path.exists(f"{parent}/{_LIMIT_FILE[version]}"):
            _rmdir(parent)
            return f"{parent} has no {_LIMIT_FILE[version]}"
        self.mechanism, self.home, self.parent = version, home, parent
        return ""

    @property
    def cgroups(self) -> bool:
        return self.mechanism in ("cgroup1", "cgroup2")

    def check(self, memory_mb: int | None) -> str | None:
        """Why ``memory_mb`` cannot be enforced, or ``None``."""
        if memory_mb == 0 and self.mechanism != "off":
            return ("memory_mb=0 cannot be enforced (no process runs in no memory): ask for "
                    "the MB the task needs, or leave memory_mb out")
        return None

    def limit(self, task_id: int, attempt: int, memory_mb: int | None,
              *, processes: int = 1) -> TaskMemory | None:
        """The limit of one attempt (``None`` when it has none or nothing is enforced):
        ``memory_mb`` MiB per process, ``processes`` of them sharing one cgroup. Raises
        ``OSError`` when its cgroup cannot be created."""
        if not memory_mb or self.mechanism == "off":
            return None
        path = ""
        if self.cgroups:
            path = f"{self.parent}/t{task_id}-{attempt}"
            with contextlib.suppress(FileExistsError):
                os.mkdir(path)
            total = memory_mb * processes * MiB
            try:
                if self.mechanism == "cgroup2":
                    _write(path + "/memory.max", str(total))
                    _optional(path + "/memory.swap.max", "0")
                    _optional(path + "/memory.oom.group", "1")
                else:
                    _write(path + "/memory.limit_in_bytes", str(total))
                    _optional(path + "/memory.memsw.limit_in_bytes", str(total))
            except OSError:
                _rmdir(path)
                raise
        return TaskMemory(self, memory_mb, path)

    def open(self, request: LaunchRequest, *, processes: int = 1) -> TaskMemory | None:
        """The limit of ``request``'s attempt (:meth:`check`, then :meth:`limit`); a
        :class:`LimitRefused` saying why when it cannot have one."""
        why = self.check(request.memory_mb)
        if why is not None:
            raise LimitRefused(why)
        try:
            return self.limit(request.task_id, request.attempt, request.memory_mb,
                              processes=processes)
        except OSError as exc:
            raise LimitRefused(f"cannot create its memory cgroup: {exc.strerror or exc}") \
                from None

    def finish(self, memory: TaskMemory, failure: Failure | None, *, peak: int | None,
               killing: bool, who: str) -> tuple[Failure | None, float | None]:
        """After the attempt's processes are gone: its failure (:func:`memory_failure`) and
        peak in MiB; its cgroup is removed (or left for :meth:`close` to end and remove)."""
        usage = memory.usage(peak)
        failure = memory_failure(failure, memory, usage, killing=killing, who=who)
        if not memory.remove():
            self._left.append(memory)
        return failure, usage.peak_mb

    def pending(self) -> list[int]:
        """Pids still in cgroups left behind (ended by :meth:`close`)."""
        return [pid for m in self._left for pid in m.pids()]

    async def aclose(self) -> None:
        """End what is left in this backend's cgroups (SIGKILL, then wait for each process's
        pidfd to say it exited), and remove them and their parent."""
        if not self._left:
            self.close()
            return
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Future[None]] = []
        for m in self._left:
            for pid in m.pids():
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
        if self.parent and not self._left and _rmdir(self.parent):
            self.parent = ""
            self.mechanism = "off"


@dataclass(slots=True, eq=False)
class TaskMemory:
    """The limit of one attempt: ``mb`` MiB, in the cgroup ``path`` (``""``: a resource
    limit)."""

    limits: MemoryLimits
    mb: int
    path: str

    @property
    def mechanism(self) -> Mechanism:
        return self.limits.mechanism if self.path else "rlimit"

    @property
    def procs(self) -> str:
        """The cgroup's ``cgroup.procs`` (a process joins by writing its pid there)."""
        return self.path + "/cgroup.procs"

    def wrap(self, argv: tuple[str, ...]) -> tuple[str, ...]:
        """``argv`` started so that it runs within the limit."""
        if self.path:
            return ("/bin/sh", "-c", _JOIN, self.procs, *argv)
        return ("/bin/sh", "-c", _ULIMIT, str(self.mb * 1024), *argv)

    def describe(self) -> str:
        """The mechanism in words, for messages."""
        return {"cgroup2": "cgroup v2 memory.max", "cgroup1": "cgroup v1 memory.limit_in_bytes",
                "rlimit": "RLIMIT_DATA", "off": "none"}[self.mechanism]

    def message(self) -> tuple[int, str | None, str | None]:
        """What a function worker needs to hold its call to the limit: the bytes, and for a
        cgroup the ``cgroup.procs`` to join and the one to go back to."""
        if not self.path:
            return self.mb * MiB, None, None
        return self.mb * MiB, self.procs, self.limits.home + "/cgroup.procs"

    def usage(self, peak: int | None = None) -> Usage:
        """What the attempt used; ``peak`` (bytes) is what the caller measured, used when
        there is no cgroup."""
        if not self.path:
            return Usage(peak=peak)
        if self.mechanism == "cgroup2":
            events = _read(self.path + "/memory.events")
            got = _read(self.path + "/memory.peak")
            return Usage(peak=int(got) if got else peak, oom_kills=_keyed(events, "oom_kill"),
                         hit=_keyed(events, "max") > 0)
        got = _read(self.path + "/memory.max_usage_in_bytes")
        fails = _read(self.path + "/memory.failcnt")
        return Usage(peak=int(got) if got else peak,
                     oom_kills=_keyed(_read(self.path + "/memory.oom_control"), "oom_kill"),
                     hit=bool(fails and int(fails) > 0))

    def pids(self) -> list[int]:
        if not self.path:
            return []
        return [int(p) for p in (_read(self.procs) or "").split()]

    def remove(self) -> bool:
        """Remove the cgroup; ``False`` while processes are still in it."""
        return not self.path or _rmdir(self.path)


def memory_failure(failure: Failure | None, memory: TaskMemory, usage: Usage, *,
                   killing: bool, who: str) -> Failure | None:
    """``failure`` as a ``MEMORY`` failure when the attempt ended because of its limit (the
    OOM killer killed one of its processes, or an allocation was refused and it says so on
    stderr or by raising ``MemoryError``); ``failure`` itself otherwise (and when tandem was
    ending the attempt anyway). ``who`` starts the message."""
    if failure is None or killing or failure.kind in (FailureKind.LAUNCH, FailureKind.CANCELLED):
        return failure
    peak = usage.peak_mb
    seen = "" if peak is None else f", peak {peak:g} MB"
    if usage.oom_kills:
        message = (f"{who} exceeded its {memory.mb} MB memory limit: killed by the kernel's "
                   f"OOM killer at the limit ({memory.describe()}){seen}")
    elif (_REFUSED.search(failure.message) or _REFUSED.search(failure.stderr_tail[-2000:])) \
            and (usage.hit or not memory.path):
        message = (f"{who} exceeded its {memory.mb} MB memory limit: an allocation was "
                   f"refused ({memory.describe()}){seen}")
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


def _optional(path: str, value: str) -> None:
    """Write a control file that a kernel may not have (no swap accounting, an old kernel)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        _write(path, value)


def _rmdir(path: str) -> bool:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError as exc:
        if exc.errno in (errno.EBUSY, errno.ENOTEMPTY):
            return False
        raise
    return True


def _sweep(home: str) -> None:
    """Remove the empty cgroups of drivers that died (``tandem-<pid>-<n>``, pid gone)."""
    try:
        names = os.listdir(home)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) != 3 or parts[0] != "tandem" or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid() or os.path.exists(f"/proc/{pid}"):
            continue
        parent = f"{home}/{name}"
        with contextlib.suppress(OSError):
            for child in os.listdir(parent):
                if os.path.isdir(f"{parent}/{child}"):
                    _rmdir(f"{parent}/{child}")
            _rmdir(parent)
