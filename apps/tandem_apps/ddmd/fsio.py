"""Filesystem bytes a stage reads and writes, measured by the kernel's I/O counters.

Contract: the standard library only. :func:`counted` brackets a block with the calling
thread's ``rchar`` and ``wchar`` from ``/proc/thread-self/io`` (Linux): the bytes this thread
passed through ``read``/``pread``/``readv`` and ``write``/``pwrite``/``writev`` system calls
inside the block, whatever the page cache did. A stage's own thread makes its file I/O
(h5py, the DCD writer, ``torch.save``/``torch.load``, JSON, ``np.savez``), so bracketing a
stage's body counts its files; tandem's hand-offs (the worker's socket, results kept in
``/dev/shm``) happen outside the body, before and after, and are not counted. The read of
the counter file itself is subtracted. Where ``/proc/thread-self/io`` cannot be read the
block counts nothing and :attr:`FileIO.measured` is False.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_IO = "/proc/thread-self/io"


@dataclass(frozen=True, slots=True)
class FileIO:
    """Bytes read and written through system calls by a stage (or a sum of stages)."""

    read: int = 0
    written: int = 0
    measured: bool = True

    def __add__(self, other: FileIO) -> FileIO:
        return FileIO(self.read + other.read, self.written + other.written,
                      self.measured and other.measured)

    def to_dict(self) -> dict[str, int]:
        return {"read": self.read, "written": self.written}


NO_IO = FileIO()
"""Nothing read or written (the default of a result that counted nothing)."""


def _counters() -> tuple[int, int, int] | None:
    """(rchar, wchar, bytes of this read) of the calling thread, or None off Linux."""
    try:
        with open(_IO, "rb", buffering=0) as f:
            raw = f.read()
    except OSError:
        return None
    values = dict(line.split(b":", 1) for line in raw.splitlines() if b":" in line)
    return int(values[b"rchar"]), int(values[b"wchar"]), len(raw)


@dataclass
class Counter:
    """What :func:`counted` measured, filled in when its block ends."""

    io: FileIO = FileIO(measured=False)


@contextmanager
def counted() -> Iterator[Counter]:
    """Count the calling thread's read and written bytes inside the block (``.io`` after)."""
    out = Counter()
    before = _counters()
    try:
        yield out
    finally:
        after = _counters()
        if before is not None and after is not None:
            # The first read of the counter file is itself counted by the second.
            out.io = FileIO(read=max(0, after[0] - before[0] - before[2]),
                            written=max(0, after[1] - before[1]))
