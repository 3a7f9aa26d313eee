"""The session's kept results: the node-local directory their segments live in, who holds how
much where, and freeing them when nothing needs them any more.

Contract: :class:`KeptStore` makes the session's directory of segments
(``/dev/shm/tandem-<pid>-<token>``, else the temporary directory when there is no
``/dev/shm``), tells the guardian to remove it if the driver dies, turns what a backend
reports (:class:`~tandem.data.refs.Kept`) into the :class:`~tandem.data.refs.DataRef` a future
holds, and accounts the bytes each node holds (the ``data_held`` instrument hook, so the trace
shows them). The driver owns one.
Imports: tandem.data.refs, tandem.guardian, tandem.trace.instruments.

Rules:

- A segment is freed (its file removed) when its ``DataRef`` is garbage: the future that held
  it was dropped and every task whose arguments named that future was resolved (their specs
  hold the future until then). The finalizer may run on any thread: it removes the file at
  once and hands the accounting to the loop thread (``call_soon_threadsafe``), where the
  instruments are called, never from inside the finalizer.
- At the session's end (:meth:`close`), every handle still alive is pinned (mapped into the
  driver, no copy) and the directory removed: a future kept after the session still gives its
  value, and no file outlives the session. A killed driver's directory is removed by the
  guardian.
- A node that is lost takes its results with it (:meth:`node_lost`): their handles are marked
  lost (a dependent not started yet fails at launch with an error naming the producer and the
  node; a value the driver had mapped already still goes by value), their files are removed
  and the node's total drops to what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable

from tandem import guardian
from tandem.data.refs import DataRef, Kept
from tandem.trace.instruments import Instruments

SHM = "/dev/shm"
DEFAULT_ABOVE = 1 << 20
"""Results of at least this many bytes are kept by reference unless the session says otherwise
(a 1 MiB result costs ~5 ms through the driver's pipes, a segment ~0.3 ms)."""


class KeptStore:
    """The session's segments and their accounting (see the module docstring)."""

    def __init__(self, instruments: Instruments, clock: Callable[[], float]) -> None:
        self._ins = instruments
        self._clock = clock
        self._live: weakref.WeakSet[DataRef] = weakref.WeakSet()
        self._held: dict[str, int] = {}      # node -> bytes held now
        self._peak: dict[str, int] = {}      # node -> most bytes held at once
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self.directory: str | None = None
        self.kept = 0                        # results kept so far
        self.freed = 0                       # of which freed
        self._gone: set[str] = set()         # segments lost with their node (counted off)

    def open(self) -> str:
        """Make the directory (once) and return it."""
        if self.directory is None:
            root = SHM if os.access(SHM, os.W_OK) else tempfile.gettempdir()
            self.directory = tempfile.mkdtemp(prefix=f"tandem-{os.getpid()}-", dir=root)
            guardian.remove_on_death(self.directory)
            self._loop = asyncio.get_running_loop()
            self._thread = threading.get_ident()
        return self.directory

    def adopt(self, task_id: int, node: str, kept: Kept) -> DataRef:
        """The handle of task ``task_id``'s result, kept on ``node``."""
        ref = DataRef(kept.path, kept.nbytes, node, task_id)
        self._live.add(ref)
        weakref.finalize(ref, self._free, kept.path, node, kept.nbytes, task_id)
        self.kept += 1
        self._change(task_id, node, kept.nbytes)
        return ref

    def held(self) -> dict[str, int]:
        """Bytes held per node now."""
        return dict(self._held)

    def peak(self) -> dict[str, int]:
        """The most bytes each node held at once."""
        return dict(self._peak)

    def node_lost(self, node: str, why: str) -> list[DataRef]:
        """Every result kept on ``node`` is lost with it: its handle says so (``lose``), its
        segment is removed and the node holds nothing any more. Returns the handles."""
        lost = [ref for ref in list(self._live) if ref.node == node and ref.lost is None]
        for ref in lost:
            ref.lose(why)
            self._gone.add(ref.path)
            with contextlib.suppress(OSError):
                os.unlink(ref.path)
            self._change(ref.task_id, node, -ref.nbytes)
        return lost

    def relocate(self, ref: DataRef, node: str, kept: Kept) -> DataRef:
        """``ref``'s result was made again (a recomputation) and kept on ``node``: ``ref``
        names the new segment, freed when ``ref`` is garbage (the lost one is counted off)."""
        ref.recomputed(kept.path, kept.nbytes, node)
        weakref.finalize(ref, self._free, kept.path, node, kept.nbytes, ref.task_id)
        self.kept += 1
        self._change(ref.task_id, node, kept.nbytes)
        return ref

    def _free(self, path: str, node: str, nbytes: int, task_id: int) -> None:
        if path in self._gone:              # counted off when its node was lost
            self._gone.discard(path)
            return
        with contextlib.suppress(OSError):
            os.unlink(path)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):   # the loop closed meanwhile
            if threading.get_ident() == self._thread:
                loop.call_soon(self._freed_now, task_id, node, nbytes)
            else:
                loop.call_soon_threadsafe(self._freed_now, task_id, node, nbytes)

    def _freed_now(self, task_id: int, node: str, nbytes: int) -> None:
        self.freed += 1
        self._change(task_id, node, -nbytes)

    def count(self, task_id: int, node: str, delta: int) -> None:
        """Count ``delta`` bytes more (or fewer) held on ``node`` for task ``task_id`` that are
        not kept results (a stream's items waiting in segments of this directory)."""
        self._change(task_id, node, delta)

    def _change(self, task_id: int, node: str, delta: int) -> None:
        held = self._held.get(node, 0) + delta
        self._held[node] = held
        if held > self._peak.get(node, 0):
            self._peak[node] = held
        if self._ins.wants("data_held"):
            self._ins.call("data_held", task_id, node, delta, held, self._clock())

    def close(self) -> None:
        """Pin what is still held and remove the directory (see the module docstring)."""
        directory, self.directory = self.directory, None
        self._loop = None
        if directory is None:
            return
        for ref in list(self._live):
            with contextlib.suppress(Exception):   # a file already gone: it stays unloadable
                ref.pin()
        shutil.rmtree(directory, ignore_errors=True)
        guardian.forget_removal(directory)
