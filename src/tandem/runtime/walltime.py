"""The session's walltime: when its resources go away, and what was left when they did.

Contract: :func:`walltime_of` checks ``open_session``'s ``walltime=`` / ``end_time=`` /
``margin=`` / ``grace=`` (a :class:`SpecError` naming the argument) and turns them into the
core's :class:`~tandem.core.values.Walltime` on the driver's clock axis: a Unix end time is
converted to the clock with one reading of both. Inside a Slurm allocation with neither given,
the end is the allocation's (``Platform.ends_at``, from ``scontrol``'s ``EndTime``).
:class:`WalltimeTally` is an instrument that classifies each task as it resolves (done,
deferred, preempted, never started, other) and, when the run ends, logs the summary on the
``tandem`` logger; :class:`WalltimeSummary` is that summary, a frozen value
(``Session.walltime``). The core decides everything (:mod:`tandem.core.walltime`); nothing
here schedules.

Defaults: ``grace`` is the session's ``kill_grace`` (the time a preempted task gets to
checkpoint and exit); ``margin`` is :data:`DEFAULT_MARGIN` seconds (slack for estimates that
run a little long and for launch latency).
Imports: tandem.core.actions, tandem.core.states, tandem.core.values, tandem.core.view,
tandem.errors, tandem.spec.checks, tandem.spec.platform, tandem.trace.instrument.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tandem.core.actions import Steered
from tandem.core.states import DONE
from tandem.core.values import FailureKind, SteerAction, Walltime
from tandem.errors import SpecError
from tandem.spec.checks import is_number
from tandem.spec.platform import Platform
from tandem.trace.instrument import Instrument

if TYPE_CHECKING:
    from tandem.core.view import TaskView

DEFAULT_MARGIN = 1.0
"""Seconds of slack between a launched task's expected end and the walltime's preemption."""

log = logging.getLogger("tandem")
summary_log = logging.getLogger("tandem.walltime")
"""Where the closing summary goes (a warning when tasks are left); ``tandem run``, which prints
the summary itself, mutes it."""


def _seconds(name: str, value: object, *, positive: bool = False) -> float:
    if not is_number(value) or math.isnan(float(value)) or math.isinf(float(value)):
        raise SpecError(f"open_session: {name} must be a number of seconds, got {value!r}")
    v = float(value)
    if positive and v <= 0:
        raise SpecError(f"open_session: {name} must be > 0 seconds, got {value!r}")
    if v < 0:
        raise SpecError(f"open_session: {name} must be >= 0 seconds, got {value!r}")
    return v


def walltime_of(platform: Platform, *, walltime: float | None, end_time: float | None,
                margin: float | None, grace: float | None, kill_grace: float,
                clock: Callable[[], float]) -> tuple[Walltime | None, float | None]:
    """The core's walltime on ``clock``'s axis and the end as a Unix time (``(None, None)``
    without one). ``walltime``: seconds from now; ``end_time``: a Unix time; neither: the
    allocation's end (``platform.ends_at``) if the platform has one; ``walltime=math.inf``:
    none at all."""
    if walltime is not None and end_time is not None:
        raise SpecError("open_session: give walltime= (seconds from now) or end_time= (a Unix "
                        "time), not both")
    if walltime == math.inf:      # no walltime, even inside an allocation
        if margin is not None or grace is not None:
            raise SpecError("open_session: margin= and grace= go with a walltime, and "
                            "walltime=math.inf is none")
        return None, None
    now_clock, now_unix = clock(), time.time()
    explicit = walltime is not None or end_time is not None
    if walltime is not None:
        end = now_unix + _seconds("walltime", walltime, positive=True)
    elif end_time is not None:
        end = _seconds("end_time", end_time)
        if end <= now_unix:
            raise SpecError(f"open_session: end_time {end_time!r} is in the past (now is "
                            f"{now_unix:.0f}, Unix time)")
    elif platform.ends_at is not None:
        end = float(platform.ends_at)
    else:
        if margin is not None or grace is not None:
            raise SpecError("open_session: margin= and grace= go with a walltime (walltime= or "
                            "end_time=, or a Slurm allocation's end)")
        return None, None
    m = DEFAULT_MARGIN if margin is None else _seconds("margin", margin)
    g = float(kill_grace) if grace is None else _seconds("grace", grace)
    left = end - now_unix
    if explicit and g + m >= left:
        raise SpecError(f"open_session: grace ({g:g} s) and margin ({m:g} s) leave no time to "
                        f"run anything: the walltime ends in {left:g} s")
    return Walltime(ends_at=now_clock + left, margin=m, grace=g), end


@dataclass(frozen=True, slots=True, kw_only=True)
class WalltimeSummary:
    """What a session with a walltime left. ``ended``: the walltime's end came (running tasks
    were preempted) before the work did; ``ends_at``: the end, as a Unix time. Task counts:
    ``done`` (succeeded), ``deferred`` (held back: would not have finished in time),
    ``preempted`` (were running, stopped by the end; a checkpoint they wrote is in their task
    directory), ``never_started`` (waited, or waited for a deferred task), ``other`` (ended
    otherwise: failed, cancelled, timed out)."""

    ends_at: float
    ended: bool
    done: int
    deferred: int
    preempted: int
    never_started: int
    other: int

    @property
    def left(self) -> int:
        """Tasks the walltime ended before they could finish."""
        return self.deferred + self.preempted + self.never_started

    def describe(self) -> str:
        head = ("the walltime ended" if self.ended else
                "the session closed before its walltime" if not self.left else
                "the session closed early: nothing left fits the remaining walltime")
        text = (f"{head}: {self.done} done, {self.deferred} deferred, {self.preempted} "
                f"preempted, {self.never_started} never started")
        if self.other:
            text += f", {self.other} ended otherwise"
        if self.left:
            text += "; open the next session with resume=True to continue"
        return text


class WalltimeTally(Instrument):
    """Counts, as tasks resolve, what the walltime left (see :class:`WalltimeSummary`)."""

    def __init__(self, wall: Walltime, ends_at: float) -> None:
        self.wall = wall
        self.ends_at = ends_at
        self._tasks: Mapping[int, TaskView] = {}
        self._deferred: set[int] = set()
        self._counts = dict.fromkeys(("done", "deferred", "preempted", "never_started",
                                      "other"), 0)
        self._ended = False
        self.final: WalltimeSummary | None = None

    def bind(self, tasks: Mapping[int, TaskView], pools: Callable[[], Any]) -> None:
        self._tasks = tasks

    def steered(self, action: Steered, now: float) -> None:
        if action.by == "walltime" and action.action is SteerAction.DEFER \
                and action.task_id is not None:
            self._deferred.add(action.task_id)

    def task_resolved(self, task_id: int) -> None:
        t = self._tasks.get(task_id)
        if t is None:
            return
        f = t.failure
        if t.state is DONE:
            key = "done"
        elif f is None or f.kind is not FailureKind.WALLTIME:
            key = "other"
        elif task_id in self._deferred:
            key = "deferred"
        elif t.launched is not None:
            key = "preempted"
        else:
            key = "never_started"
        self._deferred.discard(task_id)
        self._counts[key] += 1

    def summary(self) -> WalltimeSummary:
        """The counts so far (final once the session has closed)."""
        return self.final or WalltimeSummary(ends_at=self.ends_at, ended=self._ended,
                                             **self._counts)

    def run_ended(self, now: float) -> None:
        self._ended = now >= self.wall.preempt_at
        self.final = s = self.summary()
        (summary_log.warning if s.left else summary_log.info)("walltime: %s", s.describe())


def summary_of(instruments: object) -> WalltimeSummary | None:
    """The summary of the :class:`WalltimeTally` among a driver's instruments (``None``: the
    session has no walltime)."""
    for ins in instruments:  # type: ignore[attr-defined]
        if isinstance(ins, WalltimeTally):
            return ins.summary()
    return None
