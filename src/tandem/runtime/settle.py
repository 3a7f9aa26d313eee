"""Ending the streams nothing can end, once the session's block is over.

Contract: :class:`Settler` is told when the session's ``async with`` block has ended
(:meth:`Settler.drain`) and, from then on, of every change that may leave readers waiting for
good (:meth:`Settler.soon`: a reader started waiting, a task ended, a spawned coroutine
ended). At most once per loop iteration it checks: no spawned coroutine runs, and the tasks
waiting on starved streams (:meth:`~tandem.runtime.streams.StreamBroker.starved`) are the only
ones running while every other unfinished task is pending (``Scheduler.only_running``); then
each such stream is settled (:meth:`~tandem.runtime.stream_state.Stream.end_starved`: ended
without ``writers=``, failed when its writers did not all come). Nothing polls: checks follow
those events only.
Imports: tandem.runtime.spawned, tandem.runtime.streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from tandem.runtime.spawned import Spawned
from tandem.runtime.streams import StreamBroker


class Settler:
    """Settles one session's starved streams after its block (see the module docstring)."""

    __slots__ = ("_draining", "_only_running", "_pending", "_spawned", "_streams")

    def __init__(self, streams: StreamBroker, spawned: Spawned,
                 only_running: Callable[[Iterable[int]], bool]) -> None:
        self._streams = streams
        self._spawned = spawned
        self._only_running = only_running
        self._draining = self._pending = False
        streams.on_wait = self.soon

    def drain(self) -> None:
        """The session's block has ended: check now, and after each change from now on."""
        self._draining = True
        self.soon()

    def soon(self) -> None:
        """Something changed: check at the end of this loop iteration (once)."""
        if self._draining and not self._pending and self._streams.active:
            self._pending = True
            asyncio.get_running_loop().call_soon(self._check)

    def _check(self) -> None:
        self._pending = False
        if self._spawned.tasks:
            return
        starved = self._streams.starved()
        if starved and self._only_running(starved):
            for stream in {id(s): s for s in starved.values()}.values():
                stream.end_starved()
