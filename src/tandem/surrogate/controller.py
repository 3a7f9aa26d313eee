"""The error bound and the controller that holds it: a proportional-integral rule on the audited
error over a sliding window, which moves the uncertainty threshold.

Contract: frozen values and pure functions: :class:`ErrorBound` (what the user asks),
:class:`Gains` (the controller's tuning), :class:`ControllerState` and :func:`step`, which
takes one audited error and returns the next state. No clock, no randomness, no I/O.

The rule, after each audited error ``err_k`` (in the bound's units, absolute or relative):

- ``ē_k`` is the mean of the last ``window`` audited errors;
- the error signal is ``e_k = clip((s·B - ē_k) / (s·B), -1, 1)``, with ``B`` the bound and
  ``s`` the setpoint fraction (default 0.75: the controller aims below the bound, so its
  fluctuations stay under it); positive means room to trust more;
- the integral is ``I_k = clip(I_{k-1} + e_k, -I_max, I_max)`` (clipped: no wind-up);
- the threshold is ``τ_k = τ_0 · exp(K_p·e_k + K_i·I_k)``, in log space because
  uncertainties span orders of magnitude; ``τ_0`` is the bound itself unless given (for a
  calibrated Gaussian the mean absolute error is 0.8 std, so std < B starts out conservative).

This is the shape of Proxima's controller (Zamora et al., ICS'21: the threshold tuned by a
PI rule on the error observed over a sliding window); the gains and the log-space form are
tandem's.
Imports: tandem.errors, tandem.spec.checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from tandem.errors import SpecError
from tandem.spec.checks import is_int, is_number


def _positive(name: str, value: object) -> float:
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise SpecError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorBound:
    """A bound on the mean error of the surrogate's answers: ``value`` in the output's units
    (``relative=False``: ``mean |ŷ - y|``) or as a fraction (``relative=True``:
    ``Σ|ŷ - y| / Σ|y|`` per answer). ``setpoint``: the fraction of the bound the controller
    aims at (0 < setpoint ≤ 1)."""

    value: float
    relative: bool = False
    setpoint: float = 0.75

    def __post_init__(self) -> None:
        _positive("ErrorBound: the bound", self.value)
        if not isinstance(self.relative, bool):
            raise SpecError(f"ErrorBound: relative must be True or False, got "
                            f"{self.relative!r}")
        if not is_number(self.setpoint) or not 0 < self.setpoint <= 1:
            raise SpecError(f"ErrorBound: setpoint must be in (0, 1], got {self.setpoint!r}")

    @property
    def kind(self) -> str:
        return "relative" if self.relative else "absolute"

    @property
    def target(self) -> float:
        """The error the controller aims at."""
        return self.value * self.setpoint


@dataclass(frozen=True, slots=True, kw_only=True)
class Gains:
    """The controller's tuning: proportional ``kp`` and integral ``ki`` gains (on log τ),
    ``window`` audited errors averaged, the integral's limit ``integral_limit``, and the
    starting threshold ``initial`` (``None``: the bound)."""

    kp: float = 0.5
    ki: float = 0.2
    window: int = 20
    integral_limit: float = 25.0
    initial: float | None = None

    def __post_init__(self) -> None:
        for name in ("kp", "ki"):
            v = getattr(self, name)
            if not is_number(v) or not math.isfinite(v) or v < 0:
                raise SpecError(f"Gains: {name} must be a finite number >= 0, got {v!r}")
        if not is_int(self.window) or self.window < 1:
            raise SpecError(f"Gains: window must be an integer >= 1, got {self.window!r}")
        _positive("Gains: integral_limit", self.integral_limit)
        if self.initial is not None:
            _positive("Gains: initial", self.initial)


@dataclass(frozen=True, slots=True, kw_only=True)
class ControllerState:
    """Where the controller is: the threshold, the integral, the window of recent audited
    errors, and every audited error's count and sum (the run's audited mean)."""

    threshold: float
    integral: float = 0.0
    window: tuple[float, ...] = ()
    audits: int = 0
    error_sum: float = 0.0
    signal: float = field(default=0.0)

    @property
    def windowed_error(self) -> float | None:
        return sum(self.window) / len(self.window) if self.window else None

    @property
    def mean_error(self) -> float | None:
        """The mean of every audited error so far."""
        return self.error_sum / self.audits if self.audits else None


def start(bound: ErrorBound, gains: Gains) -> ControllerState:
    """The state before any audit: the initial threshold."""
    return ControllerState(threshold=gains.initial if gains.initial is not None else bound.value)


def step(bound: ErrorBound, gains: Gains, state: ControllerState,
         error: float) -> ControllerState:
    """The state after one audited ``error`` (the rule in the module docstring)."""
    if not is_number(error) or math.isnan(error) or error < 0:
        raise SpecError(f"an audited error must be a number >= 0, got {error!r}")
    window = (*state.window, float(error))[-gains.window:]
    mean = sum(window) / len(window)
    target = bound.target
    e = max(-1.0, min(1.0, (target - mean) / target))
    integral = max(-gains.integral_limit, min(gains.integral_limit, state.integral + e))
    tau0 = gains.initial if gains.initial is not None else bound.value
    threshold = tau0 * math.exp(gains.kp * e + gains.ki * integral)
    return replace(state, threshold=threshold, integral=integral, window=window,
                   audits=state.audits + 1, error_sum=state.error_sum + float(error), signal=e)
