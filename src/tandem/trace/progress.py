"""Live progress: per kind, tasks waiting / running / done / failed, and busy cores and GPUs.

Contract: an :class:`~tandem.trace.instrument.Instrument` that keeps counters from the hooks
(no scheduler state read) and renders them: a ``rich`` table refreshed in place when the
stream is a terminal, one plain line per interval otherwise (logs, CI). ``run`` is the
refresher coroutine the caller spawns beside its tasks; it redraws on a timer, it does not
look for completions (those arrive through the hooks).
Imports: tandem.core, tandem.spec.platform, tandem.spec.task, tandem.trace.instrument.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import IO, Any

from tandem.core.actions import Launch
from tandem.core.record import TaskRecord
from tandem.core.states import DONE
from tandem.spec.platform import Platform
from tandem.spec.task import TaskSpec
from tandem.trace.instrument import Instrument


@dataclass(slots=True)
class KindCounts:
    waiting: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0


class Progress(Instrument):
    """Counts per kind and busy resources; ``line()`` and ``table()`` render them."""

    def __init__(self, stream: IO[str] | None = None, *, interval: float | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.25 if self.live else 5.0)
        self.kinds: dict[str, KindCounts] = {}
        self._kind_of: dict[int, str] = {}
        self._held: dict[int, tuple[int, int]] = {}
        self.busy_cores = 0
        self.busy_gpus = 0
        self.total_cores = 0
        self.total_gpus = 0

    # -- hooks ---------------------------------------------------------------------------
    def run_started(self, platform: Platform, policy: str, now: float, epoch: float) -> None:
        self.total_cores = platform.total_cores
        self.total_gpus = platform.total_gpus

    def task_submitted(self, task_id: int, spec: TaskSpec, now: float) -> None:
        self._kind_of[task_id] = spec.kind
        self.kinds.setdefault(spec.kind, KindCounts()).waiting += 1

    def task_launched(self, launch: Launch, now: float) -> None:
        c = self.kinds[self._kind_of[launch.task_id]]
        if launch.task_id not in self._held:
            c.waiting -= 1
            c.running += 1
        else:   # a retry: give back what the failed attempt held
            cores, gpus = self._held[launch.task_id]
            self.busy_cores -= cores
            self.busy_gpus -= gpus
        cores = sum(len(s.cores) for s in launch.placement.slots)
        gpus = sum(len(s.gpus) for s in launch.placement.slots)
        self._held[launch.task_id] = (cores, gpus)
        self.busy_cores += cores
        self.busy_gpus += gpus

    def task_ended(self, record: TaskRecord) -> None:
        c = self.kinds.setdefault(record.kind, KindCounts())
        held = self._held.pop(record.task_id, None)
        if held is None:
            c.waiting -= 1
        else:
            c.running -= 1
            self.busy_cores -= held[0]
            self.busy_gpus -= held[1]
        if record.state is DONE:
            c.done += 1
        else:
            c.failed += 1

    def run_ended(self, now: float) -> None:
        self.render()

    # -- rendering -----------------------------------------------------------------------
    def utilisation(self) -> tuple[float, float]:
        uc = self.busy_cores / self.total_cores if self.total_cores else 0.0
        ug = self.busy_gpus / self.total_gpus if self.total_gpus else 0.0
        return uc, ug

    def line(self) -> str:
        parts = [f"{k} {c.done}/{c.waiting + c.running + c.done + c.failed} done, "
                 f"{c.running} running, {c.waiting} waiting, {c.failed} failed"
                 for k, c in sorted(self.kinds.items())]
        uc, ug = self.utilisation()
        return f"progress: {'; '.join(parts) or 'no tasks yet'} | cores {uc:.0%} gpus {ug:.0%}"

    def table(self) -> Any:
        from rich.table import Table

        uc, ug = self.utilisation()
        t = Table(title=f"tandem — busy cores {uc:.0%}, GPUs {ug:.0%}")
        for col in ("kind", "done", "running", "waiting", "failed"):
            t.add_column(col, justify="left" if col == "kind" else "right")
        for k, c in sorted(self.kinds.items()):
            t.add_row(k, str(c.done), str(c.running), str(c.waiting), str(c.failed))
        return t

    def render(self) -> None:
        if not self.live:
            print(self.line(), file=self.stream, flush=True)

    async def run(self) -> None:
        """Redraw every ``interval`` seconds until cancelled."""
        if self.live:
            from rich.console import Console
            from rich.live import Live

            with Live(self.table(), console=Console(file=self.stream), auto_refresh=False,
                      transient=False) as live:
                try:
                    while True:
                        await asyncio.sleep(self.interval)
                        live.update(self.table(), refresh=True)
                finally:
                    live.update(self.table(), refresh=True)
        else:
            while True:
                await asyncio.sleep(self.interval)
                self.render()
