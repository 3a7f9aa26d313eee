"""Length-prefixed pickle frames between the function backend and its worker processes.

Contract: one responsibility, the wire format shared by ``tandem.backends.functions`` (main
process, non-blocking pipes) and ``tandem.backends.worker`` (worker process, blocking pipes):
frames, messages, and how calls are pickled. Only the standard library at module level
(cloudpickle lazily, on the main side), so a worker starts fast. No asyncio here.
Imports: nothing from tandem.

A frame is an 8-byte little-endian body length followed by the body, a pickle (protocol 5) of
a small tuple. Main -> worker messages:

- ``(INIT, sys_path, keep_dir | None, keep_above | None)``: the first frame a worker reads; it
  then answers ``(READY, (pid, sees))``. ``keep_dir``: where it writes results kept by
  reference, from ``keep_above`` bytes (``tandem.backends.worker``); ``sees``: whether the
  worker can see that directory (it keeps nothing otherwise).
- ``(task_id, fn_id, fn_bytes | None, args_bytes | None, cores | None, env | None, ref)`` with
  ``task_id >= 0``: run one call. ``fn_bytes`` (cloudpickle) is present only the first time
  this worker sees ``fn_id``; ``args_bytes`` pickles ``(args, kwargs)`` (``None``: no
  arguments); ``cores``/``env`` are present only when the placement differs from the worker's
  previous task (``()`` cores: every core the worker was allowed at start). ``ref``: ``True``
  keep the result by reference, ``False`` send it by value, ``None`` decide by its size.
- ``(FORGET,)``: drop every cached function (the main side bounds the cache).

Worker -> main messages are ``(status, value)`` with the status constants below; a worker runs
one call at a time, so a result needs no task id.

A worker on another node (``tandem.backends.node_workers``) speaks the same frames over a TCP
connection it opens to the driver; before any frame (nothing is unpickled before it) it sends
:func:`hello`: the session's token (64 ASCII bytes) and its worker id (8 bytes, little-endian).
"""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any

HEADER = struct.Struct("<Q")
HEADER_SIZE = HEADER.size
pack_header = HEADER.pack
unpack_header_from = HEADER.unpack_from

PROTOCOL = 5

# main -> worker control messages (a call message starts with its task id, always >= 0)
INIT = -1
FORGET = -2

# worker -> main statuses
READY = 0        # value: (the worker's pid, whether it sees the kept-results directory)
OK = 1           # value: the call's result
ERROR = 2        # value: (exception type name, message, remote traceback text)
UNPICKLABLE = 3  # value: why the result could not be pickled
SETUP = 4        # value: (message, traceback): function/arguments/pinning failed in the worker
KEPT = 6         # value: (segment path, bytes): the result was kept by reference


HELLO = struct.Struct("<64sQ")
HELLO_SIZE = HELLO.size


def hello(token: str, worker_id: int) -> bytes:
    """What a connecting worker sends first: the session's token and its worker id."""
    return HELLO.pack(token.encode("ascii"), worker_id)


_PLAIN = frozenset({int, float, str, bytes, bool, type(None), complex})


def is_plain(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether every argument is a builtin scalar (plain pickle does)."""
    return all(type(a) in _PLAIN for a in args) and all(type(v) in _PLAIN
                                                         for v in kwargs.values())


def dump_args(args: tuple[Any, ...], kwargs: Any) -> bytes:
    """Pickle ``(args, kwargs)`` for a call: plain pickle when every value is a builtin scalar
    (7x faster), else cloudpickle (lambdas, local classes, ``__main__`` objects by value)."""
    kw = kwargs if type(kwargs) is dict else dict(kwargs)
    if is_plain(args, kw):
        return pickle.dumps((args, kw), PROTOCOL)
    import cloudpickle  # not at module level: workers import this module and rarely need it

    return cloudpickle.dumps((args, kw), protocol=PROTOCOL)  # type: ignore[no-any-return]


class FunctionPickles:
    """Main side: each distinct function object pickled once (cloudpickle) under a new id.

    ``entries`` maps ``id(fn)`` to ``(fn, fn_id, bytes)``; holding ``fn`` keeps its ``id`` from
    being reused. Bounded by count and total size (oldest first out; an evicted function that
    comes back gets a new id)."""

    __slots__ = ("_bytes", "_max_bytes", "_max_entries", "_next_id", "entries")

    def __init__(self, max_entries: int = 1024, max_bytes: int = 256 << 20) -> None:
        self.entries: dict[int, tuple[Any, int, bytes]] = {}
        self._bytes = 0
        self._next_id = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes

    def add(self, fn: Any) -> tuple[Any, int, bytes]:
        """Pickle ``fn`` (raises what cloudpickle raises) and remember it."""
        import cloudpickle

        data: bytes = cloudpickle.dumps(fn, protocol=PROTOCOL)
        entries = self.entries
        while entries and (len(entries) >= self._max_entries
                           or self._bytes + len(data) > self._max_bytes):
            self._bytes -= len(entries.pop(next(iter(entries)))[2])
        self._next_id += 1
        entry = (fn, self._next_id, data)
        entries[id(fn)] = entry
        self._bytes += len(data)
        return entry


def frame(body: bytes) -> bytes:
    """``body`` with its header, ready for a single ``os.write``."""
    return pack_header(len(body)) + body


class FrameReader:
    """Incremental parser for the non-blocking side: feed whatever ``os.read`` returned, get
    every complete frame body it completes (in order); a partial frame is kept for later."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes | bytearray]:
        buf = self._buf
        src: bytes | bytearray = data
        if buf:
            buf += data
            src = buf
        frames: list[bytes | bytearray] = []
        pos = 0
        end = len(src)
        while end - pos >= HEADER_SIZE:
            stop = pos + HEADER_SIZE + unpack_header_from(src, pos)[0]
            if stop > end:
                break
            frames.append(src[pos + HEADER_SIZE:stop])
            pos = stop
        if pos == end:
            if buf:
                self._buf = bytearray()
        elif src is not buf or pos:
            self._buf = bytearray(src[pos:])
        return frames


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write all of ``data`` to a blocking ``fd`` (used by the worker)."""
    n = os.write(fd, data)
    if n < len(data):
        view = memoryview(data)
        while n < len(view):
            n += os.write(fd, view[n:])


def write_frame(fd: int, body: bytes) -> None:
    """Write one frame to a blocking ``fd``; large bodies are not copied."""
    if len(body) < 1 << 16:
        write_all(fd, pack_header(len(body)) + body)
    else:
        write_all(fd, pack_header(len(body)))
        write_all(fd, body)


class BlockingReader:
    """Exact-size frame reads from a blocking pipe through a buffered file: one ``read``
    syscall usually yields a whole frame."""

    __slots__ = ("_read",)

    def __init__(self, fd: int, buffer_size: int = 1 << 16) -> None:
        self._read = open(fd, "rb", buffering=buffer_size).read  # noqa: SIM115 (lives as long as the worker)

    def next_frame(self) -> bytes | None:
        """The next frame's body, or ``None`` at end of file (the main side went away)."""
        head = self._read(HEADER_SIZE)
        if len(head) < HEADER_SIZE:
            return None
        size = unpack_header_from(head)[0]
        body = self._read(size)
        if len(body) < size:
            return None
        return body
