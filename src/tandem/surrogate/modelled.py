"""A surrogate-backed function as a cost model: what a campaign that calls it would take,
predicted on tandem's virtual time before anything is trained.

Contract: :class:`ModelledSurrogate` is called like :class:`~tandem.surrogate.Surrogate`
(``await ms(x)``) inside any session, and makes the same kinds of tasks with the same rules,
but of modelled work: a real call or an audit is a :class:`~tandem.spec.task.Mock` task of
``costs.real`` seconds on ``costs.cores`` cores (kinds ``<name>-real``, ``<name>-audit``, audits
at ``costs.audit_priority``), a retraining a Mock task of ``costs.retrain`` seconds (kind
``<name>-retrain``, one at a time: first at ``costs.min_pairs`` stored pairs, then after
``costs.every`` new ones). Until the first retraining ends no call is answered; after it, a
call is answered by the surrogate with probability ``costs.hit_rate`` (a seeded generator,
one draw per call, so a run is reproducible), taking ``costs.inference`` seconds of that call's
time, and an answer is audited with probability ``costs.audit_fraction``. A real call's and an
audit's pair is stored when its task ends. The value a call returns is ``value(x)`` (default
``None``): a cheap stand-in for the function, so that code which branches on it runs.

In :func:`tandem.sim.open_simulated_session` on :func:`tandem.sim.run_virtual` this predicts a
campaign's makespan, real calls and speed-up in milliseconds of wall time; the scheduler is the
one that runs the real campaign. :attr:`ModelledSurrogate.counts` says what it did.
Imports: tandem.errors, tandem.runtime.session, tandem.spec.checks, tandem.spec.resources,
tandem.spec.task.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from tandem.errors import SpecError
from tandem.runtime.session import Session
from tandem.spec.checks import is_int, is_number
from tandem.spec.resources import Resources
from tandem.spec.task import Mock, TaskSpec


@dataclass(frozen=True, slots=True)
class SurrogateCosts:
    """What a surrogate-backed function costs and how often it is trusted (seconds)."""

    real: float
    """One call of the real function."""
    hit_rate: float = 0.9
    """The fraction of calls the surrogate answers once a model serves."""
    inference: float = 0.0
    """One answer of the surrogate (the calling code waits for it)."""
    retrain: float = 1.0
    """One retraining task."""
    min_pairs: int = 5
    every: int = 10
    audit_fraction: float = 0.1
    cores: int = 1
    retrain_cores: int = 1
    priority: int = 0
    audit_priority: int = -10
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("real", "inference", "retrain"):
                if not is_number(v) or not math.isfinite(v) or v < 0:
                    raise SpecError(f"SurrogateCosts: {f.name} must be seconds >= 0, got {v!r}")
            elif f.name in ("hit_rate", "audit_fraction"):
                if not is_number(v) or not 0 <= v <= 1:
                    raise SpecError(f"SurrogateCosts: {f.name} must be in [0, 1], got {v!r}")
            elif not is_int(v):
                raise SpecError(f"SurrogateCosts: {f.name} must be an integer, got {v!r}")
        for name in ("min_pairs", "every"):
            if getattr(self, name) < 1:
                raise SpecError(f"SurrogateCosts: {name} must be >= 1, got "
                                f"{getattr(self, name)!r}")
        if self.cores < 0 or self.retrain_cores < 0:
            raise SpecError("SurrogateCosts: cores and retrain_cores must be >= 0")
        if self.audit_priority >= self.priority:
            raise SpecError(f"SurrogateCosts: audit_priority ({self.audit_priority}) must be "
                            f"below priority ({self.priority}): audits are low-priority tasks")


@dataclass(frozen=True, slots=True)
class ModelledCounts:
    """What a modelled surrogate did."""

    calls: int
    surrogate: int
    real: int
    audits: int
    retrains: int
    versions: int

    @property
    def share(self) -> float:
        return self.surrogate / self.calls if self.calls else 0.0


class ModelledSurrogate:
    """A surrogate-backed function's costs in a session (see the module docstring)."""

    def __init__(self, session: Session, costs: SurrogateCosts, *, name: str = "surrogate",
                 value: Callable[[Any], Any] | None = None) -> None:
        if not isinstance(session, Session):
            raise SpecError(f"ModelledSurrogate: session must be a tandem Session, got "
                            f"{session!r}")
        if not isinstance(costs, SurrogateCosts):
            raise SpecError(f"ModelledSurrogate: costs must be a SurrogateCosts, got {costs!r}")
        self.session, self.costs, self.name, self.value = session, costs, name, value
        self._rng = random.Random(costs.seed)
        self._pairs = self._pairs_at_fit = 0
        self._training = False
        self._version = 0
        self._n = {"calls": 0, "surrogate": 0, "real": 0, "audits": 0, "retrains": 0}

    @property
    def counts(self) -> ModelledCounts:
        return ModelledCounts(versions=self._version, **self._n)

    def _task(self, what: str, seconds: float, cores: int, priority: int) -> Any:
        spec = TaskSpec(name=f"{self.name}-{what}", kind=f"{self.name}-{what}",
                        work=Mock(seconds=seconds), resources=Resources(cores=cores),
                        priority=priority)
        return self.session.submit_spec(spec)

    async def __call__(self, x: Any = None) -> Any:
        c = self.costs
        self._n["calls"] += 1
        draw = self._rng.random()
        if self._version > 0 and draw < c.hit_rate:
            self._n["surrogate"] += 1
            if self._rng.random() < c.audit_fraction:
                self._n["audits"] += 1
                audit = self._task("audit", c.real, c.cores, c.audit_priority)
                audit.add_done_callback(lambda _: self._stored())
            if c.inference > 0:
                await asyncio.sleep(c.inference)
        else:
            self._n["real"] += 1
            await self._task("real", c.real, c.cores, c.priority)
            self._stored()
        return None if self.value is None else self.value(x)

    def _stored(self) -> None:
        self._pairs += 1
        c = self.costs
        due = (self._pairs >= c.min_pairs if self._version == 0 and self._pairs_at_fit == 0
               else self._pairs - self._pairs_at_fit >= c.every)
        if self._training or not due:
            return
        self._training = True
        self._pairs_at_fit = self._pairs
        self._n["retrains"] += 1
        fut = self._task("retrain", c.retrain, c.retrain_cores, c.priority)
        fut.add_done_callback(lambda _: self._trained())

    def _trained(self) -> None:
        self._training = False
        self._version += 1
