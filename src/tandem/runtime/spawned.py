"""The coroutines a session spawned: started in its task group, cancelled by its abort.

Contract: :class:`Spawned` starts coroutines in the task group it was given (``None``: the
session is not open, and spawning refuses) and remembers them until they end, so that an abort
can cancel every one still running. No scheduling, no tasks of the core.
Imports: tandem.errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from tandem.errors import TandemError


class Spawned:
    """Coroutines running in a session's task group."""

    __slots__ = ("group", "tasks")

    def __init__(self) -> None:
        self.group: asyncio.TaskGroup | None = None
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None) -> asyncio.Task[Any]:
        """Run ``coro`` inside the task group (refused, closing it, when there is none)."""
        if self.group is None:
            coro.close()
            raise TandemError("Session.spawn: the session is not open")
        task = self.group.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def cancel_all(self) -> None:
        """Cancel every spawned coroutine still running."""
        for task in list(self.tasks):
            task.cancel()
