"""The instruments of a run, called by hook name: the one place both drivers call hooks from.

Contract: :class:`Instruments` holds a run's instruments and, per hook, the ones that override
it (so a hook nobody overrides costs one empty loop, and ``wants`` lets a driver skip building
a value, a record say, nobody reads). ``call(hook, *args)`` calls the hook of each in turn; a
hook that raises is logged on the ``tandem`` logger with the instrument and the hook's name,
the instrument is removed from every hook, and the others and the run go on. Instruments can
be added and removed while a run goes; one added to a bound run is bound at once.
Imports: tandem.core.pools, tandem.core.view, tandem.trace.instrument.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tandem.trace.instrument import HOOKS, Instrument

if TYPE_CHECKING:
    from tandem.core.pools import PoolUsage
    from tandem.core.view import TaskView

log = logging.getLogger("tandem")

_Calls = tuple[tuple[Instrument, Callable[..., Any]], ...]


def _overrides(instrument: Instrument, hook: str) -> bool:
    return getattr(type(instrument), hook, None) is not getattr(Instrument, hook)


class Instruments:
    """A run's instruments (see the module docstring)."""

    __slots__ = ("_all", "_bound", "_calls")

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self._all: list[Instrument] = []
        self._calls: dict[str, _Calls] = dict.fromkeys(HOOKS, ())
        self._bound: tuple[Mapping[int, TaskView], Callable[[], Mapping[str, PoolUsage]]] \
            | None = None
        for ins in instruments:
            self.add(ins)

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(tuple(self._all))

    def __contains__(self, instrument: object) -> bool:
        return instrument in self._all

    def add(self, instrument: Instrument) -> None:
        """Call ``instrument``'s hooks from now on (binding it first if the run is bound)."""
        if not isinstance(instrument, Instrument):
            raise TypeError(f"instruments: {instrument!r} is not a tandem.Instrument")
        if instrument in self._all:
            return
        self._all.append(instrument)
        for hook in HOOKS:
            if _overrides(instrument, hook):
                self._calls[hook] = (*self._calls[hook], (instrument, getattr(instrument, hook)))
        if self._bound is not None and _overrides(instrument, "bind"):
            self._call_one(instrument, "bind", self._bound)

    def remove(self, instrument: Instrument) -> None:
        """Stop calling ``instrument`` (nothing happens if it is not there)."""
        if instrument not in self._all:
            return
        self._all.remove(instrument)
        for hook, calls in self._calls.items():
            if any(i is instrument for i, _ in calls):
                self._calls[hook] = tuple(c for c in calls if c[0] is not instrument)

    def flush_and_remove(self, instrument: Instrument) -> None:
        """Flush ``instrument`` (if it buffers) and stop calling it."""
        if instrument not in self._all:
            return
        if _overrides(instrument, "flush"):
            self._call_one(instrument, "flush", ())
        self.remove(instrument)

    def wants(self, hook: str) -> bool:
        """Whether some instrument overrides ``hook``."""
        return bool(self._calls[hook])

    def call(self, hook: str, *args: Any) -> None:
        """Call ``hook(*args)`` on every instrument that overrides it, in the order they were
        added; one that raises is logged and removed."""
        for ins, fn in self._calls[hook]:
            try:
                fn(*args)
            except Exception:
                self._failed(ins, hook)

    def bind(self, tasks: Mapping[int, TaskView],
             pools: Callable[[], Mapping[str, PoolUsage]]) -> None:
        """Hand every instrument (and every one added later) the driver's tasks and pools."""
        self._bound = (tasks, pools)
        self.call("bind", tasks, pools)

    def _call_one(self, ins: Instrument, hook: str, args: tuple[Any, ...]) -> None:
        try:
            getattr(ins, hook)(*args)
        except Exception:
            self._failed(ins, hook)

    def _failed(self, ins: Instrument, hook: str) -> None:
        log.exception("tandem: instrument %r raised in its %s hook; it is removed, the run "
                      "goes on", ins, hook)
        self.remove(ins)
