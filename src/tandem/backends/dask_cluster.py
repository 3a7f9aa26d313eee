"""The Dask cluster a ``DaskBackend`` runs on: its scheduler (started here or given), the
client's connection, and the workers it starts, one per placement, kept idle for reuse.

Contract: :class:`DaskCluster` owns every process and connection of the Dask backend; it knows
nothing of tasks (:class:`~tandem.backends.dask.DaskBackend` submits them and reports their
outcomes). Never touches scheduler state.
Imports: tandem.backends.calls, tandem.backends.dask_workers, tandem.errors, tandem.spec.

Rules:

- Scheduler: without ``address`` the cluster starts ``python -m distributed.cli.dask_scheduler``
  on ``host`` (127.0.0.1) port 0 with a scheduler file in ``log_dir``, waits (bounded) for its
  "Scheduler at:" line, reads the address from the file, and ends it by its process group at
  :meth:`~DaskCluster.close`. With ``address`` it connects to that scheduler; its workers
  connect there too, and tandem submits only to workers it started itself, so placement stays
  exact.
- Workers: ``--nthreads 1 --no-nanny``, named ``tandem-<node>-c<cores>-g<gpus>-<session>.<n>``,
  started through a :class:`~tandem.backends.dask_workers.WorkerStarter` (pinned to exactly
  the placement's cores; the environment the backend gives fixed at start). A worker runs one
  task at a time: an idle worker of the same placement is reused, else one is started and its
  "Registered to:" line awaited (:meth:`~DaskCluster.register`). At most ``max_idle`` idle
  workers are kept; beyond that the oldest is retired. A worker that exited is forgotten.
- :meth:`~DaskCluster.stop_workers` then :meth:`~DaskCluster.close` end every worker, close
  the client and end the scheduler it started; no process outlives them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tandem.backends.calls import why
from tandem.backends.dask_workers import Proc, WorkerStarter, wait_marked, worker_environment
from tandem.errors import BackendError
from tandem.spec.platform import Platform

#: A worker's placement: node, core ids (pinned), GPU ids.
Key = tuple[str, tuple[int, ...], tuple[str, ...]]


class Worker:
    """One Dask worker process this cluster started, on one placement."""

    __slots__ = ("key", "name", "proc", "registered")

    def __init__(self, key: Key, name: str, proc: Proc) -> None:
        self.key = key
        self.name = name
        self.proc = proc
        self.registered = False


class DaskCluster:
    """The scheduler, the client and the placed workers of one ``DaskBackend``."""

    def __init__(self, *, log_dir: Path, address: str | None, starter: WorkerStarter,
                 kill_grace: float, max_idle: int, start_timeout: float, host: str) -> None:
        self.start_timeout = start_timeout
        self.token = uuid.uuid4().hex[:8]    # names this session's workers and task keys
        self._log_dir = log_dir
        self._given_address = address
        self._starter = starter
        self._kill_grace = kill_grace
        self._max_idle = max_idle
        self._host = host
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._scheduler: Proc | None = None
        self._address: str | None = None
        self._closing = False
        self._serial = 0
        self._workers: dict[Worker, None] = {}
        self._idle: dict[Worker, None] = {}      # oldest first

    @property
    def client(self) -> Any:
        """The asynchronous ``distributed.Client``; ``None`` before :meth:`open` and after
        :meth:`close`."""
        return self._client

    @property
    def address(self) -> str | None:
        """The scheduler's address (``tcp://127.0.0.1:<port>`` for one it started)."""
        return self._address

    @property
    def closing(self) -> bool:
        return self._closing

    def unreachable(self, platform: Platform) -> str | None:
        """Why this cluster's workers cannot be started on ``platform``'s nodes, if so."""
        return self._starter.unreachable(platform)

    def scheduler_pid(self) -> int | None:
        """Pid of the scheduler process this cluster started, if any."""
        return None if self._scheduler is None else self._scheduler.pid

    def worker_pids(self) -> list[int]:
        """Pids of the worker processes not yet reaped."""
        return [w.proc.pid for w in self._workers]

    async def open(self) -> None:
        """Start the scheduler (without ``address``) and connect the client to it."""
        try:
            from distributed import Client
        except ImportError:
            raise BackendError("the Dask backend needs the distributed package "
                               "(pip install 'tandem[dask]')") from None
        self._loop = asyncio.get_running_loop()
        self._log_dir.mkdir(parents=True, exist_ok=True)
        address = self._given_address
        try:
            if address is None:
                address = await self._start_scheduler()
            self._address = address
            self._client = await Client(  # type: ignore[no-untyped-call]
                address, asynchronous=True, set_as_default=False, timeout=self.start_timeout)
        except BaseException as exc:
            await self._end_scheduler()
            if isinstance(exc, BackendError) or not isinstance(exc, Exception):
                raise
            raise BackendError(f"could not connect to the Dask scheduler at {address}: "
                               f"{why(exc)}") from None

    # ------------------------------------------------------------------------------ workers

    def worker(self, key: Key, env: Mapping[str, str]) -> Worker:
        """An idle worker of placement ``key``, else a new one started with ``env`` (raises
        if it cannot be started)."""
        for w in self._idle:
            if w.key == key:
                del self._idle[w]
                return w
        return self._spawn(key, env)

    async def register(self, w: Worker) -> bool:
        """Wait (bounded) until ``w`` registered with the scheduler; ``False`` if it did not."""
        if not w.registered:
            if await wait_marked(w.proc, self.start_timeout) is None:
                return False
            w.registered = True
        return True

    def end(self, w: Worker) -> None:
        """SIGTERM to ``w``'s process group, SIGKILL after the grace period."""
        w.proc.terminate(self._kill_grace)

    def make_idle(self, w: Worker) -> None:
        """``w`` finished its task: keep it for the next one of its placement, retiring the
        oldest idle worker beyond ``max_idle``, or end it when it cannot be reused."""
        if self._closing or w.proc.ending or w.proc.exited.done():
            self.end(w)
            return
        self._idle[w] = None
        while len(self._idle) > self._max_idle:
            oldest = next(iter(self._idle))
            del self._idle[oldest]
            self.end(oldest)

    def _spawn(self, key: Key, env: Mapping[str, str]) -> Worker:
        assert self._loop is not None and self._address is not None
        node, cores, gpus = key
        self._serial += 1
        name = (f"tandem-{node}-c{','.join(map(str, cores))}-g{','.join(gpus)}-"
                f"{self.token}.{self._serial}")
        local_dir = self._log_dir / name
        argv = [sys.executable, "-m", "distributed.cli.dask_worker", self._address,
                "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                "--host", self._host, "--memory-limit", "0",
                "--local-directory", str(local_dir)]
        full_env = {**worker_environment(), **env}
        command, run_env = self._starter.command(node, cores, gpus, argv, full_env, name=name)
        proc = Proc(self._loop, command, run_env, self._log_dir / f"{name}.log",
                    "Registered to:")
        w = Worker(key, name, proc)
        self._workers[w] = None
        proc.exited.add_done_callback(lambda _: self._forget(w))
        return w

    def _forget(self, w: Worker) -> None:
        self._workers.pop(w, None)
        self._idle.pop(w, None)

    # ---------------------------------------------------------------------------- closing

    def stop_workers(self) -> None:
        """No worker is reused from now on; every worker is ended."""
        self._closing = True
        for w in self._workers:
            self.end(w)

    async def close(self) -> None:
        """After :meth:`stop_workers`: await the workers' exits, close the client, end the
        scheduler this cluster started."""
        workers = list(self._workers)
        for w in workers:   # ended already, unless one started since (ending is idempotent)
            self.end(w)
        if workers:
            await asyncio.gather(*(w.proc.exited for w in workers))
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):   # the scheduler may be gone already
                await client.close()
        await self._end_scheduler()

    # ---------------------------------------------------------------------------- scheduler

    async def _start_scheduler(self) -> str:
        assert self._loop is not None
        file = self._log_dir / "scheduler.json"
        file.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", self._host,
                "--port", "0", "--no-dashboard", "--scheduler-file", str(file)]
        log = self._log_dir / "scheduler.log"
        try:
            proc = Proc(self._loop, argv, worker_environment(), log, "Scheduler at:")
        except OSError as exc:
            raise BackendError(f"could not start the Dask scheduler: {why(exc)}") from None
        self._scheduler = proc
        line = await wait_marked(proc, self.start_timeout)
        if line is None:
            raise BackendError(f"the Dask scheduler did not start within {self.start_timeout}"
                               f" s (log {log})\n{proc.stderr_tail()}")
        try:
            return str(json.loads(file.read_text())["address"])
        except (OSError, ValueError, KeyError):   # not written yet: the line names it too
            return line.rsplit(None, 1)[-1]

    async def _end_scheduler(self) -> None:
        proc = self._scheduler
        if proc is not None:
            proc.terminate(self._kill_grace)
            await proc.exited

