"""The default trust policy: trust an answer whose uncertainty is under the controller's
threshold, audit a seeded random fraction of trusted answers, and feed each audited error to
the controller (:mod:`tandem.surrogate.controller`).

Contract: :class:`BoundPolicy` implements :class:`~tandem.surrogate.protocols.TrustPolicy`;
its only state is the controller's frozen :class:`~tandem.surrogate.controller.ControllerState`
(replaced at each audit) and a seeded generator, so a run's decisions are reproducible.

Errors and uncertainties are measured in the bound's units, per answer:

- absolute: error ``mean_i |ŷ_i - y_i|``, uncertainty ``mean_i std_i``;
- relative: error ``Σ|ŷ_i - y_i| / Σ|y_i|``, uncertainty ``Σstd_i / Σ|ŷ_i|`` (a zero
  denominator makes the uncertainty infinite: the answer is never trusted; the error of an
  exactly zero answer to a zero output is 0).
Imports: tandem.errors, tandem.spec.checks, tandem.surrogate.controller,
tandem.surrogate.protocols.
"""

from __future__ import annotations

import math
import random

import numpy as np

from tandem.errors import SpecError
from tandem.spec.checks import is_int, is_number
from tandem.surrogate.controller import ControllerState, ErrorBound, Gains, start, step
from tandem.surrogate.protocols import Array


class BoundPolicy:
    """Holds ``bound`` with the PI controller; audits ``audit_fraction`` of trusted answers
    (drawn from a generator seeded with ``seed``)."""

    def __init__(self, bound: ErrorBound, *, gains: Gains | None = None,
                 audit_fraction: float = 0.1, seed: int = 0) -> None:
        if not isinstance(bound, ErrorBound):
            raise SpecError(f"BoundPolicy: bound must be an ErrorBound, got {bound!r}")
        if not is_number(audit_fraction) or not 0 < audit_fraction <= 1:
            raise SpecError("BoundPolicy: audit_fraction must be in (0, 1] (without audits the "
                            f"error is never measured), got {audit_fraction!r}")
        if not is_int(seed):
            raise SpecError(f"BoundPolicy: seed must be an integer, got {seed!r}")
        self.bound = bound
        self.gains = gains if gains is not None else Gains()
        self.audit_fraction = float(audit_fraction)
        self.state: ControllerState = start(self.bound, self.gains)
        self._rng = random.Random(seed)

    def threshold(self) -> float:
        return self.state.threshold

    def uncertainty(self, mean: Array, std: Array) -> float:
        if not self.bound.relative:
            return float(np.mean(std))
        scale = float(np.sum(np.abs(mean)))
        return float(np.sum(std)) / scale if scale > 0 else math.inf

    def audit(self) -> bool:
        return self._rng.random() < self.audit_fraction

    def observe(self, error: float) -> None:
        self.state = step(self.bound, self.gains, self.state, error)

    def error(self, predicted: Array, actual: Array) -> float:
        diff = np.abs(np.asarray(predicted, dtype=float) - np.asarray(actual, dtype=float))
        if not self.bound.relative:
            return float(np.mean(diff))
        scale = float(np.sum(np.abs(actual)))
        total = float(np.sum(diff))
        if scale > 0:
            return total / scale
        return 0.0 if total == 0 else math.inf
