"""Results by reference: what a worker reports for a result it kept, and the driver's handle.

Contract: two small types. :class:`Kept` is what a function worker answers instead of a value
(its segment's path and size). :class:`DataRef` is the driver's handle of a kept result: the
task that made it, the node it lives on, its size; ``value()`` maps it (fetched on demand, once,
then cached). The standard library only (a worker unpickles a ``DataRef`` in its arguments).
Imports: tandem.data.segments.

Rules:

- A ``DataRef`` pickles as "load segment ``path``": a task that receives it in its arguments
  gets the value, mapped in place (:func:`tandem.data.segments.load`), on the node that holds
  it. Elsewhere loading fails with a :class:`~tandem.data.segments.SegmentError` that says so
  (a backend sends the value instead to a worker that cannot see the segments:
  :func:`tandem.backends.calls.dump_args_inline`).
- The segment lives as long as its handle: whoever made the handle (the driver's store) frees
  the segment when the handle is garbage (its future dropped and no task that depends on it
  unresolved), through a finalizer it attaches.
- ``pin()`` maps the segment into this process, so its name may be removed (at the session's
  end) while the handle still gives the value.
- A handle whose node was lost (``lose``) gives its value only where it was mapped already
  (pickled, it then carries the value); elsewhere ``value()`` and pickling raise a
  :class:`~tandem.data.segments.SegmentError` naming the task and the node. A result made
  again re-points the handle (``recomputed``: a new segment; ``replaced``: a value it holds
  and pickles by value).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from tandem.data import segments
from tandem.data.segments import SegmentError


@dataclass(frozen=True, slots=True)
class Kept:
    """A result a worker kept in segment ``path`` (``nbytes`` in size) instead of sending it."""

    path: str
    nbytes: int


_UNSET: Any = object()


class DataRef:
    """A kept result of task ``task_id`` on ``node`` (see the module docstring)."""

    __slots__ = ("__weakref__", "_value", "_view", "lost", "nbytes", "node", "path", "task_id")

    def __init__(self, path: str, nbytes: int, node: str, task_id: int) -> None:
        self.path = path
        self.nbytes = nbytes
        self.node = node
        self.task_id = task_id
        self.lost: str | None = None      # why the segment is gone (its node was lost)
        self._value: Any = _UNSET
        self._view: memoryview | None = None

    def lose(self, why: str) -> None:
        """The segment is gone (``why``: its node was lost): the value is unavailable, unless
        this process has it already."""
        self.lost = why

    def recomputed(self, path: str, nbytes: int, node: str) -> None:
        """The result was made again, into segment ``path`` on ``node``: this handle names it
        from now on (its holders need not know)."""
        self.path, self.nbytes, self.node, self.lost = path, nbytes, node, None
        self._value, self._view = _UNSET, None

    def replaced(self, value: Any) -> None:
        """The result was made again and came back by value: this handle holds it."""
        self.path, self.lost = "", None
        self._value, self._view = value, None

    def _gone(self) -> SegmentError:
        return SegmentError(f"the result of task {self.task_id}, kept on node {self.node!r}, "
                            f"is lost: {self.lost}")

    def value(self) -> Any:
        """The result (mapped from the segment the first time, then the same object);
        :class:`~tandem.data.segments.SegmentError` naming the task and its node if the
        segment was lost before this process mapped it."""
        if self._value is _UNSET:
            if self.lost is not None and self._view is None:
                raise self._gone()
            view = self._view
            self._value = segments.load(self.path) if view is None else segments.parse(
                view, self.path)
            self._view = None
        return self._value

    @property
    def loaded(self) -> bool:
        """Whether this process has the value (or its mapping) already."""
        return self._value is not _UNSET or self._view is not None

    def pin(self) -> None:
        """Map the segment now (if not yet), so that it outlives its name."""
        if not self.loaded:
            self._view = segments.view(self.path)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if self.lost is not None or not self.path:
            if not self.loaded:
                raise self._gone()
            return operator.getitem, ((self.value(),), 0)   # this process has it: by value
        return (segments.load, (self.path,))

    def __repr__(self) -> str:
        return f"<DataRef of task {self.task_id} on {self.node}: {self.nbytes} bytes>"
