"""The worker processes of one function backend: started, kept idle, signalled, retired and
forgotten.

Contract: :class:`WorkerPool` owns every :class:`~tandem.backends.worker_handle.WorkerHandle`
of a :class:`~tandem.backends.functions.FunctionBackend`: it spawns them (on this machine, or
as job steps through ``node_workers`` on an allocation), keeps the idle ones
(:class:`~tandem.backends.idle.IdleWorkers`, retiring the longest idle of another GPU set
beyond ``max_idle``), steers the worker of a running call (pause, resume with re-pinning,
preempt with a grace period), ends workers (retire: no call; terminate: a call that is being
killed; both SIGKILL after ``kill_grace``) and forgets one once it has exited and been reaped.
What a call is and what its end reports stay with the backend; the pool knows processes only.
Imports: tandem.backends.idle, tandem.backends.node_workers, tandem.backends.proctree,
tandem.backends.worker_handle, tandem.core.values.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

from tandem.backends import proctree
from tandem.backends.idle import IdleWorkers, Key
from tandem.backends.node_workers import NodeWorkers
from tandem.backends.worker_handle import WorkerHandle, WorkerState
from tandem.core.values import Placement

Callback = Callable[[WorkerHandle], None]


class WorkerPool:
    """The workers of one function backend (see the module docstring)."""

    def __init__(self, log_dir: Path, idle: IdleWorkers, kill_grace: float,
                 nodes: NodeWorkers | None) -> None:
        self.log_dir = log_dir
        self.idle = idle
        self.kill_grace = kill_grace
        self.nodes = nodes
        self.closing = False
        self.workers: dict[WorkerHandle, None] = {}
        self._next_index = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._init_frame = b""
        self._on_readable: Callback | None = None
        self._on_exit: Callback | None = None

    def bind(self, loop: asyncio.AbstractEventLoop, init_frame: bytes, on_readable: Callback,
             on_exit: Callback) -> None:
        """Spawn on ``loop`` from now on; each worker first gets ``init_frame``."""
        self._loop = loop
        self._init_frame = init_frame
        self._on_readable, self._on_exit = on_readable, on_exit

    def spawn(self, key: Key) -> WorkerHandle:
        """A new worker for ``key`` (its GPU set, or ``(node, GPU set)``), starting."""
        assert self._loop is not None and self._on_readable is not None \
            and self._on_exit is not None, "WorkerPool.bind first"
        self._next_index += 1
        if self.nodes is None:
            w = WorkerHandle.spawn(self._loop, self._next_index, key, self.log_dir,
                                   self._on_readable, self._on_exit)
        else:
            w = self.nodes.spawn(self._next_index, key, self._on_readable, self._on_exit)
        self.workers[w] = None
        w.send(self._init_frame)
        return w

    def make_idle(self, w: WorkerHandle) -> None:
        """``w`` finished its call: keep it idle (or retire it when the pool is closing)."""
        if self.closing:
            self.retire(w)
            return
        w.state = WorkerState.IDLE
        idle = self.idle
        idle.add(w)
        while idle.over():
            self.retire(idle.oldest(keep=w.key))

    def retire(self, w: WorkerHandle) -> None:
        """End ``w``, which runs no call."""
        if w.state is WorkerState.IDLE:
            self.idle.remove(w)
        w.retire(self.kill_grace)

    def terminate(self, w: WorkerHandle) -> None:
        """End ``w`` and the call it runs."""
        w.terminate(self.kill_grace)

    def pause(self, w: WorkerHandle) -> None:
        """Stop ``w``'s process group (SIGSTOP)."""
        w.signal(signal.SIGSTOP)
        w.stopped = True

    def resume(self, w: WorkerHandle, placement: Placement | None) -> None:
        """Continue ``w``, re-pinning its whole tree first when its task was placed again."""
        if placement is not None and placement.cores:
            proctree.pin(proctree.tree(w.pid), placement.cores)
            w.cores = None   # the next call sends its placement (and environment) again
        w.signal(signal.SIGCONT)
        w.stopped = False

    def preempt(self, w: WorkerHandle, sig: int, grace: float) -> None:
        """Send ``sig`` (continuing ``w`` if it was stopped); SIGKILL after ``grace``."""
        w.signal(sig)
        if w.stopped:
            w.signal(signal.SIGCONT)
            w.stopped = False
        assert self._loop is not None
        w.kill_timer = self._loop.call_later(grace, w.signal, signal.SIGKILL)

    def forget(self, w: WorkerHandle) -> int:
        """``w`` has exited: reap it and drop it from the pool; its exit status."""
        if w.state is WorkerState.IDLE:
            self.idle.remove(w)
        rc = w.reap()
        if self.nodes is not None:
            self.nodes.forget(w)
        del self.workers[w]
        return rc

    def pids(self) -> list[int]:
        """Pids of the workers not yet reaped."""
        return [w.pid for w in self.workers]
