"""The local executable backend: each launched :class:`Executable` runs as a real local process.

Contract: spawn, pin, watch and end the processes of ``Executable`` tasks on this machine, and
report their starts and exits; never touch scheduler state. Imports: the standard library and
``tandem.errors``, ``tandem.core.values``, ``tandem.spec.task``, ``tandem.runtime.backend``.

Rules:

- A task is its whole process tree. The leader runs in its own process group (stdin /dev/null,
  stdout and stderr to the files ``stdout`` and ``stderr`` of its workdir). When the leader exits,
  whatever is left in its group is SIGKILLed. ``kill`` first collects the leader's descendants
  from ``/proc`` (so those that left the group with ``setsid`` die too), sends SIGTERM to the group
  and to them, and SIGKILL after ``kill_grace`` seconds; ``exited`` is reported once the leader is
  reaped and every remembered descendant is gone. Descendants are held by pidfd and the group is
  signalled only while its leader is unreaped (or a zombie), so a reused pid is never signalled.
  A descendant that left the group is only found by ``kill``; after a natural exit it is not ours.
- Pinning has no race: the calling thread's affinity is set to the placed cores around ``Popen``
  and the child inherits it at fork. A placement without cores gets the process's whole mask.
- Exits are events: a pidfd per leader is watched with ``loop.add_reader``; no polling, no sleeps.
- A task that cannot be started (missing executable, permission, bad cwd, bad cores) is reported,
  from a later loop callback, as exited with a ``LAUNCH`` failure; ``launch`` never raises for it.
- The launch path is hot: the base environment is built once, files are opened with ``os.open``,
  and no syscall is made that the rules above do not need.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

from tandem.core.values import Failure, FailureKind
from tandem.errors import BackendError, TandemInternalError
from tandem.runtime.backend import Backend, LaunchRequest, Outcome, Reporter, placement_env
from tandem.spec.task import Executable, Work

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
_TAIL_BYTES = 4096
_TAIL_LINES = 20
_SIGNALS = frozenset(s.value for s in signal.Signals)


@dataclass(slots=True, eq=False)
class _Proc:
    """One running task: its leader and, once it is being killed, its remembered descendants."""

    task_id: int
    argv0: str
    popen: subprocess.Popen[bytes]
    pidfd: int
    stderr_path: str
    reaped: bool = False
    code: int | None = None  # waitstatus_to_exitcode of the leader (negative: signal)
    killing: bool = False
    kids: dict[int, int] = field(default_factory=dict)  # pidfd -> pid
    timer: asyncio.TimerHandle | None = None


class ProcessBackend(Backend):
    """Runs executables as local processes, pinned to their placed cores."""

    name = "process"

    def __init__(self, *, kill_grace: float = 3.0) -> None:
        if kill_grace < 0:
            raise ValueError(f"ProcessBackend: kill_grace must be >= 0 seconds, got {kill_grace}")
        self._grace = kill_grace
        self._reporter: Reporter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mask: set[int] = set()
        self._base_env: dict[bytes, bytes] = {}
        self._devnull = -1
        self._procs: dict[int, _Proc] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def accepts(self, work: Work) -> bool:
        return isinstance(work, Executable)

    async def start(self, reporter: Reporter) -> None:
        self._reporter = reporter
        self._loop = asyncio.get_running_loop()
        self._mask = os.sched_getaffinity(0)
        self._base_env = dict(os.environb)
        if self._devnull < 0:
            self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    # -- launch ------------------------------------------------------------------------------

    def launch(self, request: LaunchRequest) -> None:
        loop, reporter = self._loop, self._reporter
        if loop is None or reporter is None:
            raise BackendError("ProcessBackend.launch called before start()")
        task_id, work = request.task_id, request.work
        if task_id in self._procs:
            raise TandemInternalError(f"ProcessBackend: task {task_id} launched while running")
        if not isinstance(work, Executable):
            self._fail_soon(task_id, f"task {request.name!r}: the process backend runs "
                            f"executables, not {type(work).__name__}")
            return
        argv = ("/bin/sh", "-c", work.argv[0]) if work.shell else work.argv
        placement = request.placement
        env = self._base_env.copy()  # bytes, so that Popen need not encode the inherited part
        fsencode = os.fsencode
        for key, value in placement_env(placement).items():
            env[fsencode(key)] = fsencode(value)
        for key, value in work.env.items():
            env[fsencode(key)] = fsencode(value)
        env[b"TANDEM_TASK_ID"] = b"%d" % task_id
        env[b"TANDEM_TASK_NAME"] = fsencode(request.name)
        workdir = os.fspath(request.workdir)
        cwd = work.cwd or workdir
        stderr_path = os.path.join(workdir, "stderr")
        out = err = -1
        try:
            try:
                os.mkdir(workdir)
            except FileExistsError:
                pass
            except FileNotFoundError:
                os.makedirs(workdir, exist_ok=True)
            out = os.open(os.path.join(workdir, "stdout"), _OPEN_FLAGS, 0o644)
            err = os.open(stderr_path, _OPEN_FLAGS, 0o644)
            cores = placement.cores
            pin = bool(cores) and set(cores) != self._mask  # else the saved mask is inherited
            if pin:
                try:
                    os.sched_setaffinity(0, cores)
                except OSError as exc:
                    self._fail_soon(task_id, f"task {request.name!r}: cannot pin to cores "
                                    f"{list(cores)}: {exc.strerror}")
                    return
            try:
                popen = subprocess.Popen(
                    argv, stdin=self._devnull, stdout=out, stderr=err, cwd=cwd, env=env,
                    close_fds=True, process_group=0,
                )
            finally:
                if pin:
                    os.sched_setaffinity(0, self._mask)
        except (OSError, ValueError, TypeError) as exc:
            self._fail_soon(task_id, f"task {request.name!r}: cannot launch {argv[0]!r}: "
                            f"{_describe(exc, argv[0])}")
            return
        finally:
            if out >= 0:
                os.close(out)
            if err >= 0:
                os.close(err)
        try:
            pidfd = os.pidfd_open(popen.pid)
        except OSError as exc:  # cannot watch it (out of fds): end it now
            _signal_group(popen.pid, signal.SIGKILL)
            popen.wait()
            self._fail_soon(task_id, f"task {request.name!r}: cannot watch {argv[0]!r}: {exc}")
            return
        proc = _Proc(task_id, argv[0], popen, pidfd, stderr_path)
        self._procs[task_id] = proc
        self._idle.clear()
        loop.add_reader(pidfd, self._on_exit, proc)
        reporter.started(task_id)

    def _fail_soon(self, task_id: int, message: str) -> None:
        assert self._loop is not None and self._reporter is not None
        failure = Failure(kind=FailureKind.LAUNCH, message=message)
        self._loop.call_soon(self._reporter.exited, Outcome(task_id, failure=failure))

    # -- exits -------------------------------------------------------------------------------

    def _on_exit(self, proc: _Proc) -> None:
        pid = proc.popen.pid
        # The leader has exited (its pidfd is readable) but is not reaped: its group id is ours.
        _signal_group(pid, signal.SIGKILL)
        try:
            wpid, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: the status is lost
            wpid, status = pid, -1
        if wpid == 0:
            return
        assert self._loop is not None
        self._loop.remove_reader(proc.pidfd)
        os.close(proc.pidfd)
        proc.reaped = True
        if status != -1:
            proc.code = os.waitstatus_to_exitcode(status)
        proc.popen.returncode = -1 if proc.code is None else proc.code
        self._maybe_finish(proc)

    def _on_kid_exit(self, proc: _Proc, fd: int) -> None:
        assert self._loop is not None
        self._loop.remove_reader(fd)
        os.close(fd)
        del proc.kids[fd]
        self._maybe_finish(proc)

    def _maybe_finish(self, proc: _Proc) -> None:
        if not proc.reaped or proc.kids:
            return
        if proc.timer is not None:
            proc.timer.cancel()
            proc.timer = None
        del self._procs[proc.task_id]
        if not self._procs:
            self._idle.set()
        assert self._reporter is not None
        self._reporter.exited(self._outcome(proc))

    def _outcome(self, proc: _Proc) -> Outcome:
        code, argv0 = proc.code, proc.argv0
        if code == 0:
            return Outcome(proc.task_id)
        if code is None:
            failure = Failure(kind=FailureKind.EXIT, message=f"{argv0}: exit status lost "
                              "(reaped by another waiter)")
        elif code < 0:
            name = signal.Signals(-code).name if -code in _SIGNALS else f"signal {-code}"
            reason = " (killed on request)" if proc.killing else ""
            failure = Failure(kind=FailureKind.SIGNAL, signal=-code,
                              stderr_tail=_tail(proc.stderr_path),
                              message=f"{argv0} was killed by {name}{reason}")
        else:
            failure = Failure(kind=FailureKind.EXIT, exit_code=code,
                              stderr_tail=_tail(proc.stderr_path),
                              message=f"{argv0} exited with code {code}")
        return Outcome(proc.task_id, failure=failure)

    # -- kill and shutdown -------------------------------------------------------------------

    def kill(self, task_id: int) -> None:
        proc = self._procs.get(task_id)
        if proc is not None and not proc.killing and not proc.reaped:
            self._terminate(proc, _child_lister())

    def _terminate(self, proc: _Proc, children: Callable[[int], list[int]]) -> None:
        loop = self._loop
        assert loop is not None
        proc.killing = True
        pid = proc.popen.pid
        for kid in _descendants(pid, children):
            try:
                fd = os.pidfd_open(kid)
            except OSError:
                continue
            proc.kids[fd] = kid
            loop.add_reader(fd, self._on_kid_exit, proc, fd)
        _signal_group(pid, signal.SIGTERM)
        for fd, kid in proc.kids.items():
            try:
                in_group = os.getpgid(kid) == pid
            except OSError:
                in_group = False
            if not in_group:
                _signal_pidfd(fd, signal.SIGTERM)
        proc.timer = loop.call_later(self._grace, self._escalate, proc)

    def _escalate(self, proc: _Proc) -> None:
        proc.timer = None
        if not proc.reaped:
            _signal_group(proc.popen.pid, signal.SIGKILL)
        for fd in proc.kids:
            _signal_pidfd(fd, signal.SIGKILL)

    async def shutdown(self) -> None:
        children = _child_lister()  # one /proc scan for all the trees
        for proc in list(self._procs.values()):
            if not proc.killing and not proc.reaped:
                self._terminate(proc, children)
        await self._idle.wait()
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1


def _describe(exc: BaseException, argv0: str) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        if exc.filename is not None and exc.filename != argv0:
            return f"{exc.strerror}: {exc.filename!r}"
        return exc.strerror
    return str(exc)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _signal_pidfd(fd: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        signal.pidfd_send_signal(fd, sig)


def _tail(path: str) -> str:
    """The last lines (at most ``_TAIL_LINES`` within ``_TAIL_BYTES``) of a file."""
    try:
        with open(path, "rb") as f:
            start = max(0, f.seek(0, os.SEEK_END) - _TAIL_BYTES)
            f.seek(start)
            data = f.read()
    except OSError:
        return ""
    lines = data.decode(errors="replace").splitlines()
    if start > 0:
        lines = lines[1:]  # the first line was cut
    return "\n".join(lines[-_TAIL_LINES:])


@functools.cache
def _has_children_files() -> bool:
    return os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _child_lister() -> Callable[[int], list[int]]:
    """A function giving the child pids of a pid: from ``/proc/<pid>/task/*/children`` where the
    kernel has it, else from one scan of ``/proc/*/stat``."""
    if _has_children_files():
        return _children_from_task_files
    table = _ppid_table()
    return lambda pid: table.get(pid, [])


def _descendants(root: int, children: Callable[[int], list[int]]) -> list[int]:
    """Pids of every descendant of ``root`` now (children of all its threads, recursively)."""
    found: list[int] = []
    todo = [root]
    seen = {root}
    while todo:
        for kid in children(todo.pop()):
            if kid not in seen:
                seen.add(kid)
                found.append(kid)
                todo.append(kid)
    return found


def _children_from_task_files(pid: int) -> list[int]:
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    kids: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                kids.extend(int(k) for k in f.read().split())
        except OSError:
            continue
    return kids


def _ppid_table() -> dict[int, list[int]]:
    """Parent pid -> child pids, from a scan of ``/proc/*/stat``."""
    table: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        table.setdefault(ppid, []).append(int(name))
    return table
