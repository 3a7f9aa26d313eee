"""Waiting on several futures: ``gather`` and ``as_completed``.

Contract: helpers over :class:`TaskFuture` done-callbacks; event-driven (a queue fed by the
callbacks), never a scan. Imports ``tandem.runtime.future``.
Imports: tandem.runtime.future.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

from tandem.runtime.future import TaskFuture


async def gather(*futures: TaskFuture, return_exceptions: bool = False) -> list[Any]:
    """Results of ``futures`` in order, once all have ended. The first failure raises unless
    ``return_exceptions``; the other tasks keep running either way."""
    out: list[Any] = []
    for f in futures:
        if return_exceptions:
            try:
                out.append(await f)
            except Exception as e:
                out.append(e)
        else:
            out.append(await f)
    return out


async def as_completed(futures: Iterable[TaskFuture]) -> AsyncIterator[TaskFuture]:
    """Yield each future as its task ends (completed, failed or cancelled)."""
    pending = list(futures)
    queue: asyncio.Queue[TaskFuture] = asyncio.Queue()
    for f in pending:
        f.add_done_callback(queue.put_nowait)
    for _ in range(len(pending)):
        yield await queue.get()
