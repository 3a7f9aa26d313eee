"""Streams between running tasks, the task side: writers and readers of named streams a session
opened.

Contract: a blocking client, the standard library only (it is imported inside workers and
executables). A task writes ``with writer("frames") as w: w.put(x)`` and another reads
``for x in reader("frames"): ...`` while the first still runs; the session that opened the
stream (``session.stream(name)``, :mod:`tandem.runtime.streams`) runs the broker they connect
to, whose address every task finds in ``TANDEM_STREAMS``.
Imports: tandem.data.segments.

Wire (one Unix socket per writer or reader, in the Linux abstract namespace; the address in
the environment starts with ``@`` for its leading NUL; on an allocation of several hosts a TCP
connection to ``tcp:HOST:PORT``, which first sends the session's token from
``TANDEM_STREAMS_TOKEN``, padded to :data:`TOKEN_SIZE` bytes): each message is an 8-byte
big-endian length and a pickle of a tuple. Client to broker: ``("writer", name, task_id)``,
``("put", bytes, path, nbytes)`` (``path`` and ``nbytes``: the item's segment and its size;
``""`` and 0 for an item inline), ``("close", None | why)``, ``("reader", name, task_id)``,
``("get",)`` (``task_id``: the client's task, from ``TANDEM_TASK_ID``; ``None`` outside a
task). Broker to client: ``("ok",)``, ``("item", bytes)``, ``("end",)``, ``("failed", why)``,
``("error", why)``. Items are pickled (protocol 5) by the writer and unpickled by the reader;
the broker holds bytes.

Large items: an item that pickles to ``INLINE_MAX`` bytes or more is written to a segment
(:mod:`tandem.data.segments`) in the session's directory of kept results (``TANDEM_SEGMENTS``)
and only its name goes through the broker; the reader that gets it maps it (NumPy arrays
without a copy) and removes its name. An item no reader took is removed with the directory at
the session's end.

Rules: ``put`` returns once the broker accepted the item, so a writer waits while the stream's
buffer is full (back-pressure); readers get items in order, each item to one reader; a reader
sees the end once every writer the stream expects has closed; a writer that fails (an
exception in its ``with`` block, or its task failing, or its process dying) fails the stream,
and its readers raise :class:`StreamFailed` naming it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import socket
import struct
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, NamedTuple

from tandem.data import segments

ENV = "TANDEM_STREAMS"
SEGMENTS_ENV = "TANDEM_SEGMENTS"
TOKEN_ENV = "TANDEM_STREAMS_TOKEN"
"""The session's secret that a connection over TCP sends first (the broker reads nothing else
before it matches)."""
TOKEN_SIZE = 32
INLINE_MAX = 1 << 20
LENGTH = struct.Struct("!Q")
_count = itertools.count()


def taken(path: str) -> Any:
    """The item in segment ``path``, mapped; the name is removed (one reader takes an item)."""
    value = segments.load(path)
    with contextlib.suppress(OSError):
        os.unlink(path)
    return value


class _Segment:
    """An item put in a segment: it unpickles as the item (:func:`taken`)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (taken, (self.path,))


class Dumped(NamedTuple):
    """What goes through the broker for one item: ``data`` (its pickle, or a segment's
    name); for an item put in a segment, the segment's ``path`` and size (``nbytes``)."""

    data: bytes
    path: str = ""
    nbytes: int = 0


def dump_item(item: Any) -> Dumped:
    """What goes through the broker for ``item``: its pickle, or a segment's name."""
    main, buffers = segments.dumps(item)
    where = os.environ.get(SEGMENTS_ENV)
    if where and segments.size_of(main, buffers) >= INLINE_MAX:
        path = f"{where}/item-{os.getpid()}-{next(_count)}"
        with contextlib.suppress(segments.SegmentError):   # no room: it goes inline
            nbytes = segments.write(path, main, buffers)
            return Dumped(pickle.dumps(_Segment(path), 5), path, nbytes)
    if not buffers:
        return Dumped(main)
    return Dumped(pickle.dumps(item, 5))


class StreamError(RuntimeError):
    """A stream could not be used: no session opened it, or the broker refused."""


class StreamFailed(StreamError):
    """The stream failed: a writer failed or disconnected, or the session failed it."""


class EndOfStream(Exception):
    """Every writer of the stream has closed and every item was read."""


def until_end(get: Callable[[], Any]) -> Iterator[Any]:
    """The items ``get()`` returns, until it raises :class:`EndOfStream`."""
    while True:
        try:
            yield get()
        except EndOfStream:
            return


def to_socket(address: str) -> str:
    """An ``@``-prefixed environment address as a socket name (abstract namespace)."""
    return "\0" + address[1:] if address.startswith("@") else address


def send(sock: socket.socket, message: tuple[Any, ...]) -> None:
    body = pickle.dumps(message, 5)
    sock.sendall(LENGTH.pack(len(body)) + body)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    parts = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise StreamError("the session's stream broker closed the connection")
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def receive(sock: socket.socket) -> tuple[Any, ...]:
    (n,) = LENGTH.unpack(_recv_exactly(sock, LENGTH.size))
    message: tuple[Any, ...] = pickle.loads(_recv_exactly(sock, n))
    return message


class _End:
    """One end of a stream: a connection to the broker."""

    def __init__(self, name: str, address: str | None, hello: tuple[Any, ...]) -> None:
        where = address if address is not None else os.environ.get(ENV)
        if not where:
            raise StreamError(f"stream {name!r}: no session to connect to ({ENV} is not set; "
                              f"streams are opened by a session with session.stream() and "
                              f"used by its tasks)")
        self.name = name
        sock: socket.socket | None = None
        try:
            if where.startswith("tcp:"):       # a task on another host of an allocation
                host, port = where[4:].rsplit(":", 1)
                sock = socket.create_connection((host, int(port)))
                sock.sendall(os.environ.get(TOKEN_ENV, "").encode().ljust(TOKEN_SIZE))
            else:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(to_socket(where))
        except OSError as exc:
            if sock is not None:
                sock.close()
            raise StreamError(f"stream {name!r}: the session at {where} has opened no stream "
                              f"(or has ended): {exc.strerror}") from None
        self._sock = sock
        self._ask(hello)

    def _ask(self, message: tuple[Any, ...]) -> tuple[Any, ...]:
        send(self._sock, message)
        reply = receive(self._sock)
        if reply[0] == "error":
            raise StreamError(f"stream {self.name!r}: {reply[1]}")
        if reply[0] == "failed":
            raise StreamFailed(f"stream {self.name!r} failed: {reply[1]}")
        return reply

    def _close_socket(self) -> None:
        self._sock.close()


class Writer(_End):
    """Puts items into stream ``name`` (see the module docstring)."""

    def __init__(self, name: str, address: str | None = None) -> None:
        task = os.environ.get("TANDEM_TASK_ID")
        super().__init__(name, address, ("writer", name, int(task) if task else None))
        self._open = True

    def put(self, item: Any) -> None:
        """Send ``item``; returns once the stream accepted it (waits while it is full)."""
        if not self._open:
            raise StreamError(f"stream {self.name!r}: this writer is closed")
        self._ask(("put", *dump_item(item)))

    def close(self, why: str | None = None) -> None:
        """End this writer (``why``: it failed, and the stream fails with it)."""
        if self._open:
            self._open = False
            try:
                self._ask(("close", why))
            finally:
                self._close_socket()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
        else:
            # the stream may have failed already: the task's own error goes on
            with contextlib.suppress(StreamError):
                self.close(f"{type(exc).__name__}: {exc}")


class Reader(_End):
    """Takes items from stream ``name`` (see the module docstring)."""

    def __init__(self, name: str, address: str | None = None) -> None:
        task = os.environ.get("TANDEM_TASK_ID")
        super().__init__(name, address, ("reader", name, int(task) if task else None))

    def get(self) -> Any:
        """The next item; :class:`EndOfStream` at the end, :class:`StreamFailed` if it
        failed."""
        reply = self._ask(("get",))
        if reply[0] == "end":
            raise EndOfStream(f"stream {self.name!r} ended")
        return pickle.loads(reply[1])

    def __iter__(self) -> Iterator[Any]:
        return until_end(self.get)

    def close(self) -> None:
        self._close_socket()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def writer(name: str, *, address: str | None = None) -> Writer:
    """A writer of stream ``name`` of the session in ``TANDEM_STREAMS`` (or ``address``)."""
    return Writer(name, address)


def reader(name: str, *, address: str | None = None) -> Reader:
    """A reader of stream ``name`` of the session in ``TANDEM_STREAMS`` (or ``address``)."""
    return Reader(name, address)
