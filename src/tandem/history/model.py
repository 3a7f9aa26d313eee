"""Duration models of one key of the history: a median, or gradient-boosted quantiles.

Contract: :func:`fit` turns a key's samples (each a task's inputs, see
:mod:`tandem.history.describe`, and its measured duration) into a :class:`Median` or a
:class:`Boosted` model; both predict a duration and its 90th percentile for a task's inputs.

- **Median** (the p10, p50 and p90 of the durations) when there are fewer than
  :data:`MIN_BOOSTED` samples, when no numeric input varies among them, or when scikit-learn
  is not installed (``Median.why`` says which).
- **Boosted**: scikit-learn's ``HistGradientBoostingRegressor`` with the quantile loss at
  0.5 and 0.9, on the inputs that vary (two values or more where given; numbers as they are,
  strings as categories, a missing input as missing), fitted to the logarithm of the
  duration: quantiles do not change under a monotone map, and the trees then split for
  relative, not absolute, error. scikit-learn is
  imported only here, only when a boosted model is fitted.

:func:`held_out_error` fits the same kind of model on four fifths of the samples and returns
the median relative error, ``|predicted - measured| / measured``, on the other fifth.
Imports: tandem.history.describe, tandem.model.stats.
"""

from __future__ import annotations

import importlib.util
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tandem.history.describe import Inputs
from tandem.model.stats import quantile

MIN_BOOSTED = 30
"""Samples a key needs before it gets a boosted model."""
MAX_CATEGORIES = 250
"""A string input with more distinct values than this is not used."""
Sample = tuple[Inputs, float]
"""A task's inputs and its measured duration (seconds)."""
Kind = Literal["median", "boosted"]


def sklearn_available() -> bool:
    """Whether scikit-learn can be imported (without importing it)."""
    return importlib.util.find_spec("sklearn") is not None


@dataclass(frozen=True, slots=True)
class Median:
    """The spread of a key's durations; the same prediction for every task."""

    n: int
    p10: float
    p50: float
    p90: float
    why: str
    """Why no boosted model: too few samples, no input varies, or no scikit-learn."""
    kind: Kind = "median"

    def predict(self, x: Inputs) -> tuple[float, float]:
        """The predicted duration and its 90th percentile (seconds)."""
        return self.p50, self.p90


@dataclass(frozen=True, slots=True, eq=False)
class Boosted:
    """Quantile regression on the inputs that vary."""

    n: int
    columns: tuple[str, ...]
    categories: Mapping[str, Mapping[str, int]]
    q50: Any
    q90: Any
    p10: float
    p50: float
    p90: float
    kind: Kind = "boosted"
    why: str = field(default="")

    def row(self, x: Inputs) -> list[float]:
        out = []
        for c in self.columns:
            v = x.get(c)
            cats = self.categories.get(c)
            if cats is not None:
                code = cats.get(v) if isinstance(v, str) else None
                out.append(math.nan if code is None else float(code))
            else:
                out.append(v if isinstance(v, float) else math.nan)
        return out

    def predict(self, x: Inputs) -> tuple[float, float]:
        """The predicted duration and its 90th percentile (seconds)."""
        import numpy as np

        row = np.array([self.row(x)])
        p50 = math.exp(float(self.q50.predict(row)[0]))
        p90 = math.exp(float(self.q90.predict(row)[0]))
        return p50, max(p50, p90)


Model = Median | Boosted


def _median(durations: Sequence[float], why: str) -> Median:
    return Median(n=len(durations), p10=quantile(durations, 0.1),
                  p50=quantile(durations, 0.5), p90=quantile(durations, 0.9), why=why)


def _varying(samples: Sequence[Sample]) -> tuple[list[str], dict[str, dict[str, int]]]:
    """The inputs that take at least two values (where they are given: a missing input is
    not a value), and the codes of the string ones."""
    names = sorted({k for x, _ in samples for k in x})
    columns: list[str] = []
    categories: dict[str, dict[str, int]] = {}
    for c in names:
        values = {x[c] for x, _ in samples if c in x}
        if len(values) < 2:
            continue
        strings = sorted(v for v in values if isinstance(v, str))
        if strings:
            if len(strings) > MAX_CATEGORIES or len(strings) < len(values):
                continue                  # too many values, or strings mixed with numbers
            categories[c] = {s: i for i, s in enumerate(strings)}
        columns.append(c)
    return columns, categories


def fit(samples: Sequence[Sample], kind: Kind | None = None) -> Model:
    """The model of one key's ``samples`` (``kind``: this kind where possible, else chosen
    as the module docstring says)."""
    if not samples:
        raise ValueError("fit: no samples")
    durations = [d for _, d in samples]
    if kind == "median":
        return _median(durations, "asked for")
    if kind is None and len(samples) < MIN_BOOSTED:
        return _median(durations, f"{len(samples)} samples (a boosted model needs "
                                  f"{MIN_BOOSTED})")
    columns, categories = _varying(samples)
    if not columns:
        return _median(durations, "no input varies")
    if not sklearn_available():
        return _median(durations, "scikit-learn is not installed")
    return _boosted(samples, columns, categories)


def _boosted(samples: Sequence[Sample], columns: list[str],
             categories: dict[str, dict[str, int]]) -> Boosted:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingRegressor

    shell = Boosted(n=len(samples), columns=tuple(columns), categories=categories, q50=None,
                    q90=None, p10=0.0, p50=0.0, p90=0.0)
    X = np.array([shell.row(x) for x, _ in samples])
    y = np.log(np.maximum([d for _, d in samples], 1e-6))
    mask = [c in categories for c in columns]
    models = []
    for q in (0.5, 0.9):
        m = HistGradientBoostingRegressor(
            loss="quantile", quantile=q, max_iter=50, learning_rate=0.25, max_leaf_nodes=31,
            min_samples_leaf=max(2, min(20, len(samples) // 50)), early_stopping=False,
            categorical_features=mask if any(mask) else None, random_state=0)
        models.append(m.fit(X, y))
    durations = [d for _, d in samples]
    return Boosted(n=len(samples), columns=tuple(columns), categories=categories,
                   q50=models[0], q90=models[1], p10=quantile(durations, 0.1),
                   p50=quantile(durations, 0.5), p90=quantile(durations, 0.9))


def held_out_error(samples: Sequence[Sample], kind: Kind | None = None) -> float | None:
    """The median relative error on every fifth sample of a model (of ``kind``, or of the
    kind :func:`fit` gives all the samples) fitted on the rest; ``None`` with fewer than 5."""
    if len(samples) < 5:
        return None
    kind = kind or fit_kind(samples)
    train = [s for i, s in enumerate(samples) if i % 5 != 4]
    test = [s for i, s in enumerate(samples) if i % 5 == 4 and s[1] > 0]
    if not test:
        return None
    model = fit(train, kind)
    return statistics.median(abs(model.predict(x)[0] - d) / d for x, d in test)


def fit_kind(samples: Sequence[Sample]) -> Kind:
    """The kind of model :func:`fit` gives ``samples``, without fitting it."""
    if len(samples) < MIN_BOOSTED or not _varying(samples)[0] or not sklearn_available():
        return "median"
    return "boosted"
