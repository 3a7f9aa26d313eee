"""A recording reporter shared by the backend tests."""

from __future__ import annotations

import asyncio
from typing import Any

from tandem.backends.base import Outcome


class Recorder:
    """A reporter that records events and completes one future per task and event."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.events: list[tuple[str, int]] = []
        self._started: dict[int, asyncio.Future[None]] = {}
        self._exited: dict[int, asyncio.Future[Outcome]] = {}

    def _future(self, table: dict[int, asyncio.Future[Any]], task_id: int) -> asyncio.Future[Any]:
        if task_id not in table:
            table[task_id] = asyncio.get_running_loop().create_future()
        return table[task_id]

    def started(self, task_id: int) -> None:
        self.events.append(("started", task_id))
        self._future(self._started, task_id).set_result(None)

    def exited(self, outcome: Outcome) -> None:
        self.events.append(("exited", outcome.task_id))
        self._future(self._exited, outcome.task_id).set_result(outcome)

    async def wait_started(self, task_id: int) -> None:
        await asyncio.wait_for(self._future(self._started, task_id), self.timeout)

    async def wait_exited(self, task_id: int) -> Outcome:
        return await asyncio.wait_for(self._future(self._exited, task_id), self.timeout)
