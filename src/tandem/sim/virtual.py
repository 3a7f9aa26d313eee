"""An asyncio event loop on virtual time: when nothing is ready, the clock jumps to the next timer.

Contract: :class:`VirtualEventLoop` is a standard selector event loop whose ``time()`` is a
virtual clock; its selector never sleeps: when the loop would wait ``t`` seconds for I/O, the
clock advances by ``t`` instead (ready file descriptors are still served at once). So
``asyncio.sleep``, ``call_later``, timeouts and a :class:`~tandem.runtime.session.Session`'s
deadlines all run on virtual seconds, as fast as the callbacks execute, in the same order as
on real time. :func:`run_virtual` is ``asyncio.run`` on such a loop. Imports the standard
library and ``tandem.errors``.

Rules:

- code on virtual time must not wait for threads, processes or the network: the clock does
  not wait for them (their callbacks arrive, but late in virtual terms);
- when nothing at all is scheduled and no file descriptor is ready, no event can ever come:
  the main coroutine is cancelled and :func:`run_virtual` raises :class:`SimulationStuck`
  (a real loop would hang);
- the clock starts at 0.0 on every loop, so the same run gives the same floating-point times
  (a clock starting at the real monotonic time rounded differently from one run to the next).
Imports: tandem.errors.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from tandem.errors import TandemError

T = TypeVar("T")


class SimulationStuck(TandemError):
    """Every coroutine of a run on virtual time waits for something that can never happen."""


class VirtualClock:
    """The virtual time, in seconds; only moves forward."""

    __slots__ = ("now",)

    def __init__(self, now: float) -> None:
        self.now = now

    def advance_to(self, t: float) -> None:
        if t > self.now:
            self.now = t


class _VirtualSelector(selectors.BaseSelector):
    """A real selector, polled without waiting; waiting advances the clock instead."""

    def __init__(self, clock: VirtualClock, on_stuck: Callable[[], None]) -> None:
        self._real = selectors.DefaultSelector()
        self._clock = clock
        self._on_stuck = on_stuck

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            self._on_stuck()        # cancels (callbacks the loop runs next)
            return ready
        self._clock.now += max(0.0, timeout)
        return ready

    def close(self) -> None:
        self._real.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop on a :class:`VirtualClock` (see the module docstring)."""

    def __init__(self) -> None:
        self.clock = VirtualClock(0.0)
        self.origin = self.clock.now
        super().__init__(_VirtualSelector(self.clock, self._on_stuck))
        self.main: asyncio.Task[Any] | None = None
        self.stuck_at: float | None = None

    def time(self) -> float:
        return self.clock.now

    def _on_stuck(self) -> None:
        if self.stuck_at is None:
            self.stuck_at = self.clock.now
        main = self.main
        if main is not None and not main.done():
            main.cancel("the run on virtual time is stuck")
            return
        for task in asyncio.all_tasks(self):   # clean-up itself is stuck: end everything
            task.cancel()


def run_virtual(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """Run ``main`` to completion on a new :class:`VirtualEventLoop` (``asyncio.run`` on
    virtual time) and close the loop; raises :class:`SimulationStuck` if the run can never go
    on."""
    with asyncio.Runner(debug=debug, loop_factory=VirtualEventLoop) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, VirtualEventLoop)

        async def wrapped() -> T:
            loop.main = asyncio.current_task()
            return await main

        try:
            return runner.run(wrapped())
        except asyncio.CancelledError:
            if loop.stuck_at is None:
                raise
            raise SimulationStuck(
                f"the run on virtual time is stuck {loop.stuck_at - loop.origin:.6g} s after it "
                "began: every coroutine waits and nothing is scheduled (is something awaited "
                "that no task, timer or agent will ever resolve?)") from None
