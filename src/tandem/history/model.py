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
  imported only here, only when a boosted model is fitted. A numeric input is first mapped to
  its bin (at most :data:`MAX_BINS`, from the distinct values or the quantiles of the samples:
  the binning the regressor does itself), so a prediction depends only on the inputs' bins;
  predictions are remembered per bins (every bin at once for a one-input model), and a
  submission whose bins were seen costs a few dictionary lookups, not a call into
  scikit-learn (~3 ms).

:func:`held_out_error` fits the same kind of model on four fifths of the samples and returns
the median relative error, ``|predicted - measured| / measured``, on the other fifth.
Imports: tandem.history.describe, tandem.model.stats.
"""

from __future__ import annotations

import bisect
import importlib.util
import itertools
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
MAX_BINS = 255
"""Bins of a numeric input (scikit-learn's own most)."""
_REMEMBERED = 65536
"""Predictions a boosted model remembers (by the inputs' bins)."""
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
    """Quantile regression on the inputs that vary (numbers by their bins)."""

    n: int
    columns: tuple[str, ...]
    categories: Mapping[str, Mapping[str, int]]
    edges: Mapping[str, tuple[float, ...]]
    """Per numeric column, the upper edges of its bins (a value's bin: how many are below)."""
    q50: Any
    q90: Any
    p10: float
    p50: float
    p90: float
    kind: Kind = "boosted"
    why: str = field(default="")
    seen: dict[tuple[int, ...], tuple[float, float]] = field(default_factory=dict)
    """Predictions by the inputs' bins (-1: missing)."""

    def bins(self, x: Inputs) -> tuple[int, ...]:
        """The inputs' bins, column by column (a category's code; -1 when missing)."""
        out = []
        for c in self.columns:
            v = x.get(c)
            cats = self.categories.get(c)
            if cats is not None:
                code = cats.get(v) if isinstance(v, str) else None
                out.append(-1 if code is None else code)
            elif isinstance(v, float) and v == v:
                out.append(bisect.bisect_left(self.edges[c], v))
            else:
                out.append(-1)
        return tuple(out)

    def predict(self, x: Inputs) -> tuple[float, float]:
        """The predicted duration and its 90th percentile (seconds)."""
        at = self.bins(x)
        hit = self.seen.get(at)
        if hit is None:
            if len(self.seen) >= _REMEMBERED:
                self.seen.clear()
            hit = self.seen[at] = self._predict([at])[0]
        return hit

    def _predict(self, rows: Sequence[tuple[int, ...]]) -> list[tuple[float, float]]:
        import numpy as np

        X = np.array([[math.nan if b < 0 else float(b) for b in r] for r in rows])
        p50 = np.exp(self.q50.predict(X))
        p90 = np.exp(self.q90.predict(X))
        return [(float(a), float(max(a, b))) for a, b in zip(p50, p90, strict=True)]

    def remember_every_bin(self) -> None:
        """Predict every bin of a one-input model at once (one call per quantile)."""
        if len(self.columns) != 1:
            return
        c = self.columns[0]
        cats = self.categories.get(c)
        count = len(cats) if cats is not None else len(self.edges[c]) + 1
        rows = [(b,) for b in range(-1, count)]
        self.seen.update(zip(rows, self._predict(rows), strict=True))


def _edges(values: Sequence[float]) -> tuple[float, ...]:
    """Bin edges of a numeric column: midpoints between its distinct values when they are at
    most :data:`MAX_BINS`, else between its quantiles."""
    distinct = sorted(set(values))
    if len(distinct) > MAX_BINS:
        distinct = sorted({quantile(distinct, i / (MAX_BINS - 1)) for i in range(MAX_BINS)})
    return tuple((a + b) / 2 for a, b in itertools.pairwise(distinct))


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
    from threadpoolctl import threadpool_limits

    edges = {c: _edges([v for x, _ in samples if isinstance(v := x.get(c), float) and v == v])
             for c in columns if c not in categories}
    shell = Boosted(n=len(samples), columns=tuple(columns), categories=categories, edges=edges,
                    q50=None, q90=None, p10=0.0, p50=0.0, p90=0.0)
    X = np.array([[math.nan if b < 0 else float(b) for b in shell.bins(x)] for x, _ in samples])
    y = np.log(np.maximum([d for _, d in samples], 1e-6))
    mask = [c in categories for c in columns]
    models = []
    with threadpool_limits(limits=1):   # the driver's thread, not every core the tasks have
        for q in (0.5, 0.9):
            m = HistGradientBoostingRegressor(
                loss="quantile", quantile=q, max_iter=50, learning_rate=0.25,
                max_leaf_nodes=31, min_samples_leaf=max(2, min(20, len(samples) // 50)),
                early_stopping=False, categorical_features=mask if any(mask) else None,
                random_state=0)
            models.append(m.fit(X, y))
    durations = [d for _, d in samples]
    model = Boosted(n=len(samples), columns=tuple(columns), categories=categories, edges=edges,
                    q50=models[0], q90=models[1], p10=quantile(durations, 0.1),
                    p50=quantile(durations, 0.5), p90=quantile(durations, 0.9))
    model.remember_every_bin()
    return model


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
