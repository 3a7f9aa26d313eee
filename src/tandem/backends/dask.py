"""Dask distributed as an engine for Python function tasks, placed exactly.

Contract: ``DaskBackend`` runs ``FunctionCall`` work on Dask workers it starts itself, one
worker process per distinct placement (node, core ids, GPU ids), and never uses Dask's logical
``resources``. It reports through the :class:`~tandem.backends.base.Reporter` like the other
backends and never touches scheduler state.
Imports: tandem.backends.base, tandem.backends.calls, tandem.backends.dask_cluster,
tandem.backends.dask_workers, tandem.backends.framing, tandem.backends.placement,
tandem.backends.worker_handle, tandem.core.values, tandem.errors, tandem.spec.

Rules:

- The cluster (:class:`~tandem.backends.dask_cluster.DaskCluster`): the scheduler, started
  on ``host`` (127.0.0.1) or given as ``address``, the client, and one worker process per
  placement (``--nthreads 1 --no-nanny``, started through a
  :class:`~tandem.backends.dask_workers.WorkerStarter`, pinned to exactly the placement's
  cores; ``CUDA_VISIBLE_DEVICES`` and the other :func:`~tandem.backends.placement.placement_env`
  variables fixed at start). A worker runs one task at a time: an idle worker of the same
  placement is reused, else one is started and its registration awaited; at most
  ``max_idle`` idle workers are kept.
- A call: ``client.submit(run_call, fn, args, kwargs, key=..., workers=[name],
  allow_other_workers=False, pure=False)`` from an asynchronous ``distributed.Client`` on the
  session's loop (the user's arguments are packed so that their names never collide with
  ``submit``'s). ``launch`` never blocks: each task is an asyncio task the backend owns
  (start or reuse the worker, submit, report ``started``, await the result or the worker's
  exit, whichever comes first); ``shutdown`` ends and awaits them all.
- Outcomes: the value (``exited``); ``EXCEPTION`` with the remote traceback text
  (:func:`~tandem.backends.calls.result_failure`); ``LAUNCH`` when the worker cannot start;
  ``WORKER_DIED`` when its process died; ``SIGNAL`` on ``kill`` (the worker's process group
  gets SIGTERM, SIGKILL after ``kill_grace``; ``exited`` is reported once it is gone, and the
  worker is forgotten: the next task of that placement gets a new one); ``CANCELLED`` at
  shutdown. A kill wins over a late result.
- ``shutdown`` cancels the tasks not yet on a worker, ends every worker, awaits the tasks,
  closes the client and ends the scheduler it started; no process outlives it.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tandem.backends.base import Backend, LaunchRequest, Outcome, Reporter
from tandem.backends.calls import result_failure, why
from tandem.backends.dask_cluster import DaskCluster, Key, Worker
from tandem.backends.dask_workers import LocalStarter, WorkerStarter, how
from tandem.backends.framing import ERROR, OK
from tandem.backends.placement import pin_cores, placement_env
from tandem.backends.worker_handle import EndReason
from tandem.core.values import Failure, FailureKind
from tandem.errors import BackendError
from tandem.spec.checks import check_count, check_seconds
from tandem.spec.platform import Platform
from tandem.spec.task import FunctionCall, Work


def run_call(fn: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[int, Any]:
    """On the worker: call ``fn`` (running a coroutine it returns) and return ``(OK, value)``,
    or ``(ERROR, (type name, message, traceback text))`` if it raised."""
    try:
        value = fn(*args, **kwargs)
        if inspect.iscoroutine(value):
            value = asyncio.run(value)
    except Exception as exc:
        return ERROR, (type(exc).__name__, str(exc), traceback.format_exc())
    return OK, value


class _Run:
    __slots__ = ("reason", "request", "task", "worker")

    def __init__(self, request: LaunchRequest) -> None:
        self.request = request
        self.task: asyncio.Task[None] | None = None
        self.worker: Worker | None = None
        self.reason: EndReason | None = None


class DaskBackend(Backend):
    """Runs ``FunctionCall`` tasks on Dask workers placed exactly; see the module docstring."""

    name = "dask"

    def __init__(self, *, log_dir: str | os.PathLike[str], address: str | None = None,
                 starter: WorkerStarter | None = None, kill_grace: float = 3.0,
                 max_idle: int | None = None, start_timeout: float = 60.0,
                 host: str = "127.0.0.1") -> None:
        where = "DaskBackend"
        ncores = len(os.sched_getaffinity(0))
        self._cluster = DaskCluster(
            log_dir=Path(log_dir), address=address,
            starter=starter if starter is not None else LocalStarter(),
            kill_grace=check_seconds(where, "kill_grace", kill_grace),
            max_idle=2 * ncores if max_idle is None else check_count(where, "max_idle", max_idle),
            start_timeout=check_seconds(where, "start_timeout", start_timeout, positive=True),
            host=host)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reporter: Reporter | None = None
        self._runs: dict[int, _Run] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ----------------------------------------------------------------------------- interface

    def accepts(self, work: Work) -> bool:
        return isinstance(work, FunctionCall)

    def unreachable(self, platform: Platform) -> str | None:
        return self._cluster.unreachable(platform)

    async def start(self, reporter: Reporter) -> None:
        self._loop = asyncio.get_running_loop()
        self._reporter = reporter
        await self._cluster.open()

    def launch(self, request: LaunchRequest) -> None:
        task_id = request.task_id
        if not isinstance(request.work, FunctionCall):
            self._fail_soon(task_id, f"{request.name}: the dask backend runs only FunctionCall "
                            f"work, got {type(request.work).__name__}")
            return
        if self._cluster.closing or self._cluster.client is None or self._loop is None:
            self._fail_soon(task_id, f"{request.name}: the dask backend is not running")
            return
        run = _Run(request)
        self._runs[task_id] = run
        task = self._loop.create_task(self._execute(run), name=f"dask:{request.name}")
        run.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def kill(self, task_id: int) -> None:
        run = self._runs.get(task_id)
        if run is None or run.reason is not None:
            return
        run.reason = EndReason.KILL
        if run.worker is None:   # its coroutine has not run yet: it never will
            assert run.task is not None
            run.task.cancel()
            del self._runs[task_id]
            failure = Failure(kind=FailureKind.SIGNAL,
                              message=f"{run.request.name}: killed before it started")
            self._loop.call_soon(self._report, task_id, failure)  # type: ignore[union-attr]
            return
        self._cluster.end(run.worker)

    async def shutdown(self) -> None:
        self._cluster.stop_workers()   # first: a launch from a report below is refused
        for task_id, run in list(self._runs.items()):
            if run.worker is None:
                assert run.task is not None
                run.task.cancel()
                del self._runs[task_id]
                self._report(task_id, Failure(kind=FailureKind.CANCELLED, message=(
                    f"{run.request.name}: cancelled by backend shutdown")))
            elif run.reason is None:
                run.reason = EndReason.SHUTDOWN
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._cluster.close()

    # ------------------------------------------------------------------------ observability

    @property
    def address(self) -> str | None:
        """The scheduler's address (``tcp://127.0.0.1:<port>`` for one it started)."""
        return self._cluster.address

    def scheduler_pid(self) -> int | None:
        """Pid of the scheduler process this backend started, if any."""
        return self._cluster.scheduler_pid()

    def worker_pids(self) -> list[int]:
        """Pids of the worker processes not yet reaped."""
        return self._cluster.worker_pids()

    # ------------------------------------------------------------------------------- a task

    async def _execute(self, run: _Run) -> None:
        request = run.request
        task_id, name = request.task_id, request.name
        placement = request.placement
        key: Key = (placement.node, pin_cores(placement, request.shared_cores), placement.gpus)
        cluster = self._cluster
        try:
            w = cluster.worker(key, placement_env(placement, request.shared_cores))
        except Exception as exc:
            del self._runs[task_id]
            self._fail(task_id, f"{name}: could not start a Dask worker: {why(exc)}")
            return
        run.worker = w
        proc = w.proc
        if not await cluster.register(w):
            if run.reason is None:
                cluster.end(w)
            rc = await proc.exited
            del self._runs[task_id]
            if run.reason is not None:
                self._report(task_id, self._ended(run, rc))
            else:
                self._fail(task_id, f"{name}: Dask worker {w.name} did not register with "
                           f"{cluster.address} within {cluster.start_timeout} s ({how(rc)}; "
                           f"log {proc.log_path})\n{proc.stderr_tail()}")
            return
        if run.reason is not None:   # killed while its worker started
            self._report(task_id, self._ended(run, await proc.exited))
            del self._runs[task_id]
            return
        work = request.work
        assert isinstance(work, FunctionCall)
        try:
            fut = cluster.client.submit(
                run_call, work.fn, tuple(work.args), dict(work.kwargs),
                key=f"tandem-{cluster.token}-{task_id}.{request.attempt}",
                workers=[w.name], allow_other_workers=False, pure=False)
        except Exception as exc:
            del self._runs[task_id]
            cluster.make_idle(w)
            self._fail(task_id, f"{name}: could not submit {work.label} to Dask: {why(exc)}")
            return
        self._reporter.started(task_id)  # type: ignore[union-attr]
        result = asyncio.ensure_future(_result(fut))
        try:
            await asyncio.wait((result, proc.exited), return_when=asyncio.FIRST_COMPLETED)
            if run.reason is None and result.done():
                del self._runs[task_id]
                cluster.make_idle(w)
                self._report_result(task_id, name, result)
                return
            rc = await proc.exited
            del self._runs[task_id]
            self._report(task_id, self._ended(run, rc))
        finally:
            if not result.done():
                result.cancel()
            fut.release()

    def _report_result(self, task_id: int, name: str, result: asyncio.Future[Any]) -> None:
        exc = result.exception()
        if exc is not None:   # Dask could not run it or send its result back
            self._report(task_id, Failure(kind=FailureKind.EXCEPTION,
                                          message=f"{name}: {why(exc)}"))
            return
        status, value = result.result()
        if status == OK:
            self._reporter.exited(Outcome(task_id, value))  # type: ignore[union-attr]
        else:
            self._report(task_id, result_failure(name, status, value))

    def _ended(self, run: _Run, rc: int) -> Failure:
        """Why ``run`` did not finish: its worker exited with ``rc``."""
        name = run.request.name
        w = run.worker
        assert w is not None
        sig = -rc if rc < 0 else None
        if run.reason is EndReason.KILL:
            kind, message = FailureKind.SIGNAL, f"{name}: killed: {how(rc)}"
        elif run.reason is EndReason.SHUTDOWN:
            kind, message = FailureKind.CANCELLED, f"{name}: cancelled by backend shutdown"
        else:
            kind = FailureKind.WORKER_DIED
            message = f"{name}: its Dask worker {w.name} (pid {w.proc.pid}) died: {how(rc)}"
        return Failure(kind=kind, message=message, exit_code=None if sig else rc, signal=sig,
                       stderr_tail=w.proc.stderr_tail())

    # ------------------------------------------------------------------------------ helpers

    def _report(self, task_id: int, failure: Failure) -> None:
        self._reporter.exited(Outcome(task_id, failure=failure))  # type: ignore[union-attr]

    def _fail(self, task_id: int, message: str) -> None:
        self._report(task_id, Failure(kind=FailureKind.LAUNCH, message=message))

    def _fail_soon(self, task_id: int, message: str) -> None:
        if self._loop is None:
            raise BackendError(f"{message} (the backend was not started)")
        self._loop.call_soon(self._fail, task_id, message)


async def _result(fut: Any) -> Any:
    return await fut
