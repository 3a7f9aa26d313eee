"""Streams between running tasks, the driver side: the broker every task's readers and writers
connect to.

Contract: :class:`StreamBroker` is one session's broker. Its address (an abstract Unix socket
name; or, once :meth:`StreamBroker.reach_from` was given a host, ``tcp:HOST:PORT`` on a port
bound then) is fixed before any worker starts, so the driver can put it in the tasks'
environment (``TANDEM_STREAMS``, and ``TANDEM_STREAMS_TOKEN`` for TCP); it listens only once
the session opens its first stream (:meth:`StreamBroker.open`). Over TCP a connection's first
:data:`~tandem.data.stream.TOKEN_SIZE` bytes must be the session's random token (compared with
``hmac.compare_digest``, within ``HELLO_S`` seconds) before anything is unpickled; else it is
closed. Each stream is a :class:`~tandem.runtime.stream_state.Stream` (its rules are there);
the wire format and the exceptions are :mod:`tandem.data.stream`'s. Event-driven: one asyncio
task per connection, tracked and cancelled by :meth:`StreamBroker.aclose`; nothing polls.
Imports: tandem.data.stream, tandem.runtime.stream_state.

Rules:

- A name opened twice is an error; a client naming a stream the session did not open is
  answered with an error that names it.
- A task that ends (:meth:`StreamBroker.task_ended`) closes its open writers, or fails them
  with its failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import pickle
import secrets
import socket
from collections.abc import Callable
from typing import Any

from tandem.data.stream import LENGTH, TOKEN_SIZE, StreamError, to_socket
from tandem.runtime.stream_state import Stream

HELLO_S = 10.0   # how long a TCP connection has to send the token


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
        # where a task runs, and what is told of segment bytes waiting in streams (node, +-)
        self.node_of: Callable[[int], str | None] | None = None
        self.on_bytes: Callable[[int, str, int], None] | None = None
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
        stream.node_of = self.node_of
        stream.on_bytes = self.on_bytes
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
                    stream.offer(msg[1], reply, task=task_id,
                                 path=msg[2] if len(msg) > 3 else "",
                                 nbytes=msg[3] if len(msg) > 3 else 0)
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
            stream.drop_items()          # nobody will take them now
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
