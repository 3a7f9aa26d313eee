"""Streams between running tasks, the driver side: the broker every task's readers and writers
connect to.

Contract: :class:`StreamBroker` is one session's broker. Its address (an abstract Unix socket
name; or, once :meth:`StreamBroker.reach_from` was given a host, ``tcp:HOST:PORT`` on a port
bound then) is fixed before any worker starts, so the driver can put it in the tasks'
environment (``TANDEM_STREAMS``, and ``TANDEM_STREAMS_TOKEN`` for TCP); it listens only once
the session opens its first stream (:meth:`StreamBroker.open`). Over TCP a connection's first
:data:`~tandem.data.stream.TOKEN_SIZE` bytes must be the session's random token (compared with
``hmac.compare_digest``, within ``HELLO_S`` seconds) before anything is unpickled; else it is
closed. :class:`Stream` is the driver's handle: ``await put``,
``await get``, ``async for``, ``close``, ``fail``, ``stats``. The wire format and the
exceptions are :mod:`tandem.data.stream`'s. Event-driven: one asyncio task per connection,
tracked and cancelled by :meth:`StreamBroker.aclose`; nothing polls.
Imports: tandem.data.stream.

Rules:

- A stream buffers at most ``maxsize`` items; a put beyond waits (the writer's ``put`` returns
  when its item was accepted): back-pressure. Items go out in the order they came in, each to
  one reader (readers compete).
- The end: with ``writers=N``, once N writers have closed; otherwise once the driver called
  ``close()`` and every writer that opened has closed; then buffered items are still
  delivered, and readers get the end after them.
- Starved: readers wait and no writer is open or blocked (:meth:`Stream.starved`). The driver
  asks (:meth:`StreamBroker.starved`) once the session's block has ended, and when nothing
  left can write (see ``Driver``) it closes such a stream without ``writers=`` (its readers
  get the end) and fails one whose ``writers=N`` never all came.
- A failure (a writer closing with a reason, a writer's connection dropping before it closed,
  its task failing: :meth:`StreamBroker.task_ended`, or ``fail()``) reaches every reader at
  once; buffered items are dropped and blocked writers fail too. A task that ended normally
  with a writer still open counts as having closed it.
- A name opened twice is an error; a client naming a stream the session did not open is
  answered with an error that names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import pickle
import secrets
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from tandem.data.stream import (
    LENGTH,
    TOKEN_SIZE,
    EndOfStream,
    StreamError,
    StreamFailed,
    dump_item,
    to_socket,
)

Reply = Callable[[tuple[Any, ...]], None]
HELLO_S = 10.0   # how long a TCP connection has to send the token


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
        self._items: deque[bytes] = deque()
        self._blocked: deque[tuple[bytes, Reply]] = deque()
        self._waiting: deque[tuple[Reply, int | None]] = deque()   # a reply, its task
        self._open: dict[object, int | None] = {}     # writer -> its task
        self._closed_writers = 0
        self._closing = False
        self._put = self._taken = 0
        self.failed: str | None = None
        self._changed = asyncio.Event()
        self.on_wait: Callable[[], None] | None = None   # a reader started waiting

    # -- the driver's side -----------------------------------------------------------------
    async def put(self, item: Any) -> None:
        """Put ``item`` (waits while the stream is full)."""
        done: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
        self.offer(dump_item(item), done.set_result)
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
        self._items.clear()
        message = ("failed", why)
        while self._blocked:
            self._blocked.popleft()[1](message)
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

    def offer(self, data: bytes, reply: Reply) -> None:
        if self.failed is not None:
            reply(("failed", self.failed))
            return
        self._put += 1
        if self._waiting:
            self._taken += 1
            self._waiting.popleft()[0](("item", data))
            reply(("ok",))
        elif len(self._items) < self.maxsize:
            self._items.append(data)
            reply(("ok",))
        else:
            self._blocked.append((data, reply))
        self._touch()

    def take(self, reply: Reply, task_id: int | None = None) -> None:
        if self.failed is not None:
            reply(("failed", self.failed))
        elif self._items:
            self._taken += 1
            reply(("item", self._items.popleft()))
            if self._blocked:
                data, ack = self._blocked.popleft()
                self._items.append(data)
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


class StreamBroker:
    """A session's streams and the socket its tasks reach them on."""

    def __init__(self) -> None:
        self.address = f"@tandem-streams-{os.getpid()}-{secrets.token_hex(6)}"
        self._streams: dict[str, Stream] = {}
        self._server: asyncio.Server | None = None
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[asyncio.StreamWriter] = set()
        self.on_wait: Callable[[], None] | None = None   # a reader started waiting
        self.token: str | None = None                    # over TCP: what a connection sends

    @property
    def active(self) -> bool:
        """Whether a stream was opened (the broker listens)."""
        return bool(self._streams)

    def open(self, name: str, *, maxsize: int = 64, writers: int | None = None) -> Stream:
        """Open stream ``name`` (starting to listen, the first time)."""
        if not isinstance(name, str) or not name:
            raise StreamError(f"a stream's name must be a non-empty string, got {name!r}")
        if type(maxsize) is not int or maxsize < 1:
            raise StreamError(f"stream {name!r}: maxsize must be an integer >= 1, "
                              f"got {maxsize!r}")
        if writers is not None and (type(writers) is not int or writers < 1):
            raise StreamError(f"stream {name!r}: writers must be an integer >= 1 or None, "
                              f"got {writers!r}")
        if name in self._streams:
            raise StreamError(f"stream {name!r} is already open in this session")
        if not self._streams:
            self._listen()
        stream = self._streams[name] = Stream(name, maxsize, writers)
        stream.on_wait = self._waited
        return stream

    def _waited(self) -> None:
        if self.on_wait is not None:
            self.on_wait()

    def starved(self) -> dict[int, Stream]:
        """The tasks waiting on a starved stream (:meth:`Stream.starved`), and its stream."""
        return {t: s for s in self._streams.values() for t in s.starved()}

    def reach_from(self, host: str) -> None:
        """Let tasks on other hosts connect: bind a TCP port on ``host`` (an address of this
        host) now, and make the address ``tcp:HOST:PORT`` (before any stream is opened)."""
        if self.token is not None or self._streams:
            return
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                             socket.SOCK_STREAM)
        try:
            sock.bind((host, 0))
        except OSError as exc:
            sock.close()
            raise StreamError(f"streams: cannot listen on {host} ({exc.strerror}); set "
                              "TANDEM_DRIVER_ADDRESS to an address of this host") from None
        self._sock = sock
        self.token = secrets.token_hex(TOKEN_SIZE // 2)
        self.address = f"tcp:{host}:{sock.getsockname()[1]}"

    def _listen(self) -> None:
        if self.token is not None:
            sock = self._sock
            assert sock is not None
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(to_socket(self.address))
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock
        task = asyncio.get_running_loop().create_task(self._serve(sock))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, sock: socket.socket) -> None:
        if self.token is None:
            self._server = await asyncio.start_unix_server(self._connection, sock=sock)
        else:
            self._server = await asyncio.start_server(self._introduced, sock=sock)

    async def _introduced(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        """A TCP connection: its token first, then the same messages as over Unix sockets."""
        assert self.token is not None
        try:
            got = await asyncio.wait_for(r.readexactly(TOKEN_SIZE), HELLO_S)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            got = b""
        if not hmac.compare_digest(got, self.token.encode()):
            w.close()
            return
        await self._connection(r, w)

    def task_ended(self, task_id: int, failure: str | None) -> None:
        """Task ``task_id`` ended (``failure``: why it failed): its open writers close."""
        for stream in self._streams.values():
            for w in stream.writers_of(task_id):
                stream.leave(w, None if failure is None else f"the task ended: {failure}")

    async def _connection(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._connections.add(w)
        stream: Stream | None = None
        writing = False
        task_id: int | None = None

        def reply(message: tuple[Any, ...]) -> None:
            if not w.is_closing():
                body = pickle.dumps(message, 5)
                w.write(LENGTH.pack(len(body)) + body)
        try:
            while True:
                try:
                    (n,) = LENGTH.unpack(await r.readexactly(LENGTH.size))
                    msg = pickle.loads(await r.readexactly(n))
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                op = msg[0]
                if op in ("writer", "reader"):
                    stream = self._streams.get(msg[1])
                    task_id = msg[2] if len(msg) > 2 else None
                    if stream is None:
                        reply(("error", f"the session did not open a stream named {msg[1]!r}"))
                        continue
                    if op == "writer":
                        why = stream.join(w, msg[2])
                        if why is not None:
                            reply(("error", f"cannot write to it: {why}"))
                            stream = None
                            continue
                        writing = True
                    reply(("ok",))
                elif stream is None:
                    reply(("error", "open it as a writer or reader first"))
                elif op == "put":
                    stream.offer(msg[1], reply)
                elif op == "get":
                    stream.take(reply, task_id)
                elif op == "close":
                    stream.leave(w, msg[1])
                    writing = False
                    reply(("ok",))
            if writing and stream is not None:
                stream.drop(w)
        finally:
            self._connections.discard(w)
            if task is not None:
                self._tasks.discard(task)
            w.close()

    async def aclose(self) -> None:
        """End every stream and connection (readers still waiting: end, or a failure if
        writers were still open)."""
        for stream in self._streams.values():
            if stream.stats().writers_open:
                stream.fail("the session closed")
            else:
                stream.close()
        if self._server is not None:
            self._server.close()
        elif self._sock is not None:
            self._sock.close()
        for conn in list(self._connections):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
