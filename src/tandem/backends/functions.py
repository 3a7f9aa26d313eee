"""Warm worker processes for Python function tasks (the main-process side).

Contract: ``FunctionBackend`` runs ``FunctionCall`` work in long-lived worker processes
(``tandem.backends.worker``), so imports and loaded models stay warm between tasks. Without a
launcher it executes only the node that is this machine
(:func:`~tandem.backends.local.local_unreachable`), its workers talking over pipes. With an
:class:`~tandem.backends.srun.Srun` launcher (inside a Slurm allocation) it executes every node
of the allocation: each worker is a long-lived job step on the node a call was placed on,
connected back over TCP (``node_workers``), and idle workers are kept per (node, GPU set).
Its parts: ``calls`` (a call's frame out and failure back), ``framing`` (wire format),
``function_pool`` (the worker processes: spawned, idle, steered, ended), ``worker_handle`` (one
worker process), ``idle`` (the idle ones), ``proctree`` (re-pinning a worker's tree),
``node_workers`` (workers as job steps).
Imports: tandem.backends.base, tandem.backends.calls, tandem.backends.framing,
tandem.backends.function_pool, tandem.backends.idle, tandem.backends.local,
tandem.backends.memory, tandem.backends.node_workers, tandem.backends.placement,
tandem.backends.srun,
tandem.backends.worker, tandem.backends.worker_handle, tandem.core.values, tandem.data.refs,
tandem.errors, tandem.spec.

Rules:

- It only picks a process: placement was decided by the core. A worker is started for one GPU
  set (its ``CUDA/ROCR/HIP_VISIBLE_DEVICES`` fixed at spawn, empty for CPU-only workers) and
  only runs tasks placed on exactly that set; cores are pinned per call by the worker (the
  call carries cores only when they differ from the worker's last call, and the worker
  re-pins every thread then). A task's cores are :func:`~tandem.backends.placement.pin_cores`:
  its placed cores, or for a task placed on no cores (``cores=0``) the request's
  ``shared_cores``, never the whole mask while other tasks hold cores (only a request with
  neither gets the worker's mask at start). Idle workers are kept per GPU set (one pinned to
  the same cores is preferred); with none, a worker is spawned and the call waits for its
  ready message. Beyond ``max_idle`` idle workers, the longest idle of another GPU set is
  retired.
- Event-driven only: ``add_reader`` on each worker's result pipe and on its pidfd (exit), a
  pending buffer plus ``add_writer`` when a pipe is full. No threads polling, no sleeps.
- ``started`` is reported (``call_soon``) once the call has been written to its worker; for a
  task queued on a worker still starting, that is when the worker says it is ready.
- A task's own problems never raise from ``launch``: they are reported as exited
  (``LAUNCH`` when it could not be sent, ``EXCEPTION`` when it raised, ``WORKER_DIED`` when its
  worker died, ``SIGNAL`` when killed, ``CANCELLED`` when ``shutdown`` ended it). A dead or
  killed worker is discarded, never reused; once ``kill`` was called, a late result is dropped.
- A function object is pickled once (cloudpickle) and cached by identity, so its state is
  captured at its first launch; each worker receives its bytes once (``calls``).
- No worker outlives ``shutdown``; when a worker exits, what is left of its process group is
  killed before it is reaped.
- Steering: a worker runs one task, so pausing a task stops its worker's process group
  (SIGSTOP); resuming continues it, after re-pinning every thread of the worker's tree when the
  task was placed again (the next call then sends its placement again). A preempted task's
  worker gets the signal (a Python handler in the task can write a checkpoint) and is ended
  when the call returns or after the grace period; the call runs again later, in a worker
  whose ``TANDEM_ATTEMPT`` and ``TANDEM_PREEMPTED`` say so (every worker has them; ``1`` and
  ``0`` for a first attempt).
- Memory (:mod:`tandem.backends.memory`): a call with ``memory_mb`` runs limited to it — the
  memory it adds to its worker: the worker joins the call's own cgroup for the call, or lowers
  its ``RLIMIT_DATA`` (``tandem.backends.worker``) — and ends ``MEMORY`` when the limit is why it
  failed (a ``MemoryError`` under ``RLIMIT_DATA``, its worker killed by the OOM killer); its
  ``Outcome.peak_mb`` is what it added at its peak. Calls without ``memory_mb`` are not
  measured. On an allocation, memory is not enforced per call.
- Results by reference (:meth:`keep_results`, called by the session before ``start``): the
  workers write results from the given size (or of calls with ``ref=True``) to segments in the
  session's directory and the outcome's value is a :class:`~tandem.data.refs.Kept` naming it
  (``tandem.backends.worker``); ``received_bytes`` counts what came through the pipes. On an
  allocation, a node's workers keep results only when they see the session's directory (the
  node shares this host's memory: a worker's ``READY`` says); a call placed on a node whose
  workers do not (or have not said yet) gets kept arguments by value
  (:func:`~tandem.backends.calls.dump_args_inline`).
- On an allocation (a launcher) a call runs on its placed node, pinned per call as above,
  seeing the GPU set its worker step was started with; kill and worker death are
  ``node_workers``' rules. Such a backend is not steerable (``steerable`` is false).
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import sys
from pathlib import Path

from tandem.backends.base import Backend, LaunchRequest, Outcome, Reporter
from tandem.backends.calls import CallError, Calls, result_failure, why
from tandem.backends.framing import (
    INIT,
    KEPT,
    OK,
    PROTOCOL,
    READY,
    SETUP,
    UNPICKLABLE,
    frame,
)
from tandem.backends.function_pool import WorkerPool
from tandem.backends.idle import IdleWorkers, Key
from tandem.backends.local import local_unreachable
from tandem.backends.memory import LimitRefused, MemoryLimits, TaskMemory
from tandem.backends.node_workers import NodeWorkers
from tandem.backends.placement import pin_cores
from tandem.backends.srun import Srun
from tandem.backends.worker import LIMIT, PEAK
from tandem.backends.worker_handle import EndReason, WorkerHandle, WorkerState
from tandem.core.values import Failure, FailureKind, Placement
from tandem.data.refs import Kept
from tandem.errors import BackendError
from tandem.spec.checks import check_count, check_seconds
from tandem.spec.platform import Platform
from tandem.spec.task import FunctionCall, Work


class FunctionBackend(Backend):
    """Runs ``FunctionCall`` tasks in warm worker processes; see the module docstring.

    ``log_dir`` receives ``worker-<n>.out``/``.err`` of every worker. ``prespawn`` CPU workers
    (default: one per usable core) are started by ``start``; at most ``max_idle`` workers
    (default: two per core) are kept idle. A killed task's worker gets SIGTERM, then SIGKILL
    after ``kill_grace`` seconds.

    ``launcher``: run the workers as job steps of the allocation it launches in
    (``Srun.of(platform)``); ``prespawn`` then counts CPU workers per node, ``max_idle``
    defaults to two per core per node (cores of this machine), and workers connect back to
    ``driver_address`` (default ``$TANDEM_DRIVER_ADDRESS``, else this host's name resolved).
    """

    name = "functions"
    steerable = True

    def __init__(self, log_dir: str | os.PathLike[str], *, prespawn: int | None = None,
                 max_idle: int | None = None, kill_grace: float = 3.0,
                 start_timeout: float = 120.0, launcher: Srun | None = None,
                 driver_address: str | None = None, memory: str | None = None) -> None:
        ncores = len(os.sched_getaffinity(0))
        where = "FunctionBackend"
        self._log_dir = Path(log_dir)
        self._nodes = None if launcher is None else NodeWorkers(
            launcher, self._log_dir, address=driver_address, hello_timeout=start_timeout)
        nodes = 1 if launcher is None else len(launcher.nodes)
        if launcher is not None:
            self.steerable = False   # signals cannot reach a worker on another node
        self._prespawn = ncores if prespawn is None else check_count(where, "prespawn", prespawn)
        self._pool = WorkerPool(self._log_dir, IdleWorkers(
            2 * ncores * nodes if max_idle is None else check_count(where, "max_idle", max_idle)),
            check_seconds(where, "kill_grace", kill_grace), self._nodes)
        self._start_timeout = check_seconds(where, "start_timeout", start_timeout,
                                            positive=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reporter: Reporter | None = None
        self._running: dict[int, WorkerHandle] = {}
        self._calls = Calls()
        self._memory = MemoryLimits(where, "off" if launcher is not None else memory)
        self._keep: tuple[str | None, int | None] = (None, None)
        self._sees: dict[str, bool] = {}    # node -> its workers see the kept results
        #: Bytes read from workers (results, failures, messages), framing included.
        self.received_bytes = 0

    # ----------------------------------------------------------------------------- interface

    def accepts(self, work: Work) -> bool:
        return isinstance(work, FunctionCall)

    def keep_results(self, directory: str, above: int | None) -> bool:
        self._keep = (directory, above)
        return True

    def driver_host(self) -> str | None:
        return None if self._nodes is None else self._nodes.driver_host()

    def unreachable(self, platform: Platform) -> str | None:
        if self._nodes is not None:
            return self._nodes.unreachable(platform)
        return local_unreachable(platform)

    async def start(self, reporter: Reporter) -> None:
        self._loop = asyncio.get_running_loop()
        self._reporter = reporter
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self._memory.start()
        self._pool.bind(self._loop, frame(pickle.dumps((INIT, list(sys.path), *self._keep),
                                                       PROTOCOL)), self._on_readable, self._on_exit)
        keys: list[Key] = [()] * self._prespawn
        if self._nodes is not None:
            self._nodes.open(self._loop)
            keys = self._nodes.prespawn_keys(self._prespawn)
        workers = [self._pool.spawn(key) for key in keys]
        readies = [self._loop.create_future() for _ in workers]
        for w, ready in zip(workers, readies, strict=True):
            w.ready = ready
        try:
            if self._nodes is None or not readies:
                await asyncio.wait_for(asyncio.gather(*readies), self._start_timeout)
            else:  # on an allocation, a node that fails does not stop the others
                done, _ = await asyncio.wait(readies, timeout=self._start_timeout)
                errors = [f.exception() for f in done]
                if not any(e is None for e in errors):
                    raise errors[0] if errors and errors[0] else TimeoutError
        except TimeoutError:
            raise BackendError(f"function workers did not start within "
                               f"{self._start_timeout} s (logs in {self._log_dir})") from None
        finally:
            for w in workers:  # nobody awaits them any more
                if w.ready is not None and w.ready.done() and not w.ready.cancelled():
                    w.ready.exception()
                w.ready = None

    def launch(self, request: LaunchRequest) -> None:
        task_id = request.task_id
        work = request.work
        if type(work) is not FunctionCall and not isinstance(work, FunctionCall):
            self._fail_soon(task_id, f"{request.name}: the function backend runs only "
                            f"FunctionCall work, got {type(work).__name__}")
            return
        if self._pool.closing or self._loop is None:
            self._fail_soon(task_id, f"{request.name}: the function backend is not running")
            return
        calls = self._calls
        placement = request.placement
        # A node whose workers cannot see the kept results gets their values in the call.
        inline = self._nodes is not None and self._keep[0] is not None \
            and not self._sees.get(placement.slots[0].node, False)
        try:
            entry, payload = calls.prepare(request, work, inline)
        except CallError as exc:
            self._fail_soon(task_id, exc.args[0])
            return
        memory: TaskMemory | None = None
        if request.memory_mb is not None:
            try:
                memory = self._memory.open(request)
            except LimitRefused as exc:
                self._fail_soon(task_id, f"{request.name}: {exc.args[0]}")
                return
        if self._nodes is None:
            key: Key = placement.slots[0].gpus
        else:
            slot = placement.slots[0]
            key = (slot.node, slot.gpus)
        cores = pin_cores(placement, request.shared_cores)
        w = self._pool.idle.take(key, cores)
        if w is None:
            try:
                w = self._pool.spawn(key)
            except Exception as exc:
                if memory is not None:
                    memory.remove()
                self._fail_soon(task_id, f"{request.name}: could not start a function worker: "
                                f"{why(exc)}")
                return
        data = calls.frame(w, request, entry, payload, cores)
        if memory is not None:
            data = frame(pickle.dumps((LIMIT, *memory.message()), PROTOCOL)) + data
        w.memory, w.peak = memory, None
        w.task_id = task_id
        w.task_name = request.name
        self._running[task_id] = w
        if w.state is WorkerState.STARTING:
            w.queued = data
        else:
            w.state = WorkerState.BUSY
            w.send(data)
            self._loop.call_soon(self._reporter.started, task_id)  # type: ignore[union-attr]

    def kill(self, task_id: int) -> None:
        w = self._running.get(task_id)
        if w is None or w.kill_reason is not None:
            return
        if w.state is WorkerState.STARTING:  # never sent: drop it, the worker stays for others
            del self._running[task_id]
            w.queued = None
            w.task_id = None
            w.known.clear()  # the dropped call carried its function and placement
            w.cores = w.node = None
            if w.memory is not None:   # nothing joined it
                w.memory.remove()
                w.memory = None
            failure = Failure(kind=FailureKind.SIGNAL,
                              message=f"{w.task_name}: killed before it started")
            self._loop.call_soon(self._report, task_id, failure)  # type: ignore[union-attr]
            return
        w.kill_reason = EndReason.KILL
        self._pool.terminate(w)

    def pause(self, task_id: int) -> None:
        w = self._running.get(task_id)
        if w is not None and w.kill_reason is None:
            self._pool.pause(w)

    def resume(self, task_id: int, placement: Placement | None = None) -> None:
        w = self._running.get(task_id)
        if w is not None and not w.dead:
            self._pool.resume(w, placement)

    def preempt(self, task_id: int, sig: int, grace: float) -> None:
        w = self._running.get(task_id)
        if w is None or w.kill_reason is not None:
            return
        if w.state is WorkerState.STARTING:   # never sent: as a kill, the call runs again later
            self.kill(task_id)
            return
        w.kill_reason = EndReason.PREEMPT
        self._pool.preempt(w, sig, grace)

    async def shutdown(self) -> None:
        pool = self._pool
        pool.closing = True
        workers = list(pool.workers)
        for w in workers:
            if w.dead or w.state is WorkerState.GONE:
                continue
            if w.task_id is not None:
                if w.kill_reason is None:
                    w.kill_reason = EndReason.SHUTDOWN
                    pool.terminate(w)
            else:
                pool.retire(w)
        if workers:
            await asyncio.gather(*(w.exited for w in workers))
        await self._memory.aclose()
        if self._nodes is not None:
            self._nodes.close()

    # ------------------------------------------------------------------------ observability

    @property
    def listen_address(self) -> tuple[str, int] | None:
        """Where workers on an allocation's nodes connect (``None``: none, or not started)."""
        return None if self._nodes is None else self._nodes.address

    def worker_pids(self) -> list[int]:
        """Pids of the worker processes not yet reaped (for workers on an allocation's nodes,
        of their local ``srun``)."""
        return self._pool.pids()

    def worker_pid(self, task_id: int) -> int | None:
        """Pid of the worker running (or about to run) ``task_id``."""
        w = self._running.get(task_id)
        return None if w is None else w.pid

    # ---------------------------------------------------------------------------------- I/O

    def _on_readable(self, w: WorkerHandle) -> None:
        frames = w.read()
        if frames:  # None at end of file: the worker is exiting; its pidfd reports the exit
            self.received_bytes += sum(len(b) for b in frames) + 8 * len(frames)
            for body in frames:
                self._on_frame(w, body)
        elif frames is None and w.remote:  # its step should end by itself, else it is ended
            w.lost(self._pool.kill_grace)

    def _on_frame(self, w: WorkerHandle, body: bytes | bytearray) -> None:
        try:
            status, value = pickle.loads(body)
        except Exception as exc:
            status, value = UNPICKLABLE, f"result could not be unpickled: {why(exc)}"
        task_id = w.task_id
        if status == PEAK:
            w.peak = value
            return
        if status == KEPT:
            status, value = OK, Kept(*value)
        if status == READY:
            w.remote_pid, sees = value
            if self._nodes is not None:
                self._sees[w.key[0]] = sees     # a node worker's key: (node, GPUs)
            self._on_ready(w)
            return
        if task_id is None or w.kill_reason is not None:  # a kill wins over a late result
            if w.kill_reason is EndReason.PREEMPT:   # it checkpointed and returned: end it now
                w.signal(signal.SIGKILL)
            return
        w.task_id = None
        del self._running[task_id]
        if status == SETUP:  # the worker's placement is unknown now: send it again next time
            w.cores = None
        if w.dead:
            w.state = WorkerState.GONE
        else:
            self._pool.make_idle(w)
        reporter = self._reporter
        assert reporter is not None
        memory, w.memory = w.memory, None
        if status == OK and memory is None:
            reporter.exited(Outcome(task_id, value))
            return
        failure = None if status == OK else result_failure(w.task_name, status, value)
        reporter.exited(self._memory.outcome(task_id, value, failure, memory, peak=w.peak,
                                             who=w.task_name))

    def _on_ready(self, w: WorkerHandle) -> None:
        if w.dead:  # it exited right after saying so: its exit is being handled
            return
        if w.ready is not None and not w.ready.done():
            w.ready.set_result(None)
        if w.state is not WorkerState.STARTING:
            return
        if w.queued is not None:
            data, w.queued = w.queued, None
            w.state = WorkerState.BUSY
            w.send(data)
            self._reporter.started(w.task_id)  # type: ignore[union-attr,arg-type]
        else:
            self._pool.make_idle(w)

    def _on_exit(self, w: WorkerHandle) -> None:
        w.dead = True
        try:  # what it wrote before it died comes first (a result beats the death)
            while w.rfd >= 0:
                frames = w.read()
                if not frames:
                    break
                for body in frames:
                    self._on_frame(w, body)
        finally:  # a reporter that raised must not leave the worker unreaped
            rc = self._pool.forget(w)
            task_id = w.task_id
            w.task_id = None
            w.queued = None
            if task_id is not None:
                del self._running[task_id]
            if w.ready is not None and not w.ready.done():
                w.ready.set_exception(BackendError(
                    f"function worker {w.pid} exited with status {rc} while starting"
                    f"\n{w.stderr_tail()}"))
            w.exited.set_result(rc)
            memory, w.memory = w.memory, None
            if task_id is not None:
                self._reporter.exited(self._memory.outcome(  # type: ignore[union-attr]
                    task_id, None, w.exit_failure(rc), memory,
                    killing=w.kill_reason is not None, who=w.task_name))
            elif memory is not None:
                memory.remove()

    # ------------------------------------------------------------------------------ helpers

    def _report(self, task_id: int, failure: Failure) -> None:
        self._reporter.exited(Outcome(task_id, failure=failure))  # type: ignore[union-attr]

    def _fail_soon(self, task_id: int, message: str) -> None:
        failure = Failure(kind=FailureKind.LAUNCH, message=message)
        if self._loop is None:
            raise BackendError(f"{message} (the backend was not started)")
        self._loop.call_soon(self._report, task_id, failure)
