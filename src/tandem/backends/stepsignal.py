"""Signals for ranks that are not this machine's processes: commands run off the event loop.

Contract: :class:`Signaller` runs the commands a launcher gives to signal a task's ranks on
their nodes (``scancel --signal=... <job>.<step>`` for a Slurm step,
:meth:`~tandem.backends.srun.Srun.signal_argv`) as asyncio subprocesses, so a pause or a
preemption never blocks the loop. Commands for one task run one after another, in the order
they were sent (a SIGSTOP then a SIGCONT cannot arrive the other way round); what they print
is appended to the task's stderr file. :meth:`Signaller.drain` waits for every command sent;
the process backend calls it at shutdown, so none outlives the session.
Imports: nothing from tandem.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Sequence


class Signaller:
    """Runs signal commands without blocking the loop (see the module docstring)."""

    def __init__(self) -> None:
        self._last: dict[int, asyncio.Task[None]] = {}   # task id -> its newest command

    def send(self, task_id: int, argv: Sequence[str], log_path: str) -> None:
        """Run ``argv`` after the commands already sent for ``task_id``."""
        before = self._last.get(task_id)
        job = asyncio.get_running_loop().create_task(self._run(before, tuple(argv), log_path))
        self._last[task_id] = job
        job.add_done_callback(lambda j: self._forget(task_id, j))

    def _forget(self, task_id: int, job: asyncio.Task[None]) -> None:
        if self._last.get(task_id) is job:
            del self._last[task_id]

    @staticmethod
    async def _run(before: asyncio.Task[None] | None, argv: tuple[str, ...],
                   log_path: str) -> None:
        if before is not None:
            with contextlib.suppress(BaseException):
                await before
        try:
            with open(log_path, "ab") as log:
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
                await proc.wait()
        except OSError:
            return   # no log or no command: the grace timer still ends the task

    async def drain(self) -> None:
        """Wait until every command sent so far has finished."""
        while self._last:
            await asyncio.gather(*self._last.values(), return_exceptions=True)
