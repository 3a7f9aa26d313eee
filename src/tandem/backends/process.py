"""The local executable backend: each launched :class:`Executable` runs as a real local process.

Contract: spawn, pin, watch and end the processes of ``Executable`` tasks on this machine, and
report their starts and exits; never touch scheduler state. It executes only the node that is
this machine (:func:`~tandem.backends.local.local_unreachable`).
Imports: tandem.guardian, tandem.backends.base, tandem.backends.exits, tandem.backends.launch,
tandem.backends.local, tandem.backends.memory, tandem.backends.node_workers,
tandem.backends.placement,
tandem.backends.process_task, tandem.backends.spawn, tandem.backends.stepsignal,
tandem.core.values, tandem.errors, tandem.spec.

Rules:

- A task is its whole process tree, held as a :class:`~tandem.backends.process_task.ProcessTask`
  (which says how it is reaped, ended, stopped and continued). The leader runs in its own
  session and process group (stdin /dev/null, stdout and stderr to the files ``stdout`` and
  ``stderr`` of its workdir: truncated at launch, appended to once the task was preempted, so that
  its output continues). ``kill`` sends SIGTERM to the tree and SIGKILL after ``kill_grace``
  seconds; ``exited`` is reported once the leader is reaped and every remembered descendant is
  gone.
- No orphan: every leader is watched by the guardian (:mod:`tandem.guardian`) from its spawn to
  its reaping, so if the driver dies (even by SIGKILL) the task's session and process group end.
- Pinning has no race: the calling thread's affinity is set to the task's cores around the
  spawn (:func:`tandem.backends.spawn.spawn`) and the child inherits it at fork. A task's cores are
  :func:`~tandem.backends.placement.pin_cores`: its placed cores, or for a task placed on no
  cores (``cores=0``) the request's ``shared_cores`` (cores of its node no task held when it was
  launched), never the whole mask while other tasks hold cores; ``OMP_NUM_THREADS`` counts
  them. Only a request with neither (from a driver that computes no shared cores) inherits
  the process's whole mask. ``resume`` with a placement re-pins a tree that holds cores; a
  ``cores=0`` tree keeps its shared cores.
- Steering: ``pause`` stops the tree (SIGSTOP); ``resume`` re-pins every thread of the tree
  when given a new placement, then continues it (SIGCONT); ``preempt`` sends its signal like
  ``kill`` sends SIGTERM, with its own grace period. With a ``remote`` launcher (``srun``) the
  signals go to the ranks where they run, through the launcher's command
  (:mod:`tandem.backends.stepsignal`), and the grace period ends with SIGKILL to the local
  leader (which ends the step).
- The environment says which attempt this is: ``TANDEM_ATTEMPT`` (from 1), ``TANDEM_PREEMPTED``
  (earlier attempts ended by a preemption) and ``TANDEM_TASK_DIR`` (the task's directory, the
  same for every attempt: where a checkpoint is found again).
- Memory (:mod:`tandem.backends.memory`): a task with ``memory_mb`` runs in a cgroup of its
  own limited to ``memory_mb`` per rank (where tandem can create one; else ``ulimit -d``, per
  process), joined by a ``/bin/sh`` before the program starts; with a ``remote`` launcher the
  launcher enforces it (``srun --mem``). A task that ended because of its limit fails
  ``MEMORY``. Its peak memory (``Outcome.peak_mb``) is the cgroup's, else the leader's
  ``ru_maxrss`` (its own and its reaped children's) when that exceeds the driver's own at the
  spawn (a child started from the driver counts the driver's pages until it execs).
- Exits are events: a pidfd per leader is watched with ``loop.add_reader``; no polling, no sleeps.
- A task that cannot be started (missing executable, permission, bad cwd, bad cores) is reported,
  from a later loop callback, as exited with a ``LAUNCH`` failure; ``launch`` never raises for it.
- The launch path is hot: the inherited environment is encoded once (at ``start``) and a
  placement's once, so a launch only encodes its own ``TANDEM_*`` values (and the task's
  ``env``); files are opened with ``os.open``, the process is started without a ``Popen``
  object, and no syscall is made that the rules above do not need.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
from collections.abc import Mapping

from tandem import guardian
from tandem.backends import spawn
from tandem.backends.base import Backend, LaunchRequest, Outcome, Reporter
from tandem.backends.exits import failure_of
from tandem.backends.launch import Launcher
from tandem.backends.local import local_unreachable
from tandem.backends.memory import LimitRefused, MemoryLimits, TaskMemory, mb
from tandem.backends.node_workers import driver_address
from tandem.backends.placement import pin_cores
from tandem.backends.process_task import ProcessTask, signal_group
from tandem.backends.stepsignal import Signaller
from tandem.core.values import Failure, FailureKind, Placement
from tandem.errors import BackendError, TandemInternalError
from tandem.spec.checks import check_seconds
from tandem.spec.platform import Platform
from tandem.spec.task import Executable, Work

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
_APPEND_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC


class ProcessBackend(Backend):
    """Runs executables as local processes, pinned to their placed cores."""

    name = "process"
    steerable = True

    def __init__(self, *, kill_grace: float = 3.0, launcher: Launcher | None = None,
                 memory: str | None = None) -> None:
        self._grace = check_seconds("ProcessBackend", "kill_grace", kill_grace)
        self._launcher = launcher
        remote = launcher is not None and launcher.remote
        self._memory = MemoryLimits("ProcessBackend", "off" if remote else memory)
        if launcher is not None:
            self.name = launcher.name
            self.multi_rank = launcher.multi_rank
            self.steerable = launcher.steerable
            self.repins = not launcher.remote
        self._signals = Signaller()
        self._reporter: Reporter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mask: set[int] = set()
        self._envs = spawn.Environments({})
        self._devnull = -1
        self._procs: dict[int, ProcessTask] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def accepts(self, work: Work) -> bool:
        return isinstance(work, Executable)

    def driver_host(self) -> str | None:
        launcher = self._launcher
        return driver_address() if launcher is not None and launcher.remote else None

    def unreachable(self, platform: Platform) -> str | None:
        if self._launcher is not None:
            return self._launcher.unreachable(platform)
        return local_unreachable(platform)

    async def start(self, reporter: Reporter) -> None:
        self._reporter = reporter
        self._loop = asyncio.get_running_loop()
        self._mask = os.sched_getaffinity(0)
        environ: Mapping[bytes, bytes] = os.environb
        if self._launcher is not None:
            environ = self._launcher.environ(environ)
        self._envs = spawn.Environments(environ)
        self._memory.start()
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
        if type(work) is not Executable and not isinstance(work, Executable):
            self._fail_soon(task_id, f"task {request.name!r}: the process backend runs "
                            f"executables, not {type(work).__name__}")
            return
        argv = ("/bin/sh", "-c", work.argv[0]) if work.shell else work.argv
        argv0 = argv[0]
        workdir = request.workdir
        launcher = self._launcher
        if launcher is None:
            cores = pin_cores(request.placement, request.shared_cores)
        else:
            try:
                command = launcher.command(request, argv)
            except ValueError as exc:
                self._fail_soon(task_id, f"task {request.name!r}: {exc}")
                return
            argv, cores = command.argv, command.pin
            if command.env:
                work = Executable(argv=work.argv, env={**work.env, **command.env},
                                  cwd=work.cwd, shell=work.shell)
        stderr_path = workdir + "/stderr"
        out = err = -1
        program = argv[0]
        memory: TaskMemory | None = None
        try:
            env, path = self._envs.of(request, work)
            if request.memory_mb is not None:
                memory = self._memory.open(request, processes=len(request.placement.slots))
                if memory is not None:
                    spawn.find_program(program, path, work.cwd or workdir)
                    argv = memory.wrap(argv)
            try:
                os.mkdir(workdir)
            except FileExistsError:
                pass
            except FileNotFoundError:
                os.makedirs(workdir, exist_ok=True)
            flags = _APPEND_FLAGS if request.preempted else _OPEN_FLAGS
            out = os.open(workdir + "/stdout", flags, 0o644)
            err = os.open(stderr_path, flags, 0o644)
            pin = bool(cores) and set(cores) != self._mask  # else the saved mask is inherited
            if pin:
                try:
                    os.sched_setaffinity(0, cores)
                except OSError as exc:
                    self._fail_soon(task_id, f"task {request.name!r}: cannot pin to cores "
                                    f"{list(cores)}: {exc.strerror}")
                    return
            try:
                pid = spawn.spawn(argv, env, work.cwd or workdir, self._devnull, out, err, path)
            finally:
                if pin:
                    os.sched_setaffinity(0, self._mask)
        except (OSError, ValueError, TypeError) as exc:
            if memory is not None:
                memory.remove()
            message = exc.args[0] if isinstance(exc, LimitRefused) else \
                f"cannot launch {program!r}: {_describe(exc, program)}"
            self._fail_soon(task_id, f"task {request.name!r}: {message}")
            return
        finally:
            if out >= 0:
                os.close(out)
            if err >= 0:
                os.close(err)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:  # cannot watch it (out of fds): end it now
            signal_group(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            if memory is not None:
                memory.remove()
            self._fail_soon(task_id, f"task {request.name!r}: cannot watch {program!r}: {exc}")
            return
        guardian.watch(pid)
        proc = ProcessTask(task_id, argv0, pid, pidfd, stderr_path, memory=memory,
                     base_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        self._procs[task_id] = proc
        self._idle.clear()
        loop.add_reader(pidfd, self._on_exit, proc)
        reporter.started(task_id)

    def _fail_soon(self, task_id: int, message: str) -> None:
        assert self._loop is not None and self._reporter is not None
        failure = Failure(kind=FailureKind.LAUNCH, message=message)
        self._loop.call_soon(self._reporter.exited, Outcome(task_id, failure=failure))

    # -- exits -------------------------------------------------------------------------------

    def _on_exit(self, proc: ProcessTask) -> None:
        assert self._loop is not None
        if proc.reap(self._loop):
            self._maybe_finish(proc)

    def _on_kid_exit(self, proc: ProcessTask, fd: int) -> None:
        assert self._loop is not None
        proc.forget(self._loop, fd)
        self._maybe_finish(proc)

    def _maybe_finish(self, proc: ProcessTask) -> None:
        if not proc.gone:
            return
        proc.cancel_timer()
        del self._procs[proc.task_id]
        if not self._procs:
            self._idle.set()
        assert self._reporter is not None
        self._reporter.exited(self._outcome(proc))

    def _outcome(self, proc: ProcessTask) -> Outcome:
        failure = failure_of(proc.code, proc.argv0, proc.stderr_path, killing=proc.killing,
                             launcher=self._launcher)
        peak = proc.rss * 1024 if proc.rss > proc.base_rss else None
        if proc.memory is None:
            return Outcome(proc.task_id, failure=failure, peak_mb=mb(peak))
        failure, peak_mb = self._memory.finish(proc.memory, failure, peak=peak,
                                               killing=proc.killing, who=proc.argv0)
        return Outcome(proc.task_id, failure=failure, peak_mb=peak_mb)

    # -- kill and shutdown -------------------------------------------------------------------

    def kill(self, task_id: int) -> None:
        proc = self._procs.get(task_id)
        if proc is not None and not proc.killing and not proc.reaped:
            self._terminate(proc)

    def _terminate(self, proc: ProcessTask, sig: int = signal.SIGTERM,
                   grace: float | None = None) -> None:
        assert self._loop is not None
        proc.terminate(self._loop, sig, self._grace if grace is None else grace,
                       self._on_kid_exit)

    # -- steering ----------------------------------------------------------------------------

    def _remote(self, proc: ProcessTask, sig: int, *, cont: bool = False) -> bool:
        """Signal ``proc``'s ranks where they run (after a SIGCONT when ``cont``) if the
        launcher says how; ``False`` when signalling the tree here reaches them."""
        launcher = self._launcher
        argv = launcher.signal_argv(proc.task_id, sig) if launcher is not None else None
        if argv is None:
            return False
        if cont:
            self._remote(proc, signal.SIGCONT)
        self._signals.send(proc.task_id, argv, proc.stderr_path)
        return True

    def pause(self, task_id: int) -> None:
        proc = self._procs.get(task_id)
        if proc is None or proc.reaped or proc.killing:
            return
        if self._remote(proc, signal.SIGSTOP):
            proc.stopped = True
            return
        proc.stop()

    def resume(self, task_id: int, placement: Placement | None = None) -> None:
        proc = self._procs.get(task_id)
        if proc is None or proc.reaped:
            return
        if self._remote(proc, signal.SIGCONT):
            proc.stopped = False
            return
        proc.cont(placement)

    def preempt(self, task_id: int, sig: int, grace: float) -> None:
        proc = self._procs.get(task_id)
        if proc is None or proc.killing or proc.reaped:
            return
        if self._remote(proc, sig, cont=proc.stopped):   # the ranks get it where they run
            proc.killing, proc.stopped = True, False
            assert self._loop is not None
            proc.escalate_after(self._loop, grace)
            return
        self._terminate(proc, sig, grace)

    async def shutdown(self) -> None:
        for proc in list(self._procs.values()):
            if not proc.killing and not proc.reaped:
                self._terminate(proc)
        await self._idle.wait()
        await self._signals.drain()
        await self._memory.aclose()
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1


def _describe(exc: BaseException, argv0: str) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        if exc.filename is not None and exc.filename != argv0:
            return f"{exc.strerror}: {exc.filename!r}"
        return exc.strerror
    return str(exc)
