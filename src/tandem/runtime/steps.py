"""The driver's scheduling step: events in, the core's actions out, once per loop iteration.

Contract: :class:`Steps` owns the queue of events for the core, hands them over in batches
(``handle`` for one, ``handle_many`` for several) and passes every action to the driver's
``carry``; it owns the core's deadline timer (one ``loop.call_at`` handle, re-armed only when
the core's next deadline moves), the instruments' flush timer, the event ``wait_idle`` waits
on, and the forgetting of tasks whose futures were dropped. Event-driven: nothing sleeps or
scans.

Rules:

- re-entrancy: an event fed while actions are carried out (a backend answering at once) is
  queued and handled in the same step, after what was queued before it;
- submissions queued by ``post`` reach the core together at the next loop iteration (one
  ``handle_many`` for a burst of submissions);
- once per loop iteration in which events were handled, the flush is scheduled (lines reach
  the trace file within ``TRACE_FLUSH_S`` of being written: a crash loses at most that much),
  or, when no instrument buffers, dropped tasks are forgotten at once; the timer is re-armed;
  ``wait_idle`` wakes when no task is unfinished;
- forgetting: a resolved task whose future was dropped (reported from its finalizer, on any
  thread) is forgotten by the core after the next flush, so its records reach the instruments
  first.

Imports: tandem.core.events, tandem.core.scheduler, tandem.trace.instruments.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from tandem.core.events import TimerFired
from tandem.core.scheduler import Scheduler
from tandem.trace.instruments import Instruments

TRACE_FLUSH_S = 0.05   # the longest a trace line waits in memory before reaching the file


class Steps:
    """Feeds one core and carries out its actions (see the module docstring)."""

    def __init__(self, core: Scheduler, instruments: Instruments, clock: Callable[[], float],
                 carry: Callable[[Any, float], None]) -> None:
        self._core = core
        self._ins = instruments
        self._clock = clock
        self._carry = carry
        self.dropped: list[int] = []                  # resolved, future gone: to forget
        self._inbox: deque[Any] = deque()
        self._pumping = False
        self._pump_soon = False
        self._step_pending = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flush_at: asyncio.TimerHandle | None = None
        self._idle: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0

    def bind(self) -> None:
        """Run on the current event loop from now on."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._idle = asyncio.Event()

    def post(self, event: Any) -> None:
        """Queue ``event`` for the core's next step (this loop iteration's submissions go
        together)."""
        self._inbox.append(event)
        if not self._pumping and not self._pump_soon:
            self._pump_soon = True
            assert self._loop is not None
            self._loop.call_soon(self._pump_later)

    def feed(self, event: Any) -> None:
        """Hand ``event`` to the core now (after what is queued) and carry out its actions."""
        self._inbox.append(event)
        if not self._pumping:
            self._pump()

    def settle(self) -> None:
        """Hand the core what is queued now (before reading its state)."""
        if self._inbox and not self._pumping:
            self._pump()

    def _pump_later(self) -> None:
        self._pump_soon = False
        if self._inbox and not self._pumping:
            self._pump()

    def _pump(self) -> None:
        self._pumping = True
        inbox = self._inbox
        handle = self._core.handle
        handle_many = self._core.handle_many
        now_fn = self._clock
        carry = self._carry
        try:
            while inbox:
                now = now_fn()
                if len(inbox) == 1:
                    actions = handle(inbox.popleft(), now)
                else:
                    batch = list(inbox)
                    inbox.clear()
                    actions = handle_many(batch, now)
                for action in actions:
                    carry(action, now)
        finally:
            self._pumping = False
        if not self._step_pending and self._loop is not None:
            self._step_pending = True
            self._loop.call_soon(self._end_step)
        elif self._loop is None:
            self._end_step()

    def _end_step(self) -> None:
        self._step_pending = False
        if self._ins.wants("flush"):
            if self._flush_at is None and self._loop is not None:
                self._flush_at = self._loop.call_later(TRACE_FLUSH_S, self.flush)
        elif self.dropped:
            self._forget()
        self._arm_timer()
        if self._idle is not None and not self._core.unfinished:
            self._idle.set()

    def flush(self) -> None:
        """Flush the instruments, then forget the tasks whose futures were dropped before."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        dropped, self.dropped = self.dropped, []
        self._ins.call("flush")
        if dropped:
            self._forget(dropped)

    def drop(self, task_id: int) -> None:
        """A resolved task's future is gone (from its finalizer, on any thread): note it; it is
        forgotten after the instruments' next flush."""
        first = not self.dropped
        self.dropped.append(task_id)
        loop = self._loop
        if first and loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing left to forget for
                if threading.get_ident() == self._thread:
                    loop.call_soon(self._after_drop)
                else:
                    loop.call_soon_threadsafe(self._after_drop)

    def _after_drop(self) -> None:
        if not self._step_pending:
            self._step_pending = True
            self._end_step()

    def _forget(self, dropped: list[int] | None = None) -> None:
        if dropped is None:
            dropped, self.dropped = self.dropped, []
        forget = self._core.forget
        for tid in dropped:
            forget(tid)

    def _arm_timer(self) -> None:
        at = self._core.next_deadline()
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is not None and self._loop is not None:
            self._timer = self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.feed(TimerFired())

    async def wait_idle(self) -> None:
        """Wait until every task submitted so far has ended."""
        self.settle()
        if self._core.unfinished:
            assert self._idle is not None
            self._idle.clear()
            await self._idle.wait()

    def stop(self) -> None:
        """Cancel the deadline timer (the session is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
