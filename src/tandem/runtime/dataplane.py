"""The session's data plane: results kept by reference and the streams between running tasks.

Contract: :class:`DataPlane` is the driver's one handle on data that does not travel through
it: its :class:`~tandem.runtime.kept.KeptStore` (results kept on their node, ``kept``) and its
:class:`~tandem.runtime.streams.StreamBroker` (``streams``). :meth:`DataPlane.open` publishes
their addresses in the environment tasks inherit (``TANDEM_STREAMS`` always, from the start;
``TANDEM_SEGMENTS`` when some backend keeps results) before any backend starts, and asks the
backends to keep results; :meth:`DataPlane.aclose` ends the streams, then (after the backends
are down) :meth:`DataPlane.close` removes the directory and puts the environment back as it
was. Both variables are restored to what they were before the session, so a session opened
inside another leaves the outer one's addresses in place.

Imports: tandem.backends.base, tandem.core.view, tandem.data.refs, tandem.data.stream,
tandem.runtime.kept, tandem.runtime.streams, tandem.spec, tandem.trace.instruments.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Mapping, Sequence

from tandem.backends.base import Backend
from tandem.core.view import TaskView
from tandem.data.refs import DataRef, Kept
from tandem.data.stream import ENV as STREAMS_ENV
from tandem.data.stream import SEGMENTS_ENV, TOKEN_ENV
from tandem.runtime.kept import DEFAULT_ABOVE, KeptStore
from tandem.runtime.streams import StreamBroker
from tandem.spec.task import TaskSpec
from tandem.trace.instruments import Instruments

__all__ = ["DEFAULT_ABOVE", "DataPlane"]


class DataPlane:
    """Kept results and streams of one session (see the module docstring)."""

    def __init__(self, instruments: Instruments, clock: Callable[[], float],
                 ref_above: int | None = DEFAULT_ABOVE,
                 tasks: Mapping[int, TaskView] | None = None) -> None:
        self.kept = KeptStore(instruments, clock)   # results kept by reference
        self.streams = StreamBroker()               # streams between running tasks
        # A stream item waiting in a segment counts on its writer's node, as kept results do.
        self._tasks: Mapping[int, TaskView] = tasks if tasks is not None else {}
        self.streams.node_of = self._node_of
        self.streams.on_bytes = self.kept.count
        self.ref_above = ref_above
        self.keeping = False                        # some backend keeps results
        self._env_before: dict[str, str | None] = {}
        # How to make a kept result again, for producers that allow a retry: their specs
        # (with their inputs), as long as the result's handle lives.
        self._recipes: dict[int, TaskSpec] = {}

    def _node_of(self, task: int) -> str | None:
        t = self._tasks.get(task)
        p = t.placement if t is not None else None
        return p.slots[0].node if p is not None and p.slots else None

    def open(self, backends: Sequence[Backend]) -> None:
        """Publish the addresses tasks see and ask the backends to keep results. When a
        backend runs tasks on other hosts, the streams are reached over TCP at the address it
        names (``Backend.driver_host``)."""
        hosts = [h for b in backends if (h := b.driver_host()) is not None]
        if hosts:
            self.streams.reach_from(hosts[0])
            assert self.streams.token is not None
            self._set(TOKEN_ENV, self.streams.token)
        self._set(STREAMS_ENV, self.streams.address)  # tasks started from now see it
        where = self.kept.open()
        self.keeping = bool([b for b in backends if b.keep_results(where, self.ref_above)])
        if self.keeping:
            self._set(SEGMENTS_ENV, where)           # large stream items go there
        else:
            self.kept.close()                        # no backend keeps results: no directory

    def adopt(self, task_id: int, node: str, kept: Kept,
              recipe: TaskSpec | None = None) -> DataRef:
        """The handle of task ``task_id``'s result, kept on ``node``; ``recipe``: the spec that
        makes it again if its node is lost (kept while the handle lives)."""
        ref = self.kept.adopt(task_id, node, kept)
        if recipe is not None:
            self._recipes[task_id] = recipe
            weakref.finalize(ref, self._recipes.pop, task_id, None)
        return ref

    def recipe(self, task_id: int) -> TaskSpec | None:
        """The spec that makes task ``task_id``'s kept result again (``None``: none kept)."""
        return self._recipes.get(task_id)

    def relocate(self, ref: DataRef, node: str, kept: Kept) -> DataRef:
        """``ref``'s result was made again and kept on ``node`` (see ``KeptStore.relocate``)."""
        return self.kept.relocate(ref, node, kept)

    def node_lost(self, node: str, why: str) -> list[DataRef]:
        """Results kept on ``node`` are lost with it (see ``KeptStore.node_lost``)."""
        return self.kept.node_lost(node, why)

    def task_ended(self, task_id: int, failure: Callable[[], str | None]) -> None:
        """Tell the streams a task ended (``failure()`` says why it failed, ``None`` if not)."""
        if self.streams.active:
            self.streams.task_ended(task_id, failure())

    async def aclose(self) -> None:
        """End every stream (before the backends shut down)."""
        await self.streams.aclose()

    def close(self) -> None:
        """Remove the kept results' directory and put the environment back."""
        self.kept.close()
        for name, value in self._env_before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._env_before = {}

    def _set(self, name: str, value: str) -> None:
        self._env_before.setdefault(name, os.environ.get(name))
        os.environ[name] = value
