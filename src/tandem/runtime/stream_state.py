"""One stream of a session, on the driver's side: its buffer, its writers, the readers waiting,
its end and its failure.

Contract: :class:`Stream` is what the broker (:mod:`tandem.runtime.streams`) hands each
connection's messages to (``join``, ``leave``, ``drop``, ``offer``, ``take``) and what the
driver's code holds (``await put``, ``await get``, ``async for``, ``close``, ``fail``, ``stats``,
``until``). Pure state on the event loop: replies are callbacks; nothing waits but the
driver-side ``put``/``get``/``until``.
Imports: tandem.data.stream.

Rules:

- A stream buffers at most ``maxsize`` items; a put beyond waits (the writer's ``put`` returns
  when its item was accepted): back-pressure. Items go out in the order they came in, each to
  one reader (readers compete).
- The end: with ``writers=N``, once N writers have closed; otherwise once the driver called
  ``close()`` and every writer that opened has closed; then buffered items are still
  delivered, and readers get the end after them.
- Starved: readers wait and no writer is open or blocked (:meth:`Stream.starved`). The driver
  asks once the session's block has ended, and when nothing left can write
  (``tandem.runtime.settle``) it ends such a stream without ``writers=`` (its readers get the
  end) and fails one whose ``writers=N`` never all came (:meth:`Stream.end_starved`).
- A failure (a writer closing with a reason, a writer's connection dropping before it closed,
  its task failing, or ``fail()``) reaches every reader at once; buffered items are dropped and
  blocked writers fail too. A task that ended normally with a writer still open counts as
  having closed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from tandem.data.stream import EndOfStream, StreamError, StreamFailed, dump_item

Reply = Callable[[tuple[Any, ...]], None]


class Item(NamedTuple):
    """An item waiting in a stream: its bytes, and for one in a segment, the segment's path,
    size, writer's task and that task's node (the bytes it holds there until taken)."""

    data: bytes
    path: str = ""
    nbytes: int = 0
    task: int | None = None
    node: str | None = None


@dataclass(frozen=True, slots=True)
class StreamStats:
    """A stream at one moment."""

    put: int
    taken: int
    buffered: int
    writers_open: int
    writers_closed: int
    readers_waiting: int
    writers_blocked: int
    ended: bool
    failed: str | None


class Stream:
    """One named stream of a session (see the module docstring)."""

    def __init__(self, name: str, maxsize: int, writers: int | None) -> None:
        self.name = name
        self.maxsize = maxsize
        self.writers = writers
        self._items: deque[Item] = deque()
        self._blocked: deque[tuple[Item, Reply]] = deque()
        self._waiting: deque[tuple[Reply, int | None]] = deque()   # a reply, its task
        self._open: dict[object, int | None] = {}     # writer -> its task
        self._closed_writers = 0
        self._closing = False
        self._put = self._taken = 0
        self.failed: str | None = None
        self._changed = asyncio.Event()
        self.on_wait: Callable[[], None] | None = None   # a reader started waiting
        # where a writer's task runs, and what to tell when segments wait here (see Item)
        self.node_of: Callable[[int], str | None] | None = None
        self.on_bytes: Callable[[int, str, int], None] | None = None

    # -- the driver's side -----------------------------------------------------------------
    async def put(self, item: Any) -> None:
        """Put ``item`` (waits while the stream is full)."""
        done: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
        data, path, nbytes = dump_item(item)
        self.offer(data, done.set_result, path=path, nbytes=nbytes)
        reply = await done
        if reply[0] == "failed":
            raise StreamFailed(f"stream {self.name!r} failed: {reply[1]}")
        if reply[0] == "error":
            raise StreamError(f"stream {self.name!r}: {reply[1]}")

    async def get(self) -> Any:
        """The next item; :class:`EndOfStream` at the end, :class:`StreamFailed` on failure."""
        done: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
        self.take(done.set_result)
        reply = await done
        if reply[0] == "item":
            return pickle.loads(reply[1])
        if reply[0] == "end":
            raise EndOfStream(f"stream {self.name!r} ended")
        raise StreamFailed(f"stream {self.name!r} failed: {reply[1]}")

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            try:
                yield await self.get()
            except EndOfStream:
                return

    def close(self) -> None:
        """No more writers: the stream ends once those open have closed."""
        self._closing = True
        self._settle()

    def fail(self, why: str) -> None:
        """Fail the stream: every reader and blocked writer gets ``why``."""
        if self.failed is not None or self.ended:
            return
        self.failed = why
        self.drop_items()
        message = ("failed", why)
        while self._blocked:
            item, ack = self._blocked.popleft()
            self._gone(item, remove=True)
            ack(message)
        while self._waiting:
            self._waiting.popleft()[0](message)
        self._touch()

    def stats(self) -> StreamStats:
        return StreamStats(put=self._put, taken=self._taken, buffered=len(self._items),
                           writers_open=len(self._open), writers_closed=self._closed_writers,
                           readers_waiting=len(self._waiting),
                           writers_blocked=len(self._blocked), ended=self.ended,
                           failed=self.failed)

    async def until(self, condition: Callable[[StreamStats], bool]) -> StreamStats:
        """Wait until ``condition(stats)`` holds (checked at each change of the stream)."""
        while True:
            now = self.stats()
            if condition(now):
                return now
            self._changed.clear()
            await self._changed.wait()

    @property
    def ended(self) -> bool:
        """Every writer it expects has closed and every item was delivered."""
        if self.failed is not None or self._open or self._items or self._blocked:
            return False
        if self.writers is not None:
            return self._closed_writers >= self.writers
        return self._closing

    def starved(self) -> list[int]:
        """The tasks of the readers waiting on it while no writer is open or blocked (empty
        when it is not starved, or has ended or failed)."""
        if not self._waiting or self._open or self._blocked or self._items \
                or self.failed is not None:
            return []
        return [t for _, t in self._waiting if t is not None]

    def end_starved(self) -> None:
        """Nothing left can write to it: end it (without ``writers=``), else fail it."""
        if self.writers is None:
            self.close()
        else:
            self.fail(f"{self._closed_writers} of its {self.writers} writers came, and nothing "
                      "left in the session can open another")

    # -- what connections do ---------------------------------------------------------------
    def join(self, writer: object, task_id: int | None) -> str | None:
        """A writer opens; why not, if it may not."""
        if self.failed is not None:
            return f"it failed: {self.failed}"
        if self.ended or (self.writers is not None and
                          self._closed_writers + len(self._open) >= self.writers):
            return "it takes no more writers"
        if self._closing:
            return "it was closed by the session"
        self._open[writer] = task_id
        self._touch()
        return None

    def leave(self, writer: object, why: str | None) -> None:
        """A writer closes (``why``: it failed)."""
        if writer not in self._open:
            return
        task = self._open.pop(writer)
        if why is not None:
            self.fail(f"writer of task {task} failed: {why}")
            return
        self._closed_writers += 1
        self._settle()

    def drop(self, writer: object) -> None:
        """A writer's connection went away before it closed: the stream fails."""
        if writer in self._open:
            task = self._open.pop(writer)
            self.fail(f"writer of task {task} disconnected without closing")

    def writers_of(self, task_id: int) -> list[object]:
        return [w for w, t in self._open.items() if t == task_id]

    def offer(self, data: bytes, reply: Reply, *, task: int | None = None, path: str = "",
              nbytes: int = 0) -> None:
        """An item from a writer of ``task`` (``path``, ``nbytes``: its segment): to a reader
        waiting, else into the buffer, else it waits (and so does its writer)."""
        if self.failed is not None:
            if path:
                _remove(path)
            reply(("failed", self.failed))
            return
        self._put += 1
        if self._waiting:
            self._taken += 1
            self._waiting.popleft()[0](("item", data))
            reply(("ok",))
            self._touch()
            return
        node = self.node_of(task) if nbytes and task is not None and self.node_of else None
        item = Item(data, path, nbytes, task, node)
        self._count(item, nbytes)
        if len(self._items) < self.maxsize:
            self._items.append(item)
            reply(("ok",))
        else:
            self._blocked.append((item, reply))
        self._touch()

    def drop_items(self) -> None:
        """Drop what waits in the buffer, removing its segments (the stream failed, or the
        session ends with items nobody took)."""
        while self._items:
            self._gone(self._items.popleft(), remove=True)

    def _gone(self, item: Item, *, remove: bool) -> None:
        """``item`` left the stream: its segment's bytes are no longer held here."""
        if remove and item.path:
            _remove(item.path)
        self._count(item, -item.nbytes)

    def _count(self, item: Item, delta: int) -> None:
        """Tell ``on_bytes`` of ``delta`` bytes of ``item``'s segment, if it is counted (its
        writer's node is known)."""
        if item.node is not None and item.task is not None and self.on_bytes is not None:
            self.on_bytes(item.task, item.node, delta)

    def take(self, reply: Reply, task_id: int | None = None) -> None:
        if self.failed is not None:
            reply(("failed", self.failed))
        elif self._items:
            self._taken += 1
            item = self._items.popleft()
            reply(("item", item.data))
            self._gone(item, remove=False)        # the reader maps it and removes its name
            if self._blocked:
                waited, ack = self._blocked.popleft()
                self._items.append(waited)
                ack(("ok",))
            self._settle()
        elif self.ended:
            reply(("end",))
        else:
            self._waiting.append((reply, task_id))
            if self.on_wait is not None:
                self.on_wait()
        self._touch()

    def _settle(self) -> None:
        if self.ended:
            while self._waiting:
                self._waiting.popleft()[0](("end",))
        self._touch()

    def _touch(self) -> None:
        self._changed.set()


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
