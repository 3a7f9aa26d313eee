"""Segments: one value pickled into one file of a node's shared memory (``/dev/shm``), mapped
back without a copy.

Contract: the on-disk format of a result kept by reference, written by the function worker that
made it and mapped by every process on the node that reads it (the driver, other workers). The
standard library only, so that a worker imports it fast.
Imports: nothing from tandem.

Rules:

- A value is pickled with protocol 5 and its out-of-band buffers (NumPy arrays, ``bytearray``,
  ``pickle.PickleBuffer``) are written after the pickle, each at a 64-byte boundary:
  ``MAGIC``, a header (``struct`` ``HEADER``: the pickle's length, the number of buffers), the
  buffers' lengths, the pickle, the buffers. One copy, into the file (``os.writev``).
- :func:`load` maps the file copy-on-write (``MAP_PRIVATE``) and unpickles with the buffers
  as slices of the mapping: NumPy arrays read the shared pages in place (no copy) and are
  writable, a write changing only the writer's own pages, never the segment another process
  reads. In-band parts (a ``bytes`` object, Python objects) are copied by unpickling.
- A file is created exclusively (``O_EXCL``) and never rewritten; its name is the reader's
  key. Removing its name frees the memory once no process maps it any more.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import struct
from typing import Any

MAGIC = b"TNDSEG1\n"
HEADER = struct.Struct("<QQ")
ALIGN = 64
_IOV_MAX = 512


class SegmentError(Exception):
    """A segment could not be written or read; the message names its file."""


def _pad(n: int) -> int:
    return -n % ALIGN


def dumps(value: Any) -> tuple[bytes, list[pickle.PickleBuffer]]:
    """``value`` pickled with protocol 5: the in-band pickle and its out-of-band buffers."""
    buffers: list[pickle.PickleBuffer] = []
    main = pickle.dumps(value, 5, buffer_callback=buffers.append)
    return main, buffers


def size_of(main: bytes, buffers: list[pickle.PickleBuffer]) -> int:
    """The bytes a value pickled by :func:`dumps` holds (its pickle and its buffers)."""
    return len(main) + sum(memoryview(b).nbytes for b in buffers)


def write(path: str, main: bytes, buffers: list[pickle.PickleBuffer]) -> int:
    """Write a value pickled by :func:`dumps` to a new file ``path``; the file's size."""
    views = [memoryview(b).cast("B") for b in buffers]   # each buffer as flat bytes
    head = MAGIC + HEADER.pack(len(main), len(views)) + b"".join(
        struct.pack("<Q", v.nbytes) for v in views)
    parts: list[bytes | memoryview] = [head, b"\0" * _pad(len(head)), main]
    at = len(head) + _pad(len(head)) + len(main)
    for v in views:
        pad = _pad(at)
        parts.append(b"\0" * pad)
        parts.append(v)
        at += pad + v.nbytes
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise SegmentError(f"could not create segment {path}: {exc.strerror}") from None
    try:
        for i in range(0, len(parts), _IOV_MAX):
            chunk = [p for p in parts[i:i + _IOV_MAX] if len(p)]
            want = sum(len(p) if isinstance(p, bytes) else p.nbytes for p in chunk)
            done = os.writev(fd, chunk)
            if done < want:   # a short write (tmpfs full, a signal): write the rest by hand
                _write_rest(fd, chunk, done)
    except OSError as exc:
        os.close(fd)
        _remove(path)
        raise SegmentError(f"could not write segment {path} ({at} bytes): {exc.strerror}"
                           ) from None
    os.close(fd)
    return at


def _write_rest(fd: int, chunk: list[bytes | memoryview], done: int) -> None:
    for part in chunk:
        view = memoryview(part)
        if done >= view.nbytes:
            done -= view.nbytes
            continue
        view = view[done:]
        done = 0
        while view.nbytes:
            n = os.write(fd, view)
            view = view[n:]


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def load(path: str) -> Any:
    """The value in segment ``path``, its buffers read in place (see the module docstring)."""
    return parse(view(path), path)


def view(path: str) -> memoryview:
    """Segment ``path`` mapped copy-on-write into this process (it outlives the file's name)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SegmentError(
            f"segment {path} is not on this node ({os.uname().nodename}): a result kept by "
            f"reference is read on the node that made it, and only while its future or a "
            f"task that depends on it is alive") from None
    except OSError as exc:
        raise SegmentError(f"could not open segment {path}: {exc.strerror}") from None
    try:
        size = os.fstat(fd).st_size
        mapped = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE,
                           prot=mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
    return memoryview(mapped)


def parse(data: memoryview, path: str) -> Any:
    """The value in a mapped segment (``path`` names it in errors)."""
    if bytes(data[:len(MAGIC)]) != MAGIC:
        raise SegmentError(f"{path} is not a tandem segment")
    at = len(MAGIC)
    main_len, count = HEADER.unpack_from(data, at)
    at += HEADER.size
    lengths = struct.unpack_from(f"<{count}Q", data, at)
    at += 8 * count
    at += _pad(at)
    main = data[at:at + main_len]
    at += main_len
    buffers = []
    for n in lengths:
        at += _pad(at)
        buffers.append(data[at:at + n])
        at += n
    return pickle.loads(main, buffers=buffers)
