"""The pluggable parts of a surrogate: the model, the trust policy and the data store.

Contract: three small :class:`typing.Protocol` classes and the checks that hold what they
return to their contract (a predict that gives no uncertainty, a policy threshold that is not
a number, shapes that disagree: a :class:`~tandem.errors.SpecError` naming the part and what
it returned). Inputs are NumPy arrays: ``X`` of shape ``(n, d)``, ``y`` of shape ``(n,)``
(scalar outputs) or ``(n, m)``; a prediction is ``(mean, std)`` of ``y``'s shape per row.
Imports: tandem.errors.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from tandem.errors import SpecError

Array = npt.NDArray[np.float64]


@runtime_checkable
class Model(Protocol):
    """A regression model with uncertainty. ``fit`` returns the fitted model (itself or a new
    object); it runs inside a retraining task, so the model must pickle (cloudpickle).
    ``predict`` returns ``(mean, std)``: the prediction and its uncertainty (a GP's standard
    deviation, an ensemble's spread), each of shape ``(n,)`` or ``(n, m)`` like ``y``."""

    def fit(self, X: Array, y: Array) -> Model: ...

    def predict(self, X: Array) -> tuple[Array, Array]: ...


@runtime_checkable
class TrustPolicy(Protocol):
    """When to trust the surrogate and when to audit it.

    ``threshold()``: the uncertainty below which an answer is trusted now. ``uncertainty``:
    one number from a prediction (``mean``, ``std`` of one row), in the units the threshold is
    in. ``audit()``: whether this trusted answer is audited (the real function runs too).
    ``observe(error)``: an audit's measured error (the policy may move its threshold).
    ``error(predicted, actual)``: the error of one answer, in the bound's units."""

    def threshold(self) -> float: ...

    def uncertainty(self, mean: Array, std: Array) -> float: ...

    def audit(self) -> bool: ...

    def observe(self, error: float) -> None: ...

    def error(self, predicted: Array, actual: Array) -> float: ...


@runtime_checkable
class DataStore(Protocol):
    """The real (x, y) pairs seen so far. ``arrays()`` gives ``(X, y)`` in the order added."""

    def add(self, x: Array, y: Array) -> None: ...

    def arrays(self) -> tuple[Array, Array]: ...

    def __len__(self) -> int: ...


def _name(part: object) -> str:
    return type(part).__name__


def check_part(part: object, protocol: type, what: str) -> None:
    """Refuse an object that lacks a method of ``protocol`` (named in the message)."""
    missing = [m for m in _methods(protocol) if not callable(getattr(part, m, None))]
    if missing:
        raise SpecError(f"{what}: {_name(part)} is not a {protocol.__name__}: it has no "
                        f"{', '.join(missing)} method (see tandem.surrogate.protocols)")


def _methods(protocol: type) -> list[str]:
    return [m for m in ("fit", "predict", "threshold", "uncertainty", "audit", "observe",
                        "error", "add", "arrays", "__len__") if m in protocol.__dict__]


def checked_prediction(model: object, out: Any, rows: int) -> tuple[Array, Array]:
    """``model.predict``'s output as ``(mean, std)`` float arrays with one row per input."""
    if not (isinstance(out, tuple) and len(out) == 2):
        raise SpecError(f"model {_name(model)}: predict must return (mean, std) — a prediction "
                        f"and its uncertainty — got {type(out).__name__}; a surrogate needs a "
                        "model with uncertainty (an ensemble's spread, a GP's std)")
    mean = np.asarray(out[0], dtype=float)
    std = np.asarray(out[1], dtype=float)
    if mean.shape != std.shape or mean.ndim not in (1, 2) or mean.shape[0] != rows:
        raise SpecError(f"model {_name(model)}: predict gave mean of shape {mean.shape} and std "
                        f"of shape {std.shape} for {rows} inputs; both must be ({rows},) or "
                        f"({rows}, m)")
    if not (np.all(np.isfinite(std)) and np.all(std >= 0)):
        raise SpecError(f"model {_name(model)}: predict gave a std that is negative or not "
                        "finite")
    return mean, std
